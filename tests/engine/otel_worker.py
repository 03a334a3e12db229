"""An engine process with tracing on, for the cross-process trace test.

``python -m tests.engine.otel_worker`` builds the bank named ``ARCHIPEL_TEST_DOMAIN`` with
the JSON config ``ARCHIPEL_TEST_CONFIG``, traces with the OpenTelemetry SDK into the JSON
lines file ``ARCHIPEL_TEST_SPANS``, and runs ``run_server(test_mode=True)``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class JsonLinesExporter(SpanExporter):
    """One JSON object per finished span."""

    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(self.path, "a", encoding="utf-8") as out:
            for span in spans:
                context = span.get_span_context()
                out.write(json.dumps({
                    "name": span.name,
                    "kind": span.kind.name,
                    "trace_id": f"{context.trace_id:032x}",
                    "span_id": f"{context.span_id:016x}",
                    "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                    "attributes": dict(span.attributes or {}),
                    "pid": os.getpid(),
                }) + "\n")
        return SpanExportResult.SUCCESS


def main() -> int:
    from archipel.engine import run_server
    from archipel.utils.tracing import enable_tracing
    from tests.engine.bank import build_bank

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(os.environ["ARCHIPEL_TEST_SPANS"])))
    enable_tracing(provider)
    bank = build_bank(os.environ["ARCHIPEL_TEST_DOMAIN"], json.loads(os.environ["ARCHIPEL_TEST_CONFIG"]))
    bank.init(traverse=False)
    try:
        with bank.domain_context():
            return run_server(bank, test_mode=True)
    finally:
        provider.shutdown()


if __name__ == "__main__":
    sys.exit(main())

