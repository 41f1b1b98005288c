"""Chat rooms: the service over Redis streams and the room socket."""
