"""Redis plumbing shared by the gateway and the web tier.

- ``client``: the fail-fast redis-py clients (C packing, no silent retries, a
  reply timeout per kind of command) and the lean connections they pair with;
- ``circuit``: the web tier's fail-fast answer while Redis does not respond;
- ``keys``: the name of every key, under the configured namespace (``redis.key_prefix``);
- ``resp``: the lean RESP connection (gateway flushes, hub reads);
- ``group``: one consumer of a consumer group (own pending entries, claims, new);
- ``replies``: stream replies as plain values (entries, ``XINFO STREAM``);
- ``streamid``: stream ids as comparable values.
"""
