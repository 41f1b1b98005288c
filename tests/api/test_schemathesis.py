"""schemathesis against the live web tier, as an admin, from its own OpenAPI document: valid
and invalid requests to every operation; no answer is a 5xx, every answer matches its
documented schema and content type. The fuzzer never changes or deletes the users it logs in
with (that would end its own tokens), and its token still works at the end."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.chaos.probes import record
from tests.support.api import SESSION_ENDING, Live

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Cases per operation and mode: one to two minutes for the whole API (about 100 operations)
# on an idle 2-core box, several on a loaded one; more under -m long.
CASES = 10
LONG_CASES = int(os.environ.get("API_CASES", "150"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _runner(op: Any, mode: GenerationMode, n: int, call: Any) -> Any:
    @settings(max_examples=n, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        call(op, mode, case)

    return run


def _fuzz(live: Live, per_operation: int) -> None:
    schema = schemathesis.openapi.from_url(f"{live.url}/api/openapi.json")
    session = requests.Session()
    auth = {"Authorization": f"Bearer {live.tokens['admin']}"}
    ours = set(live.users.values())
    cases: Counter[str] = Counter()
    failures: list[str] = []
    operations = 0

    def call(op: Any, mode: GenerationMode, case: Any) -> None:
        if (case.path_parameters or {}).get("username") in ours and case.method in (
            "PATCH",
            "DELETE",
        ):
            return  # our own users: a change would end the tokens this run uses
        cases[mode.value] += 1
        headers = auth
        if (case.method, op.path) in SESSION_ENDING:  # it may end the token it is called with
            headers = {"Authorization": f"Bearer {live.fresh_token('admin')}"}
        try:
            case.call_and_validate(session=session, checks=CHECKS, headers=headers, timeout=15)
        except (Exception, BaseExceptionGroup) as exc:  # collected: every operation runs
            failures.append(f"{op.label} [{mode.value}]: {type(exc).__name__}: {str(exc)[:400]}")

    for result in schema.get_all_operations():
        if isinstance(result, Err):  # the schema itself is wrong: say how
            raise result.err()
        op = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _runner(op, mode, per_operation, call)()
            except Unsatisfiable:  # no input of this operation can be invalid (none at all)
                assert mode is GenerationMode.NEGATIVE, op.label
    me = session.get(f"{live.url}/api/auth/me", headers=auth, timeout=10)
    record(
        "API fuzz (schemathesis)",
        "valid and invalid requests from the OpenAPI document, as an admin",
        f"{operations} operations, up to {per_operation} cases each per mode",
        "no 5xx, every answer as documented",
        kind="api",
        cases=sum(cases.values()),
        by_mode=dict(cases),
        failures=len(failures),
    )
    assert operations > 50 and sum(cases.values()) > operations
    assert failures == [], "\n".join(failures[:20])
    assert me.status_code == 200, me.text  # the fuzzer's own token was never revoked


@pytest.mark.timeout(900)
def test_api_fuzzed_from_its_openapi_document(live: Live) -> None:
    _fuzz(live, CASES)


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_api_fuzzed_from_its_openapi_document_long(live: Live) -> None:
    _fuzz(live, LONG_CASES)
