"""Protean's ``[telemetry]`` table: export the domain's traces with OpenTelemetry's SDK.

A ported ``domain.toml`` keeps its table and behaves as in Protean::

    [telemetry]
    enabled = true
    service_name = "orders"            # default: the domain's normalised name
    exporter = "otlp"                  # or "console"
    endpoint = "http://collector:4317"
    resource_attributes = { "deployment.environment" = "prod" }

With ``enabled = true``, ``Domain.init()`` builds an SDK ``TracerProvider`` whose
resource carries ``service.name`` and the ``resource_attributes``, with a batch
span processor over the exporter, and turns on archipel's tracing of message
handling with it (:func:`archipel.utils.tracing.enable_tracing`);
``Domain.shutdown()`` flushes and closes it. ``otlp`` sends over gRPC, as Protean does
(``archipel[telemetry]``, Protean's extra, installs its exporter), or over HTTP when
OpenTelemetry's standard ``OTEL_EXPORTER_OTLP_PROTOCOL`` (or ``..._TRACES_PROTOCOL``) is
``http/protobuf`` or the gRPC exporter is not installed (``archipel[otel]`` installs the
HTTP one: port 4318, ``/v1/traces``). archipel's metrics are Prometheus's
(``archipel.engine.metrics``), so the table exports traces only.

Differences from Protean, each an error at ``init()`` rather than a warning and
nothing exported: an unknown key or exporter, a value of the wrong type. An
``otlp`` exporter whose packages are missing is logged as a warning, as in Protean.
Tracing is per process: with two domains enabled in one process, the last one
initialised sets the service name of the spans.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from archipel.errors import ConfigurationError
from archipel.utils.telemetry import get_tracer

__all__ = [
    "TELEMETRY_DEFAULTS",
    "check_telemetry",
    "domain_meter",
    "domain_tracer",
    "start_telemetry",
    "stop_telemetry",
]

_log = logging.getLogger("archipel.telemetry")

#: Protean's defaults, the keys the table takes
TELEMETRY_DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "service_name": None,
    "exporter": "otlp",
    "endpoint": None,
    "resource_attributes": {},
}
EXPORTERS = ("otlp", "console")
#: OTLP's transports, as ``OTEL_EXPORTER_OTLP_PROTOCOL`` names them
PROTOCOLS = ("grpc", "http/protobuf")
_TYPES: dict[str, tuple[type, ...]] = {
    "enabled": (bool,),
    "service_name": (str, type(None)),
    "exporter": (str,),
    "endpoint": (str, type(None)),
    "resource_attributes": (Mapping,),
}


def check_telemetry(table: Any) -> list[str]:
    """The problems of a ``[telemetry]`` table, one line each (empty: none or valid)."""
    if table is None:
        return []
    if not isinstance(table, Mapping):
        return [f"Invalid [telemetry] {table!r}; expected a table with {', '.join(TELEMETRY_DEFAULTS)}"]
    problems = [
        f"Unknown [telemetry] key {key!r}; known: {', '.join(TELEMETRY_DEFAULTS)}"
        for key in sorted(set(table) - set(TELEMETRY_DEFAULTS))
    ]
    for key, types in _TYPES.items():
        if key in table and not isinstance(table[key], types):
            problems.append(f"Invalid [telemetry] {key} {table[key]!r}; expected {_kind(key)}")
    exporter = table.get("exporter", "otlp")
    if isinstance(exporter, str) and exporter not in EXPORTERS:
        problems.append(f"Unknown [telemetry] exporter {exporter!r}; use one of {', '.join(EXPORTERS)}")
    return problems


def _kind(key: str) -> str:
    return {
        "enabled": "true or false",
        "resource_attributes": "a table of attributes",
    }.get(key, "a string")


def start_telemetry(domain: Any) -> Any | None:
    """Export ``domain``'s traces when ``[telemetry] enabled``; the provider, or None when off."""
    table = {**TELEMETRY_DEFAULTS, **(domain.config.get("telemetry") or {})}
    if not table["enabled"]:
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ConfigurationError(
            f"[telemetry] enabled = true needs OpenTelemetry's SDK ({exc}): pip install 'archipel[otel]'"
        ) from exc
    from archipel.utils.tracing import enable_tracing

    service = table["service_name"] or domain.normalized_name
    resource = Resource.create({"service.name": service, **dict(table["resource_attributes"])})
    provider = TracerProvider(resource=resource)
    exporter = _exporter(table["exporter"], table["endpoint"])
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    enable_tracing(provider)
    _log.info("telemetry: exporting %s's traces (service %s, exporter %s)", domain.name, service, table["exporter"])
    return provider


def _exporter(name: str, endpoint: str | None) -> Any | None:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stdout)  # the stdout of init() (its default: of import)
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", ""
    )
    if protocol not in ("", *PROTOCOLS):
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not an OTLP protocol: use {' or '.join(PROTOCOLS)}"
        )
    options = {"endpoint": endpoint} if endpoint else {}
    found = _otlp_exporter("grpc") if protocol in ("", "grpc") else None
    if found is None and protocol != "grpc":
        found = _otlp_exporter("http")
    if found is None:
        wanted = "opentelemetry-exporter-otlp-proto-grpc" if protocol == "grpc" else "archipel[telemetry]"
        _log.warning("[telemetry] exporter = 'otlp' but %s is not installed; no spans will be exported", wanted)
        return None
    return found(**options)


def _otlp_exporter(protocol: str) -> Any | None:
    """OpenTelemetry's OTLP span exporter class over ``grpc`` or ``http``; None if not installed."""
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc import trace_exporter as grpc_module

            return grpc_module.OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.http import trace_exporter as http_module

        return http_module.OTLPSpanExporter
    except ImportError:
        return None


def stop_telemetry(provider: Any | None) -> None:
    """Flush and close what :func:`start_telemetry` started, and stop tracing with it."""
    if provider is None:
        return
    from archipel.utils import tracing

    if tracing.tracer_provider is provider:
        tracing.disable_tracing()
    provider.shutdown()


def domain_tracer() -> Any:
    """The tracer archipel traces with (``[telemetry]``/``enable_tracing``), else a no-op tracer."""
    return get_tracer()


def domain_meter() -> Any:
    """A meter named ``archipel`` from OpenTelemetry's global meter provider (no-op unless set)."""
    try:
        from opentelemetry import metrics
    except ImportError as exc:
        raise ConfigurationError(f"domain.meter needs OpenTelemetry ({exc}): pip install 'archipel[otel]'") from exc
    return metrics.get_meter("archipel")
