"""Schemathesis fuzzes every operation of /openapi.json against the live server: no 5xx, ever.

Valid and invalid inputs are generated (derandomized, so a run is repeatable) and every response goes
through schemathesis's checks: no server error, a documented status code and content type, and a body
that matches the documented schema. The database holds the seeded sample, so real ids come up too.
"""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.serving import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXAMPLES_PER_MODE = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _fuzz(base_url: str) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES_PER_MODE,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                response = case.call(base_url=base_url, timeout=10)
                try:
                    case.validate_response(response, checks=CHECKS)
                except Exception as failure:  # one line per failing case; the run goes on
                    failures.append(f"{case.method} {case.formatted_path} {case.query}: {failure}")

            try:
                exercise()
            except Unsatisfiable:
                # An operation without parameters or body has no invalid input to generate.
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert calls > 100
    return failures


async def test_no_operation_answers_a_server_error(api: Api) -> None:
    failures = await asyncio.to_thread(_fuzz, api.base_url)
    assert failures == [], "\n".join(failures[:10])
