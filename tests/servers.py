"""The real-server launchers the tests use (robodine.testing.servers, shared with the bench)."""

from robodine.testing.servers import (
    GatewayServer,
    MosquittoServer,
    MotoServer,
    RedisServer,
    free_port,
    postgres_available,
)

__all__ = [
    "GatewayServer",
    "MosquittoServer",
    "MotoServer",
    "RedisServer",
    "free_port",
    "postgres_available",
]
