"""Read the gateway's Prometheus counters (the text format, no client library)."""

from __future__ import annotations

import urllib.request
from collections import defaultdict


class Metrics(dict[str, dict[str, float]]):
    """metric name -> {label value ("" when none) -> value}."""

    def get1(self, name: str, label: str = "") -> float:
        return self.get(name, {}).get(label, 0.0)

    def total(self, name: str) -> float:
        return sum(self.get(name, {}).values())


def scrape(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> Metrics:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout) as resp:
        return parse(resp.read().decode())


def parse(text: str) -> Metrics:
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, brace, labels = head.partition("{")
        label = ""
        if brace:
            _, _, quoted = labels.rstrip("}").partition("=")
            label = quoted.strip('"')
        try:
            out[name][label] = float(value)
        except ValueError:
            continue
    return Metrics(out)


def delta(after: Metrics, before: Metrics, name: str) -> dict[str, float]:
    """Per-label increase of a counter between two scrapes (labels with no change left out)."""
    b = before.get(name, {})
    return {k: v - b.get(k, 0.0) for k, v in after.get(name, {}).items() if v != b.get(k, 0.0)}
