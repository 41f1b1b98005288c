"""The gateway's side of the Redis streams: the batched writer, its spool, the command reader."""
