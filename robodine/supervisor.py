"""One component's hold on a service it needs (Redis, the MQTT broker), kept for ever.

``Supervisor.run(step)`` runs ``step`` again and again. When it raises one of
the errors the component expects from its service, the supervisor logs the
outage once, when it begins (``lost``, with the error), calls the
component's ``on_error`` (close the connection, spool, ...), and waits a full
jitter backoff before the next attempt. The component calls ``ok()`` when it
has the service again (a flush went through, a subscription was made): that
logs the end once (``recovered``, with ``outage_s``) and resets the backoff.
A gauge, when given, is 1 while up and 0 while down.

``ok()`` is cheap when nothing changed, so a hot loop may call it after every
read; the loops that read thousands of times a second check ``up`` first.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from robodine.backoff import Backoff

__all__ = ["Supervisor"]

Errors = type[BaseException] | tuple[type[BaseException], ...]


def _forever() -> bool:
    return True


@dataclass(eq=False)
class Supervisor:
    """``lost``/``recovered``: the component's own log event names. ``up``: the state
    before the first attempt (False: not connected yet; its first failure is an outage
    all the same). ``policy``: what the component does meanwhile, in the ``lost`` line.
    ``on_outage``: called once per outage (a counter). ``bug``: with ``outages``, an
    error that is not an outage is logged under this name, with its traceback, instead.
    ``context``: fields of both lines."""

    log: Any
    _: KW_ONLY
    lost: str
    recovered: str
    backoff: Backoff
    up: bool = True
    policy: str | None = None
    gauge: Callable[[int], None] | None = None
    on_outage: Callable[[], None] | None = None
    bug: str | None = None
    outages: Errors = ()
    clock: Callable[[], float] = time.monotonic
    context: dict[str, Any] = field(default_factory=dict)
    down_since: float | None = None  # clock() when the outage began; None while none is on

    def failed(self, exc: BaseException | str) -> bool:
        """The service failed the component; True when this began an outage (logged)."""
        self.up = False
        if self.gauge is not None:
            self.gauge(0)
        if self.down_since is not None:
            return False
        self.down_since = self.clock()
        if self.on_outage is not None:
            self.on_outage()
        if self.bug is not None and not isinstance(exc, str) and not isinstance(exc, self.outages):
            self.log.error(self.bug, exc_info=exc, **self.context)
            return True
        error = exc if isinstance(exc, str) else str(exc) or type(exc).__name__
        if self.policy is not None:
            self.log.warning(self.lost, error=error, policy=self.policy, **self.context)
        else:
            self.log.warning(self.lost, error=error, **self.context)
        return True

    def ok(self, **fields: Any) -> bool:
        """The component has the service; True when this ended an outage (logged)."""
        self.up = True
        if self.gauge is not None:
            self.gauge(1)
        if self.down_since is None:
            return False
        outage_s = round(self.clock() - self.down_since, 3)
        self.down_since = None
        self.backoff.reset()
        self.log.info(self.recovered, outage_s=outage_s, **self.context, **fields)
        return True

    async def run(
        self,
        step: Callable[[], Awaitable[object]],
        *,
        errors: Errors,
        running: Callable[[], bool] = _forever,
        on_error: Callable[[BaseException], object] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        """Run ``step`` while ``running()``; ``errors`` it raises are outages (anything
        else propagates). After one: ``failed``, ``on_error`` (sync or async), and,
        unless ``running()`` has turned false, ``sleep`` (asyncio.sleep) for the backoff."""
        pause = sleep or asyncio.sleep
        while running():
            try:
                await step()
            except errors as exc:
                self.failed(exc)
                if on_error is not None:
                    result = on_error(exc)
                    if inspect.isawaitable(result):
                        await result
                if not running():
                    return
                await pause(self.backoff.next())
