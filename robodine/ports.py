"""A port that cannot be bound is no outage: name the setting, the protocol and the
address, as a config problem (exit status 2), instead of a traceback."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from config import ConfigError
from config.loader import problem


@contextlib.contextmanager
def listening(key: str, proto: str, host: str, port: int) -> Iterator[None]:
    """Around a bind of ``host:port``; ``key`` is the setting (``tcp.port``), ``proto``
    TCP or UDP. Taken, or not an address of this box: one line that says so."""
    try:
        yield
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        what = f"cannot listen on {proto} {host}:{port}: {reason}"
        raise ConfigError([problem(key, what)]) from None
