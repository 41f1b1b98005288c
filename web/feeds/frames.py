"""What a feed sends: frames encoded once per process, filtered per client.

The Structs here are the wire schema of the control frames (``GET /api/topics``
publishes them); topic data frames live with their topic (e.g. web/orders/topic.py).
A frame's JSON is encoded to bytes once, in the hub, and the same bytes go to
every client; ``batch_message`` wraps several of them into one WebSocket
message without decoding or re-encoding anything.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import msgspec

from robodine.redisio.streamid import StreamId

T = TypeVar("T")


class Frame(msgspec.Struct, frozen=True, gc=False):
    """One frame as every client gets it. A Struct, not a dataclass: the hub makes one per
    sample, and a frozen dataclass's ``__init__`` took ~0.7 us of that (this ~0.06)."""

    id: StreamId | None  # None: a notice, not a stream position (never a resume cursor)
    name: str  # the frame's "type" (SSE event name)
    data: bytes  # the JSON object (UTF-8), encoded once for every client
    key: str = ""  # latest-wins key (robot id) on coalesced topics
    robot: str = ""
    type: str = ""  # event type, for filters
    level: str = ""

    @property
    def text(self) -> str:
        return self.data.decode()


_BATCH_HEAD = b'{"type":"batch","frames":['


def batch_message(frames: Sequence[Frame]) -> bytes:
    """One ``batch`` message holding these frames' JSON, in order (docs/api.md, section 5)."""
    return b"".join((_BATCH_HEAD, b",".join([f.data for f in frames]), b"]}"))


def ws_text(payload: bytes) -> bytes:
    """``payload`` as one unmasked, unfragmented RFC 6455 text frame (server to client)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 127, n)
    return head + payload


class FrameBatch(tuple[Frame, ...]):
    """One read's frames of a latest-wins topic (one per key), handed to every client as
    the same object.

    Its message (the frame itself, or a ``batch`` of them) is built on first use
    and then sent as is to every client that takes it whole: framed once
    (``wire``) for the sockets the hub writes to directly, and as the payload of
    each backed-up client's next send. A client still holding an older batch
    when this one comes takes ``after(older)``, which is made once per pair:
    clients that fell behind together (they usually do: the machine was busy,
    not one client) share the merge and its message instead of each merging
    per key and building its own.
    """

    superseded = 0  # frames of the older batch a merge replaced (``after``)

    @functools.cached_property
    def payload(self) -> bytes:
        return self[0].data if len(self) == 1 else batch_message(self)

    @functools.cached_property
    def wire(self) -> bytes:
        return ws_text(self.payload)

    def after(self, older: FrameBatch) -> FrameBatch:
        """``older`` then this batch, latest wins per key, in stream order (``older``
        came first): what a client that has sent neither should send."""
        cached = self._merged.get(id(older))
        if cached is not None and cached[0] is older:  # it holds ``older``: no id reuse
            return cached[1]
        keys = {f.key for f in self}
        kept = [f for f in older if f.key not in keys]
        merged = FrameBatch((*kept, *self))
        merged.superseded = len(older) - len(kept)
        self._merged[id(older)] = (older, merged)
        return merged

    @functools.cached_property
    def _merged(self) -> dict[int, tuple[FrameBatch, FrameBatch]]:
        return {}


def frame(
    obj: msgspec.Struct,
    *,
    id: StreamId | None = None,
    key: str = "",
    robot: str = "",
    type: str = "",
    level: str = "",
) -> Frame:
    name = obj.__struct_config__.tag
    assert isinstance(name, str), "frame Structs are tagged with their type"
    return Frame(id, name, _encode(obj), key, robot, type, level)


# A frame is a Struct: msgspec encodes it straight to the JSON value that
# web.jsonutil.dumps makes (tests/web/test_hub.py), in about 60 % of the time.
_encode = msgspec.json.Encoder().encode


class _Tagged(msgspec.Struct, tag_field="type", kw_only=True):
    pass


class Hello(_Tagged, tag="hello"):
    """First frame of every feed: which server session, which topic, whose token."""

    session: str  # changes when the server process restarts
    server: str
    topic: str
    delivery: str  # reliable | latest
    username: str
    role: str
    expires_at: str
    resumed: bool  # true when ``since`` was honoured: what follows is what was missed
    max_hz: float | None = None


class Snapshot(_Tagged, Generic[T], tag="snapshot"):
    """The topic's current state; ``id`` is the cursor it is consistent with."""

    topic: str
    id: str
    reset: bool  # true when ``since`` could not be honoured (trimmed or unknown): replace state
    items: list[T]


class Lagging(_Tagged, tag="lagging"):
    """The client is slower than the stream (reliable: catching up; latest: samples skipped)."""

    topic: str
    behind: bool  # false once caught up again
    policy: str  # reliable: nothing lost, replayed from the stream | latest: older samples skipped
    dropped: int = 0


class Batch(_Tagged, tag="batch"):
    """Latest-wins topics: every frame pending for this client, in one WebSocket message.

    Each item of ``frames`` is one of the topic's frames, exactly as it would
    arrive on its own; a client handles them in order.
    """

    frames: list[Any]


class AuthExpiring(_Tagged, tag="auth_expiring"):
    expires_at: str


class AuthOk(_Tagged, tag="auth_ok"):
    expires_at: str


class Pong(_Tagged, tag="pong"):
    pass


class ErrorFrame(_Tagged, tag="error"):
    code: str
    detail: str
    field: str | None = None
    retry_after: float | None = None


class Goodbye(_Tagged, tag="goodbye"):
    """Last frame before the server ends a feed (SSE has no close code)."""

    code: int
    reason: str
    since: str | None = None  # 1012 on events: reconnect with this since (docs/api.md)


class AuthRefresh(msgspec.Struct, tag_field="type", tag="auth", forbid_unknown_fields=True):
    """Client -> server: a fresh token for this socket; subscriptions stay."""

    token: str


class Ping(msgspec.Struct, tag_field="type", tag="ping", forbid_unknown_fields=True):
    """Client -> server: answered with ``pong``."""


ClientFrame = AuthRefresh | Ping
CONTROL_FRAMES = Hello | Lagging | AuthExpiring | AuthOk | Pong | ErrorFrame | Goodbye
