"""Protean's ``protean.utils.telemetry`` for code that adds its own spans::

    from archipel.utils.telemetry import get_tracer, set_span_error

    with get_tracer(domain).start_as_current_span("cache.get") as span:
        try:
            ...
        except Exception as exc:
            set_span_error(span, exc)
            raise

- :func:`get_tracer` / :func:`get_meter`: OpenTelemetry's tracer and meter. archipel
  traces per process (``[telemetry] enabled`` or
  :func:`archipel.utils.tracing.enable_tracing`); without tracing, or without
  OpenTelemetry installed, spans record nothing (``domain.tracer`` is ``get_tracer(domain)``).
- :func:`set_span_error`: the exception recorded on the span, its status ERROR with
  :func:`describe_exception` as the description.
- :func:`describe_exception`: ``"Type: message"``, or every member of an exception group
  (nested groups to five levels, 2,000 characters at most); never raises.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["describe_exception", "get_meter", "get_tracer", "set_span_error"]

_log = logging.getLogger(__name__)

#: how deep nested exception groups are described, and how long a description gets
_MAX_DEPTH = 5
_MAX_LENGTH = 2000


class _NoOpSpan:
    """A span that records nothing (OpenTelemetry not installed)."""

    def __enter__(self) -> _NoOpSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set_attribute(self, key: str, value: Any) -> None:
        """Nothing is recorded."""

    def add_event(self, name: str, attributes: Any = None) -> None:
        """Nothing is recorded."""

    def record_exception(self, exception: BaseException, attributes: Any = None) -> None:
        """Nothing is recorded."""

    def set_status(self, status: Any, description: str | None = None) -> None:
        """Nothing is recorded."""

    def is_recording(self) -> bool:
        """Never."""
        return False


class NoOpTracer:
    """The tracer without OpenTelemetry installed: its spans record nothing."""

    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> _NoOpSpan:
        """A span recording nothing."""
        return _NoOpSpan()

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> _NoOpSpan:
        """A span recording nothing."""
        return _NoOpSpan()


def get_tracer(domain: Any = None, name: str = "archipel") -> Any:
    """The tracer archipel traces with (named ``name`` when tracing is on), else a no-op
    tracer. ``domain`` is Protean's argument: archipel's tracing is per process."""
    from archipel.utils import tracing

    if tracing.tracer is not None:
        return tracing.tracer if name == "archipel" else tracing.tracer_provider.get_tracer(name)
    try:
        from opentelemetry import trace
    except ImportError:
        return NoOpTracer()
    return trace.NoOpTracer()


def get_meter(domain: Any = None, name: str = "archipel") -> Any:
    """A meter named ``name`` from OpenTelemetry's global meter provider (no-op unless one
    is set; archipel's own metrics are Prometheus's). Without OpenTelemetry: an error
    naming the extra to install."""
    try:
        from opentelemetry import metrics
    except ImportError as exc:
        from archipel.errors import ConfigurationError

        raise ConfigurationError(f"a meter needs OpenTelemetry ({exc}): pip install 'archipel[otel]'") from exc
    return metrics.get_meter(name)


def describe_exception(exc: BaseException, _depth: int = 0) -> str:
    """``exc`` as one line: ``"Type: message"``, or for an exception group its message and
    each member's description joined by ``"; "`` (see the module docstring)."""
    try:
        if isinstance(exc, BaseExceptionGroup):
            if _depth >= _MAX_DEPTH:
                return f"{type(exc).__name__}: <nested too deeply to render>"
            parts: list[str] = []
            room = _MAX_LENGTH
            for member in exc.exceptions:
                part = describe_exception(member, _depth + 1)
                parts.append(part)
                room -= len(part) + 2
                if room <= 0:  # enough: a huge group is not rendered whole
                    parts.append("... <truncated>")
                    break
            text = f"{exc.message}: " + "; ".join(parts)
        else:
            text = f"{type(exc).__name__}: {exc}"
    except Exception as failure:  # noqa: BLE001 - a __str__ is user code; say it failed
        _log.debug("could not describe a %s: %r", type(exc).__name__, failure)
        return f"{type(exc).__name__}: <unprintable>"
    return text if len(text) <= _MAX_LENGTH else text[:_MAX_LENGTH] + " ... <truncated>"


def set_span_error(span: Any, exc: BaseException) -> None:
    """Record ``exc`` on ``span`` and set its status to ERROR, described by
    :func:`describe_exception`."""
    span.record_exception(exc)
    description = describe_exception(exc)
    try:
        from opentelemetry.trace import StatusCode
    except ImportError:
        span.set_status("ERROR", description=description)
        return
    span.set_status(StatusCode.ERROR, description=description)
