"""OpenTelemetry ids on log records and events, against Protean 0.18.

``OTelTraceContextFilter`` and ``protean_otel_processor`` (``archipel.integrations.logging``,
Protean's names; archipel's are ``TraceContextFilter`` and ``trace_context_processor``)
write ``trace_id``, ``span_id`` and ``trace_flags`` of the current span, and
``Domain.configure_logging()`` installs them only with ``[telemetry] enabled``. Each test
runs the same code under ``protean`` and ``archipel`` and compares what they wrote.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.logs.conftest import bare_root, json_lines

pytest.importorskip("protean", reason="the dev extra installs Protean 0.18")
trace = pytest.importorskip("opentelemetry.trace", reason="the otel extra installs OpenTelemetry")

FRAMEWORKS = ("protean", "archipel")


def integration(pkg: str) -> Any:
    return importlib.import_module(f"{pkg}.integrations.logging")


def span(trace_id: int, span_id: int, flags: int) -> Any:
    """A span (not recording) with these ids, to make current."""
    context = trace.SpanContext(trace_id=trace_id, span_id=span_id, is_remote=False, trace_flags=trace.TraceFlags(flags))
    return trace.NonRecordingSpan(context)


def written(pkg: str, current: Any | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """What ``pkg``'s filter set on a record and its processor put in an event, while
    ``current`` (or no span) is the current span."""
    module = integration(pkg)
    record = logging.LogRecord("myapp", logging.INFO, __file__, 1, "hello", None, None)

    def run() -> dict[str, Any]:
        assert module.OTelTraceContextFilter().filter(record) is True
        return dict(module.protean_otel_processor(None, "info", {"event": "hello"}))

    if current is None:
        event = run()
    else:
        with trace.use_span(current):
            event = run()
    return (record.trace_id, record.span_id, record.trace_flags), event


@settings(max_examples=60, deadline=None)
@given(
    trace_id=st.integers(0, 2**128 - 1),
    span_id=st.integers(0, 2**64 - 1),
    flags=st.integers(0, 255),
)
def test_the_filter_and_processor_write_what_protean_writes(trace_id, span_id, flags):
    current = span(trace_id, span_id, flags)
    ours = written("archipel", current)
    assert ours == written("protean", current)
    if trace_id and span_id:  # a valid span: its ids, as hex
        assert ours[0] == (f"{trace_id:032x}", f"{span_id:016x}", flags)
    else:
        assert ours[0] == ("", "", 0)
    assert ours[1] == {"event": "hello", "trace_id": ours[0][0], "span_id": ours[0][1], "trace_flags": ours[0][2]}


def test_without_a_span_the_ids_are_empty():
    assert written("archipel", None) == written("protean", None) == (
        ("", "", 0),
        {"event": "hello", "trace_id": "", "span_id": "", "trace_flags": 0},
    )


def test_the_names_are_archipels_own_objects():
    from archipel.utils.log_filters import TraceContextFilter, trace_context_processor

    module = integration("archipel")
    assert module.OTelTraceContextFilter is TraceContextFilter
    assert module.protean_otel_processor is trace_context_processor


def configured(pkg: str, telemetry: bool, capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """``Domain.configure_logging()`` of ``pkg`` (JSON lines, ``[telemetry] enabled =
    telemetry``, ``span_id`` redacted), then one record logged inside a span: the line's
    trace fields."""
    bare_root()
    framework = importlib.import_module(pkg)
    domain = framework.Domain(
        name="Traced",
        config={
            "telemetry": {"enabled": telemetry},
            "logging": {"redact": ["span_id"], "level": "INFO", "format": "json"},
        },
    )
    domain.configure_logging()
    capfd.readouterr()
    with trace.use_span(span(0xABC, 0xDEF, 1)):
        logging.getLogger("myapp.orders").warning("placed")
    lines = json_lines(capfd.readouterr().err)
    keep = ("event", "logger", "trace_id", "span_id", "trace_flags")
    return [{key: line[key] for key in keep if key in line} for line in lines]


@pytest.mark.parametrize("telemetry", [True, False])
def test_configure_logging_installs_them_with_telemetry_only(telemetry, capfd):
    ours = configured("archipel", telemetry, capfd)
    assert ours == configured("protean", telemetry, capfd)
    line = {"event": "placed", "logger": "myapp.orders"}
    if telemetry:  # the ids, then redaction: the span id is masked
        line |= {"trace_id": f"{0xABC:032x}", "span_id": "[REDACTED]", "trace_flags": 1}
    assert ours == [line]
