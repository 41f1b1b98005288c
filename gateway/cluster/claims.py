"""Which MQTT robots this gateway takes care of, when several share the broker.

An MQTT robot (robodine/v1 or VDA 5050) talks to the broker, not to a
gateway, so "its" gateway is the one holding its lease (gateway/cluster/
leases.py) and subscribed to its topics; the others hear nothing of it.

- Every gateway subscribes to the robots' presence through one MQTT shared
  subscription (``$share/robodine/...``, mosquitto 2): a robot that comes
  online is announced to one gateway of the group, round robin, which takes
  it if no gateway holds it and subscribes to its topics. The broker spreads
  the robots that way.
- Every gateway also subscribes to every robot's ``state`` (few, QoS 1) and
  keeps the latest of each robot it does not hold, for ``REMEMBER_S``: a robot
  reports its state right after it comes online, before the gateway that
  takes it has subscribed to its topics, and that gateway replays the report
  once it holds the robot.
- Retained presence is not sent to shared subscriptions, so a robot nobody
  holds and that does not announce itself again (its gateway died, or the
  site starts) is taken by a sweep: every ``lease_ttl_s`` each gateway takes
  free robots up to its share (robots / gateways, at least one a sweep).
- A robot's lease stays while the gateway is subscribed, online or not; it
  goes when the gateway stops, or to another gateway that took it.
- Robots added through the API (rd:registry) join the list when the router
  learns them (``add``), and leave it when removed or moved to another
  transport (``remove``: unsubscribed, and the lease let go).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Final

import structlog

from gateway.cluster.leases import Leases
from protocol.mqtt_topics import Subscription

log = structlog.get_logger("gateway.cluster")

__all__ = ["SHARE_GROUP", "Claims", "shared"]

SHARE_GROUP: Final = "robodine"
REMEMBER_S: Final = 10.0


def shared(sub: Subscription) -> Subscription:
    """The same filter as a shared subscription of the gateways' group."""
    return Subscription(f"$share/{SHARE_GROUP}/{sub.topic_filter}", sub.qos)


class Claims:
    """``robots``: the MQTT robots of this router; ``filters(robot)``: what to subscribe to
    for one held; ``announcements``: the shared subscriptions that tell who came online;
    ``every``: the plain subscriptions for every robot (their ``state``); ``replay(topic,
    payload)``: hand a remembered message to the router."""

    def __init__(
        self,
        leases: Leases,
        robots: Sequence[str],
        filters: Callable[[str], Sequence[Subscription]],
        announcements: Sequence[Subscription],
        every: Sequence[Subscription],
        replay: Callable[[str, bytes, float], None],
        *,
        sweep_s: float,
        rng: random.Random | None = None,
    ) -> None:
        self.leases = leases
        self.robots = list(robots)
        self.filters = filters
        self.announcements = [*announcements, *every]
        self.replay = replay
        self._latest: dict[str, tuple[str, bytes, float]] = {}  # robot -> topic, payload, when
        self.sweep_s = sweep_s
        self.held: set[str] = set()
        self.subscribe: Callable[[Sequence[Subscription]], None] = lambda _: None
        self.unsubscribe: Callable[[Sequence[Subscription]], None] = lambda _: None
        self._asking: set[str] = set()
        self._next_sweep = 0.0
        self._rng = rng or random.Random()

    def subscriptions(self) -> list[Subscription]:
        return [*self.announcements, *(f for r in sorted(self.held) for f in self.filters(r))]

    def remember(self, robot: str, topic: str, payload: bytes, now: float) -> None:
        """The latest ``state`` of a robot we do not hold (module docstring)."""
        if robot in self.robots:
            self._latest[robot] = (topic, payload, now)

    def announced(self, robot: str, now: float) -> None:
        """A live presence of ``robot`` reached us through the shared subscription."""
        if robot in self.robots and robot not in self.held:
            self._ask(robot, now)

    def released(self, robot: str) -> None:
        """Another gateway holds ``robot`` now: its topics are not ours any more."""
        if robot in self.held:
            self.held.discard(robot)
            self.unsubscribe(self.filters(robot))
            log.info("mqtt_robot_released", robot=robot)

    def add(self, robot: str) -> None:
        """A robot of rd:registry on this router's transport: taken like the others, when
        it announces itself or at the next sweep (brought forward)."""
        if robot not in self.robots:
            self.robots.append(robot)
            self._next_sweep = 0.0

    def remove(self, robot: str) -> None:
        """A robot removed from rd:registry (or moved to another transport): no longer
        ours to take; if held, unsubscribed (``filters`` still knows it) and let go."""
        if robot in self.robots:
            self.robots.remove(robot)
        self._latest.pop(robot, None)
        if robot in self.held:
            self.held.discard(robot)
            self.unsubscribe(self.filters(robot))
            self.leases.release(robot)
            log.info("mqtt_robot_released", robot=robot, reason="registry")

    def tick(self, now: float) -> None:
        if now < self._next_sweep or not self.robots:
            return
        self._latest = {r: v for r, v in self._latest.items() if now - v[2] < REMEMBER_S}
        self._next_sweep = now + self.sweep_s
        share = math.ceil(len(self.robots) / self.leases.gateways)
        room = max(1, share - len(self.held) - len(self._asking))
        free = [r for r in self.robots if r not in self.held and r not in self._asking]
        self._rng.shuffle(free)
        for robot in free[:room]:
            self._ask(robot, now)

    def _ask(self, robot: str, now: float) -> None:
        if robot in self._asking:
            return
        self._asking.add(robot)
        self.leases.acquire(
            robot, lambda holder: self._answered(robot, holder), 0.0, now, takeover=False
        )

    def _answered(self, robot: str, holder: str | None) -> None:
        self._asking.discard(robot)
        if holder is not None or robot in self.held:
            return
        if robot not in self.robots:  # removed from rd:registry while we asked
            self.leases.release(robot)
            return
        self.held.add(robot)
        self.subscribe(self.filters(robot))
        log.info("mqtt_robot_taken", robot=robot)
        latest = self._latest.pop(robot, None)
        if latest is not None:
            topic, payload, at = latest
            self.replay(topic, payload, at)
