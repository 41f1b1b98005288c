"""The dashboard's jobs tab in headless Chromium: start a sales report, watch its progress
bar move as the job runs (played by hand through SAQ, so no worker is needed), cancel one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.e2e import Site, log_in, open_page, shot
from web.jobs.queue import JobQueue

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_the_jobs_tab_shows_progress_bars_live(browser: Any, web_only: Site) -> None:
    page = await open_page(browser, web_only, "ko-KR")
    await log_in(page, "minji")
    await page.click("#tab-jobs")
    await page.click(".job-form button[type=submit]")
    row = page.locator("li.job").first
    await row.wait_for()
    assert await row.get_attribute("data-status") == "queued"
    assert "대기 중" in await row.inner_text()  # Korean labels
    job_id = await row.get_attribute("data-job")
    queue = JobQueue.open(web_only.settings, name="e2e-worker")
    try:
        job = await queue.jobs.dequeue(timeout=2)
        assert job is not None and job.key == job_id
        job.attempts = 1
        await job.update(status="active")
        await job.update(progress=0.6, meta={"message": "60 of 100 orders"})
        bar = page.locator(f"li.job[data-job='{job_id}'] .bar")
        await page.wait_for_function(
            "id => document.querySelector(`li.job[data-job='${id}'] .bar`)"
            ".getAttribute('aria-valuenow') === '60'",
            arg=job_id,
        )
        assert await bar.get_attribute("aria-valuenow") == "60"
        await shot(page, "jobs-progress")
        await page.click(f"li.job[data-job='{job_id}'] button")  # cancel
        await page.wait_for_selector(f"li.job[data-job='{job_id}'][data-status='cancelling']")
    finally:
        await queue.close()
    assert page.js_errors == []
