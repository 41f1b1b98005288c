"""Percentiles without numpy (nearest-rank on a sorted copy)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentiles(
    values: Sequence[float], points: Sequence[float] = (50, 90, 99, 99.9)
) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    n = len(ordered)
    out: dict[str, float | int] = {"n": n}
    for p in points:
        rank = min(n - 1, max(0, math.ceil(p / 100 * n) - 1))
        out[f"p{p:g}"] = round(ordered[rank], 3)
    out["max"] = round(ordered[-1], 3)
    out["mean"] = round(sum(ordered) / n, 3)
    return out
