"""``--json``: machine-readable output for scripts, in the observatory's ``/api`` shapes.

Shapes (documented in docs/guide.md, "The CLI in scripts"; stable: keys may be
added, never renamed or removed):

- ``archipel dlq list --json``: ``{"domain", "total", "dead_letters": [...], "groups": [...]}``
  (as ``GET /api/domains/{name}/dead-letters``)
- ``archipel dlq inspect ID --json``: one dead letter in full (``.../dead-letters/{id}``)
- ``archipel subscriptions status --json``: ``{"domain", "subscriptions": [...], "source"}``
  (as ``GET /api/domains/{name}/subscriptions``)
- ``archipel events list --json``: ``{"domain", "events": [...], "last_position"}``
  (as ``GET /api/domains/{name}/events``)
- ``archipel events trace ID --json``: the causation tree (as ``GET /api/trace/{id}``)
- ``archipel events read|search|history|stats --json``: see :mod:`archipel.cli.event_reads`
- ``archipel eventstore verify --json``: ``{"domain", "clean", "messages", "streams",
  "violations": [{"check", "stream", "detail"}], "more_violations"}``
- ``archipel outbox reconcile --json``: see :mod:`archipel.cli.outbox`
- ``archipel idempotency cleanup --json``: see :mod:`archipel.cli.idempotency`
- ``archipel schema generate|render --json``: ``{"domain", "output", "files"}``
- ``archipel version --json``: ``{"archipel", "python"}``
- ``archipel recover --verify-checkpoints --json``: Protean's envelope, see :mod:`archipel.cli.recover`
- ``archipel upgrade-check --format json``: Protean's list of findings, see :mod:`archipel.cli.upgrade`

JSON goes to stdout, one document, nothing else; errors still go to stderr
with the exit status (0 ok, 1 not found or failed, 2 wrong usage).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import msgspec
import typer

__all__ = ["JsonOption", "print_json"]

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts (the observatory's /api shape).")
]

_encoder = msgspec.json.Encoder(enc_hook=str)


def print_json(document: Any) -> None:
    """Write ``document`` as one line of JSON (UTF-8) to stdout."""
    sys.stdout.write(_encoder.encode(document).decode() + "\n")
    sys.stdout.flush()
