"""OpenTelemetry: one trace per correlation chain, in one process and across two."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402

from archipel.engine import run_server  # noqa: E402
from archipel.utils import tracing  # noqa: E402
from tests.engine.bank import build_bank  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable_tracing(provider)
    try:
        yield exporter
    finally:
        tracing.disable_tracing()
        provider.shutdown()


def test_a_command_and_what_it_causes_are_one_trace(make_bank, spans):
    bank = make_bank(partitions=1)
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        bank.process(deposit(account_id="a", amount=1, seq=1))
    assert run_server(bank, test_mode=True) == 0

    finished = spans.get_finished_spans()
    send = next(s for s in finished if s.name.startswith("send ") and s.name != "send outbox")
    assert send.kind == SpanKind.PRODUCER
    consumed = [s for s in finished if s.kind == SpanKind.CONSUMER]
    groups = {s.attributes["messaging.consumer.group.name"].rsplit(".", 1)[-1] for s in consumed}
    assert groups == {"AccountCommands", "LedgerProjector"}
    assert {s.context.trace_id for s in consumed} == {send.context.trace_id}
    handled = next(s for s in consumed if s.attributes["messaging.consumer.group.name"].endswith("AccountCommands"))
    projected = next(s for s in consumed if s is not handled)
    assert handled.parent.span_id == send.context.span_id  # the command, under its sender
    assert projected.parent.span_id == handled.context.span_id  # its event, under the handling
    attributes = projected.attributes
    assert attributes["messaging.system"] == "archipel"
    assert attributes["messaging.operation.type"] == "process"
    assert attributes["messaging.destination.name"] == f"{bank.snake_name}::account"
    assert attributes["messaging.message.conversation_id"] == send.attributes["messaging.message.conversation_id"]
    relay = [s for s in finished if s.name == "send outbox"]
    assert relay and any(link.context.trace_id == send.context.trace_id for s in relay for link in s.links)


def test_sync_processing_is_traced_in_place(spans):
    bank = build_bank(f"Bank{uuid.uuid4().hex[:6]}", {"command_processing": "sync", "event_processing": "sync"})
    bank.init(traverse=False)
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        bank.setup_database()
        bank.process(deposit(account_id="a", amount=1, seq=1))
        (stored_event,) = [m for m in bank.event_store.read_all(after_global=0, limit=10) if m["metadata"]["kind"] == "EVENT"]
    (span,) = [s for s in spans.get_finished_spans() if s.name.startswith("process ")]
    assert span.kind == SpanKind.INTERNAL
    traceparent = stored_event["metadata"]["headers"]["traceparent"]
    assert traceparent.split("-")[1] == f"{span.context.trace_id:032x}"  # the event carries the span


def test_tracing_off_writes_no_trace_headers(make_bank):
    assert tracing.tracer is None
    bank = make_bank(partitions=1)
    with bank.domain_context():
        bank.process(bank.elements["Deposit"](account_id="a", amount=1, seq=1))
        (command,) = bank.event_store.read_all(after_global=0, limit=10)
    assert "traceparent" not in (command["metadata"].get("headers") or {})


def test_one_trace_spans_two_processes(postgres_db_url, redis_flushed_url, spans, tmp_path):
    from tests.reliability.conftest import base_config

    name = f"Bank{uuid.uuid4().hex[:6]}"
    config = base_config(postgres_db_url, redis_flushed_url, partitions=1)
    bank = build_bank(name, config)
    bank.init(traverse=False)
    with bank.domain_context():
        bank.setup_database()
        bank.process(bank.elements["Deposit"](account_id=f"x{uuid.uuid4().hex[:6]}", amount=1, seq=1))
    (send,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.PRODUCER]
    span_file = tmp_path / "spans.jsonl"
    env = {
        **os.environ,
        "ARCHIPEL_TEST_DOMAIN": name,
        "ARCHIPEL_TEST_CONFIG": json.dumps(config),
        "ARCHIPEL_TEST_SPANS": str(span_file),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.engine.otel_worker"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = [json.loads(line) for line in span_file.read_text().splitlines()]
    consumed = [s for s in theirs if s["kind"] == "CONSUMER"]
    assert len(consumed) == 2  # the command handler, then the projector
    assert {s["pid"] for s in consumed} != {os.getpid()}
    assert {s["trace_id"] for s in consumed} == {f"{send.context.trace_id:032x}"}
    handled = next(s for s in consumed if s["parent_id"] == f"{send.context.span_id:016x}")
    assert any(s["parent_id"] == handled["span_id"] for s in consumed)
    bank.shutdown()


def test_the_span_of_an_instrumented_http_request_is_the_parent(spans):
    # what opentelemetry-instrumentation-fastapi does around an endpoint calling domain.process
    bank = build_bank(f"Bank{uuid.uuid4().hex[:6]}", {"command_processing": "sync", "event_processing": "sync"})
    bank.init(traverse=False)
    with bank.domain_context():
        bank.setup_database()
        with tracing.tracer.start_as_current_span("POST /deposits") as request:
            bank.process(bank.elements["Deposit"](account_id="a", amount=1, seq=1))
    (handled,) = [s for s in spans.get_finished_spans() if s.name.startswith("process ")]
    assert handled.parent.span_id == request.get_span_context().span_id
    assert handled.context.trace_id == request.get_span_context().trace_id


def test_archipel_s_middleware_traces_the_request_under_the_caller_s_traceparent(spans):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from archipel.integrations.fastapi import DomainContextMiddleware

    bank = build_bank(f"Bank{uuid.uuid4().hex[:6]}", {"command_processing": "sync", "event_processing": "sync"})
    bank.init(traverse=False)
    with bank.domain_context():
        bank.setup_database()
    app = FastAPI()
    app.add_middleware(DomainContextMiddleware, route_domain_map={"/": bank})

    @app.post("/deposits")
    def deposit() -> dict[str, str]:
        bank.process(bank.elements["Deposit"](account_id="a", amount=1, seq=1))
        return {"ok": "yes"}

    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with TestClient(app) as client:
        answer = client.post("/deposits", headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"})
    assert answer.status_code == 200
    finished = spans.get_finished_spans()
    (request,) = [s for s in finished if s.kind == SpanKind.SERVER]
    assert request.name == "POST /deposits"
    assert f"{request.context.trace_id:032x}" == caller_trace
    assert f"{request.parent.span_id:016x}" == caller_span
    assert request.attributes["http.response.status_code"] == 200
    (handled,) = [s for s in finished if s.name.startswith("process ")]
    assert handled.parent.span_id == request.context.span_id  # the command joins the request's trace
    bank.shutdown()


def _bank_app():
    from fastapi import FastAPI

    bank = build_bank(f"Bank{uuid.uuid4().hex[:6]}", {"command_processing": "sync", "event_processing": "sync"})
    bank.init(traverse=False)
    with bank.domain_context():
        bank.setup_database()
    app = FastAPI()

    @app.post("/deposits")
    def deposit() -> dict[str, str]:
        with bank.domain_context():
            bank.process(bank.elements["Deposit"](account_id="a", amount=1, seq=1))
        return {"ok": "yes"}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return bank, app


def test_instrument_app_traces_requests_and_skips_excluded_urls(spans):
    from fastapi.testclient import TestClient

    from archipel.integrations.fastapi import instrument_app

    bank, app = _bank_app()
    assert instrument_app(app, bank, excluded_urls="healthz,readyz") is True
    assert instrument_app(app, bank) is False  # already traced: nothing added twice
    with TestClient(app) as client:
        assert client.post("/deposits").status_code == 200
        health = client.get("/healthz")
    assert health.status_code == 200 and health.headers["X-Correlation-ID"]  # excluded: no span, an id
    finished = spans.get_finished_spans()
    assert [s.name for s in finished if s.kind == SpanKind.SERVER] == ["POST /deposits"]
    (request,) = [s for s in finished if s.kind == SpanKind.SERVER]
    (handled,) = [s for s in finished if s.name.startswith("process ")]
    assert handled.parent.span_id == request.context.span_id
    bank.shutdown()


def test_instrument_app_with_tracing_off_adds_nothing_and_refuses_unknown_options():
    from archipel.integrations.fastapi import instrument_app

    bank, app = _bank_app()
    assert tracing.tracer is None
    assert instrument_app(app, bank) is False and app.user_middleware == []
    with pytest.raises(TypeError, match="tracer_provider"):
        instrument_app(app, bank, tracer_provider=object())
    with pytest.raises(ValueError, match="not a list of regular expressions"):
        instrument_app(app, bank, excluded_urls="(unclosed")
    bank.shutdown()
