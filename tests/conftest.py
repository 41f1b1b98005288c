"""Session-wide real servers and strict hygiene for every test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from hypothesis import settings

from tests.servers import MosquittoServer, RedisServer
from tests.support.loopwatch import watching

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
