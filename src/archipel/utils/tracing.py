"""OpenTelemetry tracing of message handling (extra ``otel``); off by default, free when off.

``enable_tracing(provider)`` turns it on for this process (``provider``: an
SDK ``TracerProvider``; default: the global one). Then:

- ``Domain.process`` runs in a span (``send <category>`` when the command is
  queued for the server, ``process <category>`` when handled in place);
- the engine runs every message it handles in a ``process <category>`` span
  (kind CONSUMER), child of the span that produced the message;
- an HTTP request through archipel's FastAPI middleware runs in a span (kind
  SERVER, child of the request's ``traceparent``), unless another
  instrumentation already opened one, so the commands it sends join its trace;
- the outbox relay publishes each batch in a ``send`` span (kind PRODUCER)
  linked to the messages' spans;
- every message written while a span is current carries that span in its
  headers as W3C ``traceparent`` (and ``tracestate``), so a chain of commands
  and events is one trace across processes.

Spans carry the messaging semantic-convention attributes
(``messaging.system = "archipel"``, ``messaging.operation.type``,
``messaging.destination.name``, ``messaging.message.id``,
``messaging.message.conversation_id`` = the correlation id,
``messaging.consumer.group.name`` = the subscription).

When off, :data:`tracer` is None and each instrumented place costs one
attribute test (``bench/bench_tracing.py`` measures it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from archipel.errors import ConfigurationError

__all__ = [
    "consume_span",
    "disable_tracing",
    "enable_tracing",
    "produce_span",
    "publish_span",
    "request_span",
    "stamp",
    "tracer",
]

#: the OpenTelemetry tracer while tracing is on; None when off (test it before any call here)
tracer: Any = None
#: the ``TracerProvider`` :data:`tracer` comes from (None when off)
tracer_provider: Any = None
_propagator: Any = None
SYSTEM = "archipel"


def enable_tracing(provider: Any = None) -> None:
    """Trace message handling in this process with ``provider`` (default: the global one)."""
    global tracer, tracer_provider, _propagator
    try:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError as exc:
        raise ConfigurationError(
            f"tracing needs OpenTelemetry ({exc}): pip install 'archipel[otel]'"
        ) from exc
    from importlib.metadata import PackageNotFoundError, version

    try:
        release: str | None = version("archipel")
    except PackageNotFoundError:  # running from a source tree
        release = None
    source = provider if provider is not None else trace.get_tracer_provider()
    _propagator = TraceContextTextMapPropagator()
    tracer = source.get_tracer("archipel", release)
    tracer_provider = source


def disable_tracing() -> None:
    """Stop tracing (what is in flight finishes)."""
    global tracer, tracer_provider
    tracer = tracer_provider = None


def _category(stream: Any) -> str:
    text = str(stream or "")
    return text.split("-", 1)[0] if "-" in text else text


def _attributes(operation: str, meta: Mapping[str, Any], group: str | None = None) -> dict[str, Any]:
    found = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        "messaging.destination.name": _category(meta.get("stream")),
        "messaging.message.id": str(meta.get("id") or ""),
        "messaging.message.conversation_id": str(meta.get("correlation_id") or ""),
        "archipel.message.type": str(meta.get("type") or ""),
    }
    if group:
        found["messaging.consumer.group.name"] = group
    return found


def stamp(metadata: Any) -> None:
    """Write the current span into a message's headers (``traceparent``), unless already there."""
    headers = metadata.headers
    if "traceparent" not in headers:
        _propagator.inject(headers)


def _headers_of(meta: Mapping[str, Any]) -> Mapping[str, Any]:
    headers = meta.get("headers")
    return headers if isinstance(headers, Mapping) else {}


@contextmanager
def produce_span(metadata: Any, queued: bool) -> Iterator[Any]:
    """The span of ``Domain.process`` for a command; stamps the command with it."""
    from opentelemetry.trace import SpanKind

    values = metadata.__dict__
    operation = "send" if queued else "process"
    name = f"{operation} {_category(values.get('stream'))}"
    kind = SpanKind.PRODUCER if queued else SpanKind.INTERNAL
    with tracer.start_as_current_span(name, kind=kind, attributes=_attributes(operation, values)) as span:
        stamp(metadata)
        yield span


@contextmanager
def consume_span(payload: Mapping[str, Any], group: str) -> Iterator[Any]:
    """The span of one message handled by the engine, child of the span that produced it."""
    from opentelemetry.trace import SpanKind

    meta = payload.get("metadata") if isinstance(payload, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    parent = _propagator.extract(_headers_of(meta))
    name = f"process {_category(meta.get('stream'))}"
    with tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.CONSUMER, attributes=_attributes("process", meta, group)
    ) as span:
        yield span


@contextmanager
def publish_span(payloads: Sequence[Mapping[str, Any]]) -> Iterator[Any]:
    """The relay's span for one published batch, linked to each message's span."""
    from opentelemetry import trace
    from opentelemetry.trace import Link, SpanKind

    links = []
    for payload in payloads:
        meta = payload.get("metadata") if isinstance(payload, Mapping) else None
        if isinstance(meta, Mapping):
            context = trace.get_current_span(_propagator.extract(_headers_of(meta))).get_span_context()
            if context.is_valid:
                links.append(Link(context))
    attributes = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.batch.message_count": len(payloads),
    }
    with tracer.start_as_current_span(
        "send outbox", kind=SpanKind.PRODUCER, links=links, attributes=attributes
    ) as span:
        yield span


@contextmanager
def request_span(method: str, path: str, headers: Mapping[str, str]) -> Iterator[Any]:
    """The span of one HTTP request (kind SERVER), child of its ``traceparent`` header.

    Yields None (and opens nothing) when a span is already current: the app is
    instrumented by something else (e.g. opentelemetry-instrumentation-fastapi).
    Set ``http.response.status_code`` on the yielded span once it is known.
    """
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    if trace.get_current_span().get_span_context().is_valid:
        yield None
        return
    parent = _propagator.extract(headers)
    attributes = {"http.request.method": method, "url.path": path}
    with tracer.start_as_current_span(
        f"{method} {path}", context=parent, kind=SpanKind.SERVER, attributes=attributes
    ) as span:
        yield span
        code = span.attributes.get("http.response.status_code") if hasattr(span, "attributes") else None
        if isinstance(code, int) and code >= 500:
            span.set_status(Status(StatusCode.ERROR))
