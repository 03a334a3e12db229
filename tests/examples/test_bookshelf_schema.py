"""schemathesis against the Bookshelf HTTP API: generated requests, schema-valid and not.

Every answer must be documented in the OpenAPI schema (status, content type and
body), no request may make the server fail (no 5xx), and no schema-valid request
may be rejected as malformed: the schema promises the request's shape, so a
schema-valid request never gets ``invalid_request`` (FastAPI's request
validation, 422). What the schema cannot say is the domain's to decide: an
ISBN's checksum, the stock, an order's state; those answers are business
outcomes the schema documents (``validation_error`` 400, ``invalid_operation``
422), so ``positive_data_acceptance`` expects them besides its defaults, and
:func:`schema_valid_requests_match_their_endpoint` tells the two 422s apart.
The example count per operation is bounded (``ARCHIPEL_SCHEMATHESIS_EXAMPLES``,
default 25) to keep CI fast.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from examples.bookshelf.api import app
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import CheckConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from archipel.integrations.pytest import DomainFixture
from tests.examples._bookshelf import memory_bookshelf

EXAMPLES = int(os.environ.get("ARCHIPEL_SCHEMATHESIS_EXAMPLES", "25"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
# the business outcomes a schema-valid request may still meet (documented by error_responses)
schema.config.checks.positive_data_acceptance = CheckConfig(
    expected_statuses=[*schema.config.checks.positive_data_acceptance.expected_statuses, "400", "422"]
)


@schemathesis.check
def schema_valid_requests_match_their_endpoint(ctx, response, case):
    """A schema-valid request is never refused as malformed (``invalid_request``):
    that would be a schema promising a shape the endpoint does not accept."""
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code != 422:
        return None
    body = response.json()
    if isinstance(body, dict) and body.get("error") == "invalid_request":
        raise AssertionError(f"schema-valid request refused as malformed: {body.get('errors')}")
    return None


@pytest.fixture(scope="module")
def bookshelf() -> Iterator[DomainFixture]:
    with memory_bookshelf() as fixture:
        yield fixture


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_answer_is_documented_and_none_is_a_server_error(case, bookshelf):
    case.call_and_validate(
        checks=[
            not_a_server_error,
            positive_data_acceptance,
            schema_valid_requests_match_their_endpoint,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
