"""The web tier over HTTPS with the certificate `robodine install` makes: the chain
verifies against its CA for the box's names and addresses, and HSTS is sent only then."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp
import pytest

from config import ConfigError
from robodine.install import tls
from tests.servers import RedisServer, free_port
from tests.support.web import WebEnv, web_settings
from web.server import serve, tls_context


def write(tmp_path: Path) -> tuple[Path, Path, Path]:
    pem = tls.make(["box", "box.local", "localhost"], ["127.0.0.1", "::1"])
    files = tmp_path / "ca.crt", tmp_path / "robodine.crt", tmp_path / "robodine.key"
    for f, data in zip(files, (pem.ca_cert, pem.cert, pem.key), strict=True):
        f.write_bytes(data)
    return files


async def test_https_with_the_generated_certificate(
    redis_server: RedisServer, sqlite_url: str, tmp_path: Path
) -> None:
    ca, cert, key = write(tmp_path)
    port = free_port()
    settings = web_settings(
        redis_server.url,
        sqlite_url,
        web={"port": port, "tls_cert": cert, "tls_key": key, "metrics_port": 0},
    )
    stop = asyncio.Event()
    server = asyncio.create_task(serve(settings, stop.wait()))
    try:
        trusted = ssl.create_default_context(cafile=str(ca))
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"https://localhost:{port}/health", ssl=trusted) as r:
                        assert r.status == 200
                        assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the web tier did not answer over TLS")
            async with http.get(f"https://127.0.0.1:{port}/", ssl=trusted) as r:
                assert r.status == 200 and "<script" in await r.text()
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await http.get(f"https://localhost:{port}/health", ssl=ssl.create_default_context())
            with pytest.raises(aiohttp.ClientError):  # plain HTTP on the TLS port
                await http.get(f"http://127.0.0.1:{port}/health")
    finally:
        stop.set()
        await server


async def test_no_hsts_over_plain_http(env: WebEnv) -> None:
    r = await env.client.get("/health")
    assert "Strict-Transport-Security" not in r.headers


def test_a_certificate_that_does_not_load_is_a_config_problem(tmp_path: Path) -> None:
    _, cert, key = write(tmp_path)
    other = tmp_path / "other.key"
    other.write_bytes(tls.make(["x"], []).key)
    for c, k, fragment in (
        (tmp_path / "missing.crt", key, f"web.tls_cert: {tmp_path / 'missing.crt'}: no such"),
        (cert, other, "do not load"),
    ):
        settings = web_settings(
            "redis://127.0.0.1:1/0", "sqlite+aiosqlite://", web={"tls_cert": c, "tls_key": k}
        )
        with pytest.raises(ConfigError) as err:
            tls_context(settings.web)
        assert fragment in err.value.problems[0]


def test_derived_origins_are_https_with_tls(tmp_path: Path) -> None:
    from config.settings import WebSettings

    _, cert, key = write(tmp_path)
    w = WebSettings(port=8443, tls_cert=cert, tls_key=key)
    assert w.origins == ["https://127.0.0.1:8443", "https://localhost:8443"]
