"""schemathesis against the Bookshelf HTTP API: generated requests, schema-valid and not.

Every answer must be documented in the OpenAPI schema (status, content type and
body), and no request may make the server fail (no 5xx). The example count per
operation is bounded (``ARCHIPEL_SCHEMATHESIS_EXAMPLES``, default 25) to keep CI fast.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from examples.bookshelf.api import app
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from archipel.integrations.pytest import DomainFixture
from tests.examples._bookshelf import memory_bookshelf

EXAMPLES = int(os.environ.get("ARCHIPEL_SCHEMATHESIS_EXAMPLES", "25"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


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
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
