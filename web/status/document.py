"""The status document: named sections, each with a state, and the whole one's state.

A section is one async function of a ``Probe`` (web/status/probe.py) returning a
``Section``; ``SECTIONS`` lists them in the order they are shown. A part of the
system that wants to report (a gateway's leases, a worker's queue) adds its own
with ``section("name")``: the CLI, ``GET /api/status`` and the exit status follow.

States, worst last: ``off`` (not configured: counts as fine), ``ok``, ``degraded``
(something needs a look, the system still serves), ``down`` (robots are not being
served or recorded). The document's state is its worst section's; exit status 0,
1 or 2 for ok, degraded and down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from msgspec import Struct

from web.http.schemas import doc

if TYPE_CHECKING:
    from web.status.probe import Probe

State = Literal["off", "ok", "degraded", "down"]
RANK: dict[str, int] = {"off": 0, "ok": 0, "degraded": 1, "down": 2}
EXIT_STATUS = {"ok": 0, "degraded": 1, "down": 2}


class Section(Struct, kw_only=True):
    state: Annotated[
        State,
        doc("`off` (not configured: fine), `ok`, `degraded` (needs a look) or `down`", "ok"),
    ]
    summary: Annotated[str, doc("one line for people")]
    problems: Annotated[
        list[str],
        doc("what made it degraded or down, each a sentence that says what to do"),
    ] = []
    details: Annotated[dict[str, Any], doc("the figures, for scripts (names are stable)")] = {}


class StatusOut(Struct, kw_only=True):
    status: Annotated[
        Literal["ok", "degraded", "down"],
        doc("the worst section's state (`off` counts as ok)", "ok"),
    ]
    checked_at: Annotated[str, doc("when it was checked, ISO 8601 UTC")]
    version: Annotated[str, doc("robodine's version")]
    sections: Annotated[
        dict[str, Section], doc("each part of the system by name, in a fixed order")
    ]


SectionFn = Callable[["Probe"], Awaitable[Section]]
SECTIONS: list[tuple[str, SectionFn]] = []


def section(name: str) -> Callable[[SectionFn], SectionFn]:
    """Add the decorated function to the document as section ``name`` (after the others)."""

    def add(fn: SectionFn) -> SectionFn:
        if any(n == name for n, _ in SECTIONS):
            raise ValueError(f"status section {name!r} exists already")
        SECTIONS.append((name, fn))
        return fn

    return add


def overall(sections: dict[str, Section]) -> Literal["ok", "degraded", "down"]:
    worst = max((RANK[s.state] for s in sections.values()), default=0)
    return ("ok", "degraded", "down")[worst]


def ok(summary: str, **details: Any) -> Section:
    return Section(state="ok", summary=summary, details=details)


def off(summary: str) -> Section:
    return Section(state="off", summary=summary)


def judged(summary: str, problems: list[str], *, down: bool = False, **details: Any) -> Section:
    """``ok`` without problems, else ``degraded`` (``down`` when ``down``)."""
    state: State = "down" if problems and down else "degraded" if problems else "ok"
    return Section(state=state, summary=summary, problems=problems, details=details)
