"""schemathesis over the service's own OpenAPI schema, against a real server on 127.0.0.1:
generated requests, valid and invalid, never get a 5xx, and every answer matches the schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from .service_support import SHIPPED, config, running

OPERATIONS = [
    ("/v1/decide", "POST"),
    ("/v1/decide:batch", "POST"),
    ("/v1/pack", "GET"),
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/metrics", "GET"),
]


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[str, schemathesis.BaseSchema]]:
    with running(config(SHIPPED, watch=False, max_batch=20)) as base:
        yield base, schemathesis.openapi.from_url(base + "/openapi.json")


def test_the_schema_lists_every_operation(api: tuple[str, schemathesis.BaseSchema]) -> None:
    _, schema = api
    listed = {(op.ok().path, op.ok().method.upper()) for op in schema.get_all_operations()}
    assert listed == set(OPERATIONS)


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_answers_match_the_schema_and_none_is_a_server_error(
    api: tuple[str, schemathesis.BaseSchema], path: str, method: str
) -> None:
    base, schema = api
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        # Every other check runs. A request can match the generic schema and still carry
        # facts the pack refuses (a string where the pack declares a number): that is the
        # documented 422 invalid-facts, not a rejection of valid data.
        case.call_and_validate(base_url=base, excluded_checks=[positive_data_acceptance])

    check()
