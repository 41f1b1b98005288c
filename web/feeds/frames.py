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
from typing import Annotated, Any, Generic, TypeVar

import msgspec

from robodine.redisio.streamid import StreamId
from web.http.schemas import doc

T = TypeVar("T")


class Frame(msgspec.Struct, frozen=True, gc=False):
    """One frame as every client gets it. A Struct, not a dataclass: the hub makes one per
    sample, and a frozen dataclass's ``__init__`` is many times slower (docs/performance.md)."""

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
# web.jsonutil.dumps makes (tests/web/test_hub.py), in less time.
_encode = msgspec.json.Encoder().encode


class _Tagged(msgspec.Struct, tag_field="type", kw_only=True):
    pass


class Hello(_Tagged, tag="hello"):
    """First frame of every feed: which server session, which topic, whose token."""

    session: Annotated[str, doc("changes when the server process restarts")]
    server: Annotated[str, doc("`web.name`", "web-1")]
    topic: Annotated[str, doc("the feed")]
    delivery: Annotated[str, doc("`reliable` or `latest`")]
    username: Annotated[str, doc("whose token")]
    role: Annotated[str, doc("their role")]
    expires_at: Annotated[
        str, doc("when the token ends (a key without expiry: 9999-12-31T23:59:59.000Z)")
    ]
    resumed: Annotated[bool, doc("true when `since` was honoured: what follows is what was missed")]
    max_hz: Annotated[float | None, doc("the `max_hz` in force, if any")] = None


class Snapshot(_Tagged, Generic[T], tag="snapshot"):
    """The topic's current state; ``id`` is the cursor it is consistent with."""

    topic: Annotated[str, doc("the feed")]
    id: Annotated[str, doc("the stream id the snapshot is consistent with: resume with `since`")]
    reset: Annotated[
        bool,
        doc("true when `since` could not be honoured (trimmed, another Redis): replace your state"),
    ]
    items: Annotated[list[T], doc("the topic's state")]


class Lagging(_Tagged, tag="lagging"):
    """The client is slower than the stream (reliable: catching up; latest: samples skipped)."""

    topic: Annotated[str, doc("the feed")]
    behind: Annotated[bool, doc("false once caught up again")]
    policy: Annotated[
        str, doc("reliable: nothing lost, replayed from the stream; latest: older samples skipped")
    ]
    dropped: Annotated[int, doc("latest topics: samples skipped for this client so far")] = 0


class Batch(_Tagged, tag="batch"):
    """Latest-wins topics: every frame pending for this client, in one WebSocket message.

    Each item of ``frames`` is one of the topic's frames, exactly as it would
    arrive on its own; a client handles them in order.
    """

    frames: Annotated[
        list[Any], doc("the topic's frames, in order, each exactly as it would come alone")
    ]


class AuthExpiring(_Tagged, tag="auth_expiring"):
    expires_at: Annotated[
        str, doc('the socket\'s token ends then: send `{"type": "auth", "token"}` with a fresh one')
    ]


class AuthOk(_Tagged, tag="auth_ok"):
    expires_at: Annotated[str, doc("the new token's expiry")]


class Pong(_Tagged, tag="pong"):
    pass


class ErrorFrame(_Tagged, tag="error"):
    code: Annotated[str, doc("why the frame was refused", "bad_message")]
    detail: Annotated[str, doc("for people")]
    field: Annotated[str | None, doc("the wrong field")] = None
    retry_after: Annotated[
        float | None, doc("chat `rate_limited`: seconds until a message is taken")
    ] = None


class Goodbye(_Tagged, tag="goodbye"):
    """Last frame before the server ends a feed (SSE has no close code)."""

    code: Annotated[int, doc("what a WebSocket would close with (docs/api.md close codes)", 4001)]
    reason: Annotated[str, doc("for people")]
    since: Annotated[str | None, doc("1012 on events: reconnect with this since")] = None


class AuthRefresh(msgspec.Struct, tag_field="type", tag="auth", forbid_unknown_fields=True):
    """Client -> server: a fresh token for this socket; subscriptions stay."""

    token: Annotated[str, doc("a fresh token for the same user (`POST /api/auth/refresh`)")]


class Ping(msgspec.Struct, tag_field="type", tag="ping", forbid_unknown_fields=True):
    """Client -> server: answered with ``pong``."""


ClientFrame = AuthRefresh | Ping
CONTROL_FRAMES = Hello | Lagging | AuthExpiring | AuthOk | Pong | ErrorFrame | Goodbye
