"""Frames put back together from their chunks, in a bounded amount of memory (pure).

A robot sends the chunks of a frame in order and one frame after the other,
and the decoder lets only increasing ``seq`` through, so each camera has at
most one frame in assembly: a chunk of another frame means the one in
assembly will never complete (dropped as ``incomplete``), and it never holds
up the next. Every frame in assembly shares one budget of bytes; a chunk that
would go past it evicts the frames that started first (``over_budget``).
``expire`` drops frames older than the timeout. Time comes in as ``now``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from protocol.camera_chunks import CameraDrop, Chunk
from protocol.cameras import is_jpeg

__all__ = ["Frame", "FrameAssembler"]

OnDrop = Callable[[str, str, CameraDrop], None]  # robot, camera, reason


@dataclass(frozen=True, slots=True)
class Frame:
    robot: str
    camera: str
    frame: int
    ts: float  # capture time, robot clock
    data: bytes  # the whole JPEG


class _Partial:
    __slots__ = ("count", "frame", "have", "held", "parts", "size", "started", "ts")

    def __init__(self, chunk: Chunk, now: float) -> None:
        self.frame, self.count, self.size, self.ts = chunk.frame, chunk.count, chunk.size, chunk.ts
        self.parts: list[bytes | None] = [None] * chunk.count
        self.have = 0
        self.held = 0
        self.started = now


class FrameAssembler:
    def __init__(self, budget_bytes: int, timeout_s: float, on_drop: OnDrop) -> None:
        self.budget = budget_bytes
        self.timeout_s = timeout_s
        self.on_drop = on_drop
        self.held = 0  # bytes in frames in assembly
        # (robot, camera) -> its frame in assembly, oldest start first
        self._partials: OrderedDict[tuple[str, str], _Partial] = OrderedDict()

    def __len__(self) -> int:
        return len(self._partials)

    def add(self, chunk: Chunk, now: float) -> Frame | None:
        """Take one chunk; the frame when this chunk completed it (and it is a JPEG)."""
        where = (chunk.robot, chunk.camera)
        partial = self._partials.get(where)
        if partial is not None and partial.frame != chunk.frame:
            self._drop(where, CameraDrop.INCOMPLETE)
            partial = None
        if partial is None:
            if chunk.count == 1:  # the common small frame: never held
                return self._whole(
                    chunk.robot, chunk.camera, chunk.frame, chunk.ts, chunk.payload, chunk.size
                )
            partial = self._partials[where] = _Partial(chunk, now)
        elif (
            chunk.count != partial.count
            or chunk.size != partial.size
            or partial.parts[chunk.index] is not None
        ):
            self._drop(where, CameraDrop.INCONSISTENT)
            return None
        n = len(chunk.payload)
        if partial.held + n > partial.size:
            self._drop(where, CameraDrop.INCONSISTENT)
            return None
        while self.held + n > self.budget and self._partials:
            oldest = next(iter(self._partials))
            self._drop(oldest, CameraDrop.OVER_BUDGET)
            if oldest == where:
                return None
        partial.parts[chunk.index] = chunk.payload
        partial.have += 1
        partial.held += n
        self.held += n
        if partial.have < partial.count:
            return None
        del self._partials[where]
        self.held -= partial.held
        return self._whole(
            chunk.robot,
            chunk.camera,
            partial.frame,
            partial.ts,
            b"".join(partial.parts),  # type: ignore[arg-type]
            partial.size,
        )

    def _whole(
        self, robot: str, camera: str, frame: int, ts: float, data: bytes, size: int
    ) -> Frame | None:
        if len(data) != size:
            self.on_drop(robot, camera, CameraDrop.INCONSISTENT)
            return None
        if not is_jpeg(data):
            self.on_drop(robot, camera, CameraDrop.NOT_JPEG)
            return None
        return Frame(robot, camera, frame, ts, data)

    def expire(self, now: float) -> None:
        """Drop the frames in assembly for longer than the timeout."""
        limit = now - self.timeout_s
        while self._partials:
            where, oldest = next(iter(self._partials.items()))
            if oldest.started > limit:
                return
            self._drop(where, CameraDrop.INCOMPLETE)

    def forget(self, robot: str) -> None:
        """The robot's frames in assembly go, uncounted (it went away or said hello again)."""
        for where in [w for w in self._partials if w[0] == robot]:
            self.held -= self._partials.pop(where).held

    def _drop(self, where: tuple[str, str], reason: CameraDrop) -> None:
        self.held -= self._partials.pop(where).held
        self.on_drop(where[0], where[1], reason)
