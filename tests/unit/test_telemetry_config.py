"""Protean's ``[telemetry]`` table: with ``enabled = true`` the domain's traces are exported.

The OTLP test runs a real HTTP collector on loopback and decodes what the
exporter posts (OTLP/HTTP, protobuf), so nothing here is mocked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from archipel import BaseAggregate, BaseCommand, Domain, handle
from archipel.errors import ConfigurationError
from archipel.fields import String
from archipel.utils import tracing

pytest.importorskip("opentelemetry.sdk")


def _domain(telemetry: dict) -> tuple[Domain, type]:
    domain = Domain(name="Orders", config={"telemetry": telemetry})

    @domain.aggregate
    class Order(BaseAggregate):
        item = String()

    @domain.command(part_of=Order)
    class PlaceOrder(BaseCommand):
        item = String()

    @domain.command_handler(part_of=Order)
    class Orders:
        @handle(PlaceOrder)
        def place(self, command):
            domain.repository_for(Order).add(Order(item=command.item))

    return domain, PlaceOrder


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """An OTLP/HTTP collector on a free loopback port; the (path, body) of each POST."""
    received: list[tuple[str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", received
    finally:
        server.shutdown()
        server.server_close()


def _spans_and_resources(requests: list) -> tuple[list[str], list[dict[str, str]]]:
    spans, resources = [], []
    for request in requests:
        for resource_spans in request.resource_spans:
            resources.append({a.key: a.value.string_value for a in resource_spans.resource.attributes})
            spans += [span.name for scope in resource_spans.scope_spans for span in scope.spans]
    return spans, resources


def test_otlp_over_http_exports_the_domain_s_spans_with_its_resource(collector, monkeypatch):
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    endpoint, received = collector
    domain, place = _domain(
        {
            "enabled": True,
            "exporter": "otlp",
            "endpoint": endpoint,
            "service_name": "orders-svc",
            "resource_attributes": {"deployment.environment": "test"},
        }
    )
    domain.init(traverse=False)
    try:
        assert tracing.tracer is not None
        with domain.domain_context():
            domain.process(place(item="book"))
    finally:
        domain.shutdown()  # flushes the batch processor
    assert tracing.tracer is None  # tracing stops with the domain that started it
    assert received and {path for path, _ in received} == {"/v1/traces"}
    spans, resources = _spans_and_resources([ExportTraceServiceRequest.FromString(b) for _, b in received])
    assert resources[0]["service.name"] == "orders-svc"
    assert resources[0]["deployment.environment"] == "test"
    assert any(name.startswith("process ") for name in spans), spans


def test_otlp_defaults_to_grpc_as_in_protean(monkeypatch):
    """A real gRPC OTLP collector on loopback receives the spans (Protean's transport)."""
    grpc = pytest.importorskip("grpc")
    pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc")
    from concurrent import futures

    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    received: list = []

    class Collector(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # noqa: N802 - the service's method name
            received.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Collector(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        domain, place = _domain({"enabled": True, "endpoint": f"http://127.0.0.1:{port}"})
        domain.init(traverse=False)
        try:
            with domain.domain_context():
                domain.process(place(item="lamp"))
        finally:
            domain.shutdown()
    finally:
        server.stop(None)
    spans, resources = _spans_and_resources(received)
    assert resources and resources[0]["service.name"] == "orders"
    assert any(name.startswith("process ") for name in spans), spans


def test_an_unknown_otlp_protocol_is_an_error(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    domain, _ = _domain({"enabled": True})
    with pytest.raises(ConfigurationError, match="'http/json' is not an OTLP protocol: use grpc or http/protobuf"):
        domain.init(traverse=False)
    assert tracing.tracer is None


def test_console_exporter_and_the_default_service_name(capsys):
    domain, place = _domain({"enabled": True, "exporter": "console"})
    domain.init(traverse=False)
    try:
        with domain.domain_context():
            domain.process(place(item="pen"))
    finally:
        domain.shutdown()
    out = capsys.readouterr().out
    assert '"service.name": "orders"' in out
    assert '"name": "process ' in out


def test_disabled_by_default_nothing_is_traced():
    domain, _ = _domain({"exporter": "console"})
    domain.init(traverse=False)
    try:
        assert tracing.tracer is None
    finally:
        domain.shutdown()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"enabled": True, "exporter": "jaeger"}, r"Unknown \[telemetry\] exporter 'jaeger'; use one of otlp, console"),
        ({"enabled": True, "sample_rate": 0.5}, r"Unknown \[telemetry\] key 'sample_rate'; known: enabled"),
        ({"enabled": "yes"}, r"Invalid \[telemetry\] enabled 'yes'; expected true or false"),
        ({"resource_attributes": ["a"]}, r"Invalid \[telemetry\] resource_attributes \['a'\]"),
        ({"endpoint": 4317}, r"Invalid \[telemetry\] endpoint 4317; expected a string"),
    ],
)
def test_a_wrong_table_is_an_error_naming_the_key(table, message):
    domain, _ = _domain(table)
    with pytest.raises(ConfigurationError, match=message):
        domain.init(traverse=False)
    assert tracing.tracer is None
