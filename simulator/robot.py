"""One simulated robot: its model, its link to the gateway, and one asyncio task.

The task wakes ``hz`` times a second: it ticks the model, sends what changed
(``state``/``event`` over the link, telemetry on the fast path) and a heartbeat
when one is due. Commands and pings arrive through the link's callback and are
answered at once, without waiting for the next tick.

Messages made while the robot cannot send (disconnected, or silenced by a test)
wait in a bounded outbox and go out in order once it can, because an order's
``arrived`` event that happened during a reconnect must still reach the gateway.
After every welcome the robot also reports its current state, since a new
session on the gateway side may know nothing about it.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Callable

import msgspec
import structlog

from config.settings import FloorSettings
from protocol.camera_chunks import CameraSender
from protocol.cameras import CameraInfo
from protocol.messages import (
    Camera,
    Command,
    Error,
    Event,
    GatewayMessage,
    Heartbeat,
    Ping,
    State,
)
from protocol.vocabulary import ErrorCode
from robodine.backoff import Backoff
from simulator.camera import CameraOptions, FrameMaker
from simulator.model import Outgoing, RobotModel
from simulator.stats import Stats
from simulator.transport import CameraLink, Link, LinkError, RobotIdentity, Transport

__all__ = ["SimRobot"]

log = structlog.get_logger("simulator.robot")

OUTBOX_MAX = 256
# Errors that announce a close the robot should simply recover from (no warning).
_GOODBYES = frozenset({ErrorCode.SHUTTING_DOWN, ErrorCode.REPLACED, ErrorCode.TIMEOUT})


class SimRobot:
    """A model plus a connection: what `robodine sim` runs N of.

    ``disconnect()``, ``go_silent()`` and ``fault()`` are the fault-injection
    hooks for tests and the demo.
    """

    def __init__(
        self,
        identity: RobotIdentity,
        model: RobotModel,
        transport: Transport,
        *,
        hz: float = 10.0,
        stats: Stats | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        start_delay: float = 0.0,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        probe_hz: float = 0.0,
        camera: CameraOptions | None = None,
        floor: FloorSettings | None = None,
    ) -> None:
        if not 0 < hz <= 1000:
            raise ValueError("hz must be in (0, 1000]")
        if not 0 <= probe_hz <= 1000:
            raise ValueError("probe_hz must be in [0, 1000]")
        self.identity = identity
        self.model = model
        self.transport = transport
        self.period = 1.0 / hz
        self.stats = stats if stats is not None else Stats(robots=1)
        self._clock, self._wall = clock, wall
        self._start_delay = start_delay
        self._rng = rng or random.Random()
        self._backoff = backoff or Backoff(0.2, 10.0, rng=self._rng)
        self._link: Link | None = None
        self._retry_at = 0.0
        self._next_heartbeat = math.inf
        self._silent_until = 0.0
        self._outbox: deque[tuple[float, Outgoing]] = deque(maxlen=OUTBOX_MAX)
        self._errors_seen: set[str] = set()
        self._goodbye: str | None = None
        self.msg_seq = 0  # TCP messages; strictly increasing for the process's life
        self.telemetry_seq = 0  # datagrams; strictly increasing, kept across reconnects
        self.connects = 0
        self.last_error: str | None = None
        # Numbered `probe` events (1, 2, ...): what reached the streams can be checked for
        # loss, duplicates and order robot by robot (the chaos tests count them).
        self._probe_period = 1.0 / probe_hz if probe_hz else math.inf
        self._next_probe = -math.inf if probe_hz else math.inf
        self.probes = 0  # probe events made so far: the last one's number
        self.camera = camera
        if camera is not None:
            self._frames = FrameMaker(identity.robot, camera, floor or FloorSettings())
            self._chunks = CameraSender(identity.robot, identity.key)
            self._camera_period = 1.0 / camera.fps
        self._next_frame = 0.0

    @property
    def robot(self) -> str:
        return self.identity.robot

    @property
    def connected(self) -> bool:
        return self._link is not None and not self._link.is_closing

    @property
    def silent(self) -> bool:
        return self._clock() < self._silent_until

    # ---- fault injection -----------------------------------------------------

    def disconnect(self) -> None:
        """Drop the connection now; the robot reconnects after its backoff."""
        if self._link is not None:
            self._link.close()

    def go_silent(self, seconds: float | None = None) -> None:
        """Stop sending anything and ignore the gateway (a hung robot), for
        ``seconds`` or until ``wake()``. The connection stays open."""
        self._silent_until = math.inf if seconds is None else self._clock() + seconds

    def wake(self) -> None:
        self._silent_until = 0.0

    def stop_probes(self) -> None:
        """Make no more probe events (those made still go out), so a count can settle."""
        self._next_probe = math.inf

    @property
    def queued(self) -> int:
        """Messages waiting in the outbox for a link."""
        return len(self._outbox)

    def fault(self, reason: str = "injected_fault") -> None:
        """Put the robot in ``error`` now (it needs a ``release`` command)."""
        self._queue(self.model.fault(reason))
        self._flush()

    # ---- the loop ------------------------------------------------------------

    async def run(self) -> None:
        """Tick, send, reconnect; runs until cancelled."""
        try:
            if self._start_delay > 0:
                await asyncio.sleep(self._start_delay)
            next_tick = self._clock()
            while True:
                await self._step()
                next_tick += self.period
                now = self._clock()
                if next_tick < now - self.period:  # fell behind: skip, don't burst
                    next_tick = now
                await asyncio.sleep(max(0.0, next_tick - now))
        finally:
            if self._link is not None:
                self._link.close()
                self._link = None
                self.stats.connected -= 1

    async def _step(self) -> None:
        now = self._clock()
        self._queue(self.model.tick(now))
        if now >= self._next_probe:
            period = self._probe_period
            behind = self._next_probe < now - period  # the first, or after a stall: no burst
            self._next_probe = (now if behind else self._next_probe) + period
            self.probes += 1
            self._queue([Event(robot=self.robot, name="probe", data={"n": self.probes})])
        link = self._link
        if link is not None and link.is_closing:
            self._lost(now)
            link = None
        if link is None:
            if now >= self._retry_at and now >= self._silent_until:  # a hung robot stays away
                await self._connect()
            return
        if now < self._silent_until:
            return
        self._flush()
        self.telemetry_seq += 1
        sample = self.model.telemetry(self.telemetry_seq, self._wall())
        link.send_telemetry(sample)
        self.stats.telemetry += 1
        if self.camera is not None and now >= self._next_frame and isinstance(link, CameraLink):
            self._next_frame = max(self._next_frame + self._camera_period, now - self.period)
            jpeg = self._frames.frame(sample.x, sample.y, sample.ts)
            link.send_camera(self._chunks.frame(self.camera.camera, jpeg, sample.ts))
            self.stats.camera_frames += 1
        if now >= self._next_heartbeat:
            self._send(link, Heartbeat(robot=self.robot), self._wall())
            self._next_heartbeat = now + (link.heartbeat_s or math.inf)

    async def _connect(self) -> None:
        try:
            link = await self.transport.connect(self.identity, self._on_message)
        except (OSError, TimeoutError, LinkError) as exc:
            self._retry(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return
        self._link = link
        self._backoff.reset()
        self.connects += 1
        self.stats.connected += 1
        self.stats.connects += 1
        if self.connects > 1:
            self.stats.reconnects += 1
        if self.last_error is not None:
            log.info("robot_reconnected", robot=self.robot, after=self.last_error)
        self.last_error = None
        self._errors_seen.clear()
        now = self._clock()
        self._next_heartbeat = now + (link.heartbeat_s or math.inf)
        if not any(isinstance(m, State) for _, m in self._outbox):
            self._queue([self.model.current_state()])
        if self.camera is not None and isinstance(link, CameraLink):  # announced after each hello
            c = self.camera
            info = CameraInfo(id=c.camera, width=c.width, height=c.height, fps=c.fps)
            self._send(link, Camera(robot=self.robot, cameras=[info]), self._wall())
        if now >= self._silent_until:
            self._flush()
        link.ready()

    def _retry(self, error: str) -> None:
        if error != self.last_error:
            log.debug("robot_connect_failed", robot=self.robot, error=error)
        self.last_error = self.stats.last_error = error
        self.stats.connect_failures += 1
        self._retry_at = self._clock() + self._backoff.next()

    def _lost(self, now: float) -> None:
        self._link = None
        self.stats.connected -= 1
        self.stats.disconnects += 1
        self.last_error = self._goodbye or "connection lost"
        self._goodbye = None
        log.info("robot_disconnected", robot=self.robot, reason=self.last_error)
        self._retry_at = now + self._backoff.next()

    # ---- sending ---------------------------------------------------------------

    def _queue(self, msgs: list[Outgoing]) -> None:
        if msgs:
            ts = self._wall()
            if len(self._outbox) + len(msgs) > OUTBOX_MAX:
                self.stats.outbox_dropped += len(self._outbox) + len(msgs) - OUTBOX_MAX
            self._outbox.extend((ts, m) for m in msgs)

    def _flush(self) -> None:
        link = self._link
        if link is None or link.is_closing or self.silent:
            return
        while self._outbox:
            ts, msg = self._outbox.popleft()
            self._send(link, msg, ts)

    def _send(self, link: Link, msg: Outgoing | Heartbeat | Camera, ts: float) -> None:
        self.msg_seq += 1
        link.send(msgspec.structs.replace(msg, seq=self.msg_seq, ts=ts))
        self.stats.messages += 1

    # ---- receiving ---------------------------------------------------------------

    def _on_message(self, msg: GatewayMessage) -> None:
        if self.silent:
            self.stats.ignored += 1
            return
        link = self._link
        if isinstance(msg, Command):
            self._on_command(msg)
        elif isinstance(msg, Ping) and link is not None:
            self._send(link, Heartbeat(robot=self.robot), self._wall())
        elif isinstance(msg, Error):
            self.stats.gateway_errors += 1
            if msg.code in _GOODBYES:  # the gateway closes next; say why when it does
                self._goodbye = f"{msg.code}: {msg.message}"
            elif msg.code not in self._errors_seen:  # log each kind once per session
                self._errors_seen.add(msg.code)
                log.warning(
                    "gateway_error",
                    robot=self.robot,
                    code=msg.code,
                    message=msg.message,
                    ref_seq=msg.ref_seq,
                )

    def _on_command(self, cmd: Command) -> None:
        self.stats.commands += 1
        dupes = self.model.duplicates
        ack, *rest = self.model.handle(cmd, self._clock())
        if self.model.duplicates != dupes:
            self.stats.duplicates += 1
        elif getattr(ack, "ok", True):
            self.stats.acked_ok += 1
        else:
            self.stats.refused += 1
        link = self._link
        if link is None:  # a command raced the connection's loss: a resend will come
            return
        self._send(link, ack, self._wall())
        self._queue(rest)
        self._flush()
