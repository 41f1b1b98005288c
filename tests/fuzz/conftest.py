"""Say how many inputs each ingress was fed (tests.fuzz.budget.INPUTS); the web tier's
fixtures, for the WebSocket ingress."""

from __future__ import annotations

from typing import Any

from tests.chaos.probes import record
from tests.fuzz.budget import INPUTS
from tests.support.web import env, make_env, sqlite_template, sqlite_url  # noqa: F401


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if INPUTS:
        fed = ", ".join(f"{name} {n:,}" for name, n in sorted(INPUTS.items()))
        terminalreporter.write_line(f"fuzz inputs: {fed}")


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    for name, n in sorted(INPUTS.items()):  # a row each in docs/reliability.md
        record(
            f"fuzz {name}",
            "hypothesis-made mutants of valid input, and noise",
            name,
            "no crash; every refusal counted",
            kind="fuzz",
            inputs=n,
            failures=session.testsfailed,
        )
