"""How many inputs each ingress fuzzer gets: a short run in the default suite, and at least
100,000 under the `long` marker (``-m long``; ``$FUZZ_INPUTS`` sets the number).

An example (hypothesis's unit) carries several inputs (frames, datagrams, messages): the
long run asks for enough examples to feed at least that many, and ``INPUTS`` counts what
was fed (printed at the end of the run)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy

SHORT = 100
LONG = int(os.environ.get("FUZZ_INPUTS", "100000"))
INPUTS: Counter[str] = Counter()  # ingress -> inputs fed in this run
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def short_and_long(
    per_example: int, *strategies: SearchStrategy[Any], **named: SearchStrategy[Any]
) -> Callable[[Callable[..., None]], tuple[Any, Any]]:
    """Two tests of one body, which feeds at least ``per_example`` inputs per example:
    ``test_x, test_x_long = short_and_long(n, ...)(body)``."""

    def make(body: Callable[..., None]) -> tuple[Any, Any]:
        short = settings(max_examples=SHORT, suppress_health_check=_QUIET)(
            given(*strategies, **named)(body)
        )
        examples = -(-LONG // per_example)
        long = settings(max_examples=examples, suppress_health_check=_QUIET)(
            given(*strategies, **named)(body)
        )
        long = pytest.mark.timeout(3600)(pytest.mark.long(long))
        return short, long

    return make
