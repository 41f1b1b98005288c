"""Session-wide real servers and strict hygiene for every test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hypothesis import settings

from tests.servers import MosquittoServer, RedisServer
from tests.support.loopwatch import watching

# The servers a fixture starts (or needs), as the marker each test using it gets:
# `-m "not browser"` on a box without Chromium, `-m "not slow"` for the quick run.
SERVER_MARKERS = {
    "redis": {"redis_server", "redis_private", "redis_client", "volatile_redis"},
    "mqtt": {"mosquitto_server", "mosquitto_private"},
    "postgres": {"pg_template", "pg_url", "pg_database"},
    "browser": {"browser"},
    "node": {"vdalib"},
}
# Whole directories of long runs (a real restaurant, outages, a browser, a live API).
SLOW_DIRS = {"e2e", "chaos", "thirdparty", "api"}
# Fault and multi-process harnesses start, stop, kill and wait for real server processes
# from the test's own body by design; the loop watch still fails them on loop errors.
BLOCKING_DIRS = {"chaos", "cluster", "e2e", "thirdparty", "api", "ops", "fuzz"}
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("any_db_url") == "postgres":  # it asks for pg_url when it runs
            used.add("pg_url")
        for marker, fixtures in SERVER_MARKERS.items():
            if used & fixtures:
                item.add_marker(marker)
        rel = item.path.relative_to(TESTS).parts if item.path.is_relative_to(TESTS) else ()
        if (rel and rel[0] in SLOW_DIRS) or item.get_closest_marker("long"):
            item.add_marker("slow")
        if rel and rel[0] in BLOCKING_DIRS:
            item.add_marker("allow_blocking")


# Shared 2-core machines: a per-example deadline measures the neighbours, not the code.
settings.register_profile("robodine", deadline=None, print_blob=True)
settings.load_profile("robodine")


@pytest.fixture(autouse=True)
async def _loop_watch(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fail a test whose loop saw an unhandled exception (a task's exception never
    retrieved, an exception in a callback) or a callback that held it for a second or
    more (a blocking call in async code). Opt out with ``@pytest.mark.allow_loop_errors``
    or ``@pytest.mark.allow_blocking``, saying why."""
    with watching(asyncio.get_running_loop()) as watch:
        yield
    problems = watch.problems(
        errors=request.node.get_closest_marker("allow_loop_errors") is None,
        slow=request.node.get_closest_marker("allow_blocking") is None,
    )
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session; tests that kill it use ``redis_private``."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def redis_private() -> Iterator[RedisServer]:
    """A redis-server of this test's own, free to kill and restart."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def volatile_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own that keeps nothing on disk (a restart loses all)."""
    server = RedisServer(aof=False)
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def mosquitto_server() -> Iterator[MosquittoServer]:
    server = MosquittoServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def mosquitto_private() -> Iterator[MosquittoServer]:
    server = MosquittoServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(autouse=True)
async def _no_lingering_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves tasks running (Home Assistant's verify_cleanup)."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    lingering = [
        t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()
    ]
    for t in lingering:
        t.cancel()
    if lingering:
        pytest.fail(f"lingering tasks after test: {lingering!r}")
