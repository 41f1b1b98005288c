"""The one-line failure reason read from SAQ's stored error text."""

from __future__ import annotations

import pytest
from saq.job import Job

from web.jobs.stream import reason


@pytest.mark.parametrize(
    "error",
    [
        "Traceback (most recent call last):\n  ...\nweb.jobs.runtime.JobFailed: no such upload",
        "Traceback (most recent call last):\n  ...\nweb.jobs.kinds.JobFailed: no such upload",
        "JobFailed: no such upload",
    ],
)
def test_a_job_failed_reason_loses_its_exception_path(error: str) -> None:
    assert reason(Job("analysis", error=error)) == "no such upload"


def test_other_errors_keep_their_last_line_and_timeouts_say_so() -> None:
    assert reason(Job("analysis", error="Traceback\nValueError: bad")) == "ValueError: bad"
    assert reason(Job("analysis", error="x\nTimeoutError", timeout=7)) == "timed out after 7 s"
    assert reason(Job("analysis", error="x\nCancelledError")) == "cancelled"
    assert reason(Job("analysis")) == ""
