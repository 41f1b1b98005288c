"""The benchmark's pure parts: parsers, percentiles, the TOML writer, frames, the report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from typing import Any, cast

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import fleetconf, prom, report, scenarios
from bench.harness import Result
from bench.loadgen.ws import mask_frame
from bench.profile import summarise
from bench.redisbench import parse_csv_rps, xadd_argv
from bench.stats import percentiles

METRICS = """\
# HELP robodine_gateway_udp_dropped_total UDP datagrams dropped
# TYPE robodine_gateway_udp_dropped_total counter
robodine_gateway_udp_dropped_total{reason="replayed"} 3.0
robodine_gateway_udp_dropped_total{reason="bad_signature"} 1.0
robodine_gateway_redis_up 1.0
"""


def test_prometheus_text_is_parsed_per_label_and_deltas_leave_out_unchanged() -> None:
    m = prom.parse(METRICS)
    assert m.get1("robodine_gateway_udp_dropped_total", "replayed") == 3.0
    assert m.total("robodine_gateway_udp_dropped_total") == 4.0
    assert m.get1("robodine_gateway_redis_up") == 1.0
    later = prom.parse(METRICS.replace("3.0", "10.0"))
    assert prom.delta(later, m, "robodine_gateway_udp_dropped_total") == {"replayed": 7.0}


def test_percentiles_are_nearest_rank() -> None:
    p = percentiles([float(i) for i in range(1, 101)])
    assert (p["n"], p["p50"], p["p90"], p["p99"], p["max"]) == (100, 50.0, 90.0, 99.0, 100.0)
    assert percentiles([]) == {"n": 0}


def test_redis_benchmark_csv_gives_requests_per_second() -> None:
    out = '"test","rps","avg_latency_ms"\n"XADD k * a 1","242130.77","0.266"\n'
    assert parse_csv_rps(out) == 242130.77
    # redis-benchmark 7 names the row after the command without escaping its quotes
    out = (
        '"test","rps","avg_latency_ms","min_latency_ms"\n'
        '"XADD k * sample {"robot":"r1","seq":2}","111111.12","0.073","0.040"\n'
    )
    assert parse_csv_rps(out) == 111111.12
    with pytest.raises(ValueError, match="no rps"):
        parse_csv_rps("ERROR: connection refused\n")


def test_the_ceiling_xadds_the_same_fields_with_the_gateways_maxlen() -> None:
    argv = xadd_argv(
        "redis://127.0.0.1:7000/0", {b"robot": b"r-1", b"seq": b"5"}, maxlen=1000, requests=10
    )
    assert argv[argv.index("-p") + 1] == "7000"
    assert argv[argv.index("-c") + 1] == "1"
    assert argv[-10:-4] == ["XADD", "rd:bench:xadd", "MAXLEN", "~", "1000", "*"]
    assert argv[-4:] == ["robot", "r-1", "seq", "5"]


def test_py_spy_collapsed_stacks_become_self_and_inclusive_shares() -> None:
    raw = (
        'process 1:"python";main (a.py:1);work (b.py:2) 30\n'
        'process 1:"python";main (a.py:1);idle (c.py:3) 10\n'
    )
    s = summarise(raw, rate=100, seconds=1.0)
    assert s["samples"] == 40
    assert s["busy_pct"] == 40.0
    assert s["self"][0] == {"function": "work (b.py)", "pct": 75.0}
    assert {"function": "main (a.py)", "pct": 100.0} in s["inclusive"]


def test_the_config_writer_round_trips_through_tomllib() -> None:
    data = {
        "gateway": {"name": "g", "metrics_port": 1, "stale_after_s": 3.5},
        "web": {"origins": ["http://a:1"], "docs": False},
        "floor": {"kitchen_pass": {"name": "pass", "x": 1.5, "y": 2.0}},
        "robots": [{"id": "r-1", "kind": "serving", "key": "ab" * 32}],
    }
    assert tomllib.loads(fleetconf.dumps(data)) == data
    with pytest.raises(TypeError, match="cannot write"):
        fleetconf.dumps({"s": {"k": object()}})


@given(st.binary(max_size=70_000))
def test_masked_client_frames_unmask_to_the_payload(payload: bytes) -> None:
    frame = mask_frame(payload)
    assert frame[0] == 0x81
    n = frame[1] & 0x7F
    assert frame[1] & 0x80
    h = 2 + {126: 2, 127: 8}.get(n, 0)
    key, body = frame[h : h + 4], frame[h + 4 :]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(body)) == payload


def test_the_table_says_why_a_scenario_is_not_available() -> None:
    results = [
        Result("ingest-mqtt", "not available", reason="no MQTT transport", goal=">= 0.5"),
        Result(
            "rest",
            "ok",
            goal=">= 0.7",
            project=300.0,
            unit="req/s",
            ceiling=15000.0,
            ratio=0.02,
            met=False,
            peak_rss_mb={"web": 111.0},
            seconds=12.0,
        ),
    ]
    text = report.table(results)
    assert "not available: no MQTT transport" in text
    for part in ("300 req/s", "15,000 req/s", "NO", "web 111"):
        assert part in text


def _robodine(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "robodine", "bench", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_unknown_scenario_is_refused_with_the_choices() -> None:
    out = _robodine("ingest-foo")
    assert out.returncode == 2
    assert "unknown scenario 'ingest-foo'" in out.stderr
    assert "ingest-udp" in out.stderr


def test_list_names_every_scenario_and_what_it_measures() -> None:
    out = _robodine("--list")
    assert out.returncode == 0
    for name in (
        "ingest-udp",
        "ingest-tcp",
        "ingest-mqtt",
        "e2e-latency",
        "fanout",
        "chat",
        "rest",
        "slow-client",
    ):
        assert name in out.stdout


def test_feed_clients_count_samples_in_single_and_batch_messages() -> None:
    from bench.ceilings import telemetry_message
    from bench.loadgen.wsfeed import _merge, samples_in

    one, three = telemetry_message(1, 1), telemetry_message(2, 3)
    assert samples_in(one) == 1 and samples_in(three) == 3
    assert samples_in(b'{"type":"hello","topic":"telemetry"}') == 0
    batch = orjson.loads(three)
    assert batch["type"] == "batch"
    assert [f["sample"]["robot"] for f in batch["frames"]] == [
        "serve-0001",
        "serve-0002",
        "serve-0003",
    ]
    merged = _merge(
        [
            {
                "seconds": 2.0,
                "samples": 10,
                "messages": 4,
                "per_client_min": 3,
                "per_client_max": 7,
                "closes": {"4008": 1},
            },
            {
                "seconds": 2.5,
                "samples": 30,
                "messages": 6,
                "per_client_min": 1,
                "per_client_max": 9,
                "closes": {"4008": 2, "1000": 1},
            },
        ]
    )
    assert merged == {
        "seconds": 2.5,
        "samples": 40,
        "messages": 10,
        "per_client_min": 1,
        "per_client_max": 9,
        "closes": {"4008": 3, "1000": 1},
        "samples_s": 16.0,
        "messages_s": 4.0,
    }


def test_the_feeder_writes_records_the_web_tier_decodes(redis_private: Any) -> None:
    import time

    import redis as sync_redis

    from bench.loadgen.feeder import Feeder
    from protocol import streams
    from protocol.streams import TelemetryRecord
    from web.robots.telemetry_topic import sample_frame

    robots = ["serve-1", "serve-2", "cook-1"]
    feeder = Feeder(redis_private.url, robots, 1000)
    try:
        deadline = time.monotonic() + 10
        while feeder.written() < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        feeder.close()
    client = sync_redis.Redis.from_url(redis_private.url, decode_responses=True)
    entries = cast(list[tuple[str, dict[str, str]]], client.xrange(streams.TELEMETRY))
    assert len(entries) >= 300
    records = [streams.from_fields(TelemetryRecord, f) for _, f in entries]
    assert {r.robot for r in records} == set(robots)
    # the gateway's layout, which the web tier passes on without re-encoding
    assert all(list(f) == ["robot", streams.TELEMETRY_SAMPLE] for _, f in entries)
    assert all(sample_frame(e) is not None for e in entries[:50])
    for robot in robots:  # each robot's samples are numbered 1, 2, 3, ...
        seqs = [r.seq for r in records if r.robot == robot]
        assert seqs == list(range(1, len(seqs) + 1))
    assert len({(r.x, r.y) for r in records}) > 10  # the robots move
    assert all(abs(r.ts - time.time()) < 60 and r.rx == r.ts for r in records)


def test_results_md_is_generated_from_the_data_in_results() -> None:
    """RESULTS.md is what `robodine bench --report` makes of results/*.json: edit the data
    or a scenario's BOUNDED_BY, then run it (the story goes into bench/JOURNAL.md)."""
    out = report.BENCH_DIR / "results"
    data = json.loads((out / "latest.json").read_text())
    expected = report.markdown(
        data["results"],
        data["run"],
        report._load(out / "profiles.json"),
        report._load_compare(out / "compare.json"),
    )
    assert (report.BENCH_DIR / "RESULTS.md").read_text() == expected, (
        "RESULTS.md is stale: run `robodine bench --report`"
    )


def test_results_md_has_the_table_each_bound_and_how_to_run_and_no_story() -> None:
    results = [
        Result(
            "rest",
            "ok",
            "GET /api/robots",
            ">= 0.7",
            18_000.0,
            "req/s",
            25_000.0,
            "hello-world",
            0.72,
            True,
            bound="the web process at 98% of a core",
            seconds=30.0,
        ).to_json()
    ]
    meta = {
        "date": "2026-12-07T10:00:00+00:00",
        "cores": 2,
        "cpu": "x",
        "python": "3.11",
        "loadavg_at_start": [0.5, 0.5, 0.5],
        "redis": "7",
        "commit": "abc1234",
    }
    text = report.markdown(results, meta)
    assert "| rest | 18,000 req/s | 25,000 req/s | 0.72 | >= 0.7 | yes |" in text
    assert "- **rest**: GET /api/robots; ceiling: hello-world." in text
    assert f"  - bound: {' '.join(scenarios.load('rest').BOUNDED_BY.split())}" in text
    assert "  - this run: the web process at 98% of a core." in text
    assert "## How to run" in text and "--against REF" in text
    assert "bench/JOURNAL.md" in text
    assert "Side by side" not in text  # no comparison recorded
    assert len(text.splitlines()) < 40


def test_every_scenario_says_what_bounds_it_in_a_few_undated_lines() -> None:
    for name in scenarios.MODULES:
        module = scenarios.load(name)
        assert not hasattr(module, "NOTES"), f"{name}: dated notes belong in bench/JOURNAL.md"
        text = module.BOUNDED_BY
        assert text.strip(), name
        assert len(text.strip().splitlines()) <= 6, name
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), f"{name}: a date in BOUNDED_BY"


def test_the_two_trees_take_turns_going_first() -> None:
    from bench.compare import order

    assert order(0, 0) == ("ref", "tree") and order(0, 1) == ("tree", "ref")
    assert order(1, 0) == ("tree", "ref"), "the next scenario starts with the other side"
    for rounds in (2, 4):
        firsts = [order(3, k)[0] for k in range(rounds)]
        assert firsts.count("ref") == firsts.count("tree")


def _run(ratio: float | None, project: float, status: str = "ok") -> dict[str, Any]:
    return {
        "scenario": "rest",
        "status": status,
        "reason": "boom" if status != "ok" else "",
        "ratio": ratio,
        "project": project,
        "unit": "req/s",
    }


def test_the_side_by_side_table_gives_each_sides_mean_its_rounds_and_the_change() -> None:
    data = {
        "against": "main",
        "rounds": 2,
        "run": {
            "mode": "full",
            "date": "2026-12-07T10:00:00+00:00",
            "cores": 2,
            "cpu": "x",
            "loadavg_at_start": [0.1, 0.2, 0.3],
            "python": "3.11",
            "redis": "7",
            "commit": "abc1234",
        },
        "sides": [
            {"side": "ref", "label": "main (1111111)"},
            {"side": "tree", "label": "this tree (2222222)"},
        ],
        "results": [
            {
                "scenario": "rest",
                "ref": [_run(0.70, 17_000.0), _run(0.74, 19_000.0)],
                "tree": [_run(0.77, 19_000.0), _run(0.77, 21_000.0)],
            },
            {
                "scenario": "chat",
                "ref": [_run(None, 7000.0)],
                "tree": [_run(None, 0.0, status="failed")],
            },
        ],
    }
    rows = {r[0]: r for r in report.compare_rows(data)}
    assert rows["scenario"][1:3] == ["ratio main (1111111)", "ratio this tree (2222222)"]
    assert rows["rest"][1:4] == ["0.72 (0.7, 0.74)", "0.77 (0.77, 0.77)", "x1.069"]
    assert rows["rest"][4:] == [
        "18,000 req/s (17,000, 19,000)",
        "20,000 req/s (19,000, 21,000)",
        "x1.111",
    ]
    assert rows["chat"][1:4] == ["-", "failed: boom", "-"]
    assert rows["chat"][4] == "7,000 req/s" and rows["chat"][6] == "-"
    md = "\n".join(report.compare_markdown(data))
    assert "## Side by side: main (1111111) and this tree (2222222)" in md
    assert "`robodine bench --against main` (full, 2 rounds)" in md
    assert "| rest | 0.72 (0.7, 0.74) | 0.77 (0.77, 0.77) | x1.069 |" in md


def test_against_a_ref_that_is_no_commit_is_refused_before_anything_runs() -> None:
    out = _robodine("rest", "--against", "no-such-ref-anywhere")
    assert out.returncode == 2
    assert "'no-such-ref-anywhere' is not a commit" in out.stderr
