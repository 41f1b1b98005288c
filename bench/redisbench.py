"""The Redis ceiling: `redis-benchmark` XADD of the same entry, one connection, pipelined.

The entry is copied from a real ``rd:telemetry`` entry the gateway wrote in
the same run (same field names, same value sizes) and the command keeps the
gateway's ``MAXLEN ~``, so the only difference left is who sends it.
"""

from __future__ import annotations

import csv
import io
import subprocess
from urllib.parse import urlparse

import redis

BENCH_KEY = "rd:bench:xadd"


def xadd_argv(
    url: str, fields: dict[bytes, bytes], *, maxlen: int, requests: int, pipeline: int = 100
) -> list[str]:
    u = urlparse(url)
    argv = [
        "redis-benchmark",
        "-h",
        u.hostname or "127.0.0.1",
        "-p",
        str(u.port or 6379),
        "-c",
        "1",
        "-P",
        str(pipeline),
        "-n",
        str(requests),
        "--csv",
        "XADD",
        BENCH_KEY,
        "MAXLEN",
        "~",
        str(maxlen),
        "*",
    ]
    for k, v in fields.items():
        argv += [k.decode(), v.decode()]
    return argv


def xadd_ceiling(
    url: str, fields: dict[bytes, bytes], *, maxlen: int, requests: int, pipeline: int = 100
) -> float:
    """Requests per second redis-benchmark reached (the key is deleted afterwards)."""
    argv = xadd_argv(url, fields, maxlen=maxlen, requests=requests, pipeline=pipeline)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True).stdout
    client = redis.Redis.from_url(url)
    try:
        client.delete(BENCH_KEY)
    finally:
        client.close()
    return parse_csv_rps(out)


def parse_csv_rps(out: str) -> float:
    """The rps column, counted from the end: redis-benchmark does not escape the quotes
    of the command it names a row after (a JSON argument breaks the first columns)."""
    rows = list(csv.reader(io.StringIO(out)))
    if rows and "rps" in rows[0]:
        from_end = len(rows[0]) - rows[0].index("rps")
        for row in rows[1:]:
            if len(row) >= from_end:
                return float(row[-from_end])
    raise ValueError(f"no rps in redis-benchmark output: {out!r}")
