"""A stored message in Protean's wire forms: its nested dict and CloudEvents 1.0.

archipel stores a message's envelope flat (``{"metadata": {"id", "type", "stream",
...}, "data": {...}}``). Protean's ``Message.to_dict()`` nests it —
``metadata.headers`` (id, time, type, stream, traceparent, idempotency_key,
deadline), ``.envelope`` (specversion, checksum), ``.domain`` (fqn, kind, ...,
correlation_id, causation_id), ``.event_store`` (positions), ``.extensions`` — and
``Message.to_cloudevent()`` maps it onto a CloudEvents 1.0 JSON object
(https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md) with Protean's
extension attributes (``proteankind``, ``proteancorrelationid``, ...). These
functions turn archipel's flat form into both and back, so that a message crosses
to a Protean service, or any CloudEvents consumer, unchanged.

The checksum is Protean's: SHA-256 of the data as compact JSON with sorted keys.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from archipel.core.envelope_views import DOMAIN_META_FIELDS

__all__ = [
    "CE_REQUIRED",
    "checksum",
    "external",
    "cloudevent_to_flat",
    "flat_to_cloudevent",
    "flat_to_nested",
    "is_nested",
    "nested_to_flat",
]

#: the attributes every CloudEvent has
CE_REQUIRED = ("specversion", "id", "type", "source")
#: CloudEvents attributes that are not extensions (mapped one by one)
_CE_CONTEXT = frozenset({*CE_REQUIRED, "time", "subject", "datacontenttype", "dataschema", "data"})
#: Protean's extension attributes, and the flat envelope key each carries
_CE_EXTENSIONS = {
    "proteancorrelationid": "correlation_id",
    "proteancausationid": "causation_id",
    "proteankind": "kind",
}
_JSON = "application/json"
#: the internal fields ``to_external_dict`` leaves out (Protean's list)
_INTERNAL_DOMAIN = ("expected_version", "asynchronous", "priority")


def checksum(data: Any) -> str:
    """Protean's integrity checksum of a message's data."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def flat_to_nested(metadata: Any, data: dict[str, Any], digest: str | None) -> dict[str, Any]:
    """Protean's ``Message.to_dict()`` of a stored message (``metadata``: its envelope view)."""
    headers = dict(metadata.get("headers") or {})
    domain = metadata.domain
    return {
        "data": data,
        "metadata": {
            "headers": {
                "id": metadata.get("id"),
                "time": _text(metadata.get("time")),
                "type": metadata.get("type"),
                "stream": metadata.get("stream"),
                "traceparent": headers.get("traceparent"),
                "idempotency_key": headers.get("idempotency_key"),
                "deadline": _text(headers.get("deadline")),
            },
            "envelope": {"specversion": "1.0", "checksum": digest},
            "domain": {name: getattr(domain, name) for name in DOMAIN_META_FIELDS},
            "event_store": {
                "global_position": metadata.get("global_position"),
                "position": metadata.get("position"),
            },
            "extensions": dict(metadata.get("extensions") or {}),
        },
    }


def external(nested: dict[str, Any]) -> dict[str, Any]:
    """``nested`` without what only the producer needs (Protean's ``to_external_dict``)."""
    metadata = nested["metadata"]
    domain = {k: v for k, v in metadata["domain"].items() if k not in _INTERNAL_DOMAIN}
    headers = {k: v for k, v in metadata["headers"].items() if k not in ("idempotency_key", "deadline")}
    return {"data": nested["data"], "metadata": {"headers": headers, "domain": domain, "extensions": metadata["extensions"]}}


def is_nested(metadata: Any) -> bool:
    """True for Protean's nested envelope (``headers`` holding the id, ``domain`` a dict)."""
    headers = metadata.get("headers") if isinstance(metadata, dict) else None
    return isinstance(headers, dict) and "id" in headers and isinstance(metadata.get("domain"), dict)


def nested_to_flat(metadata: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """archipel's flat envelope of Protean's nested one, and the checksum it carried."""
    headers = dict(metadata.get("headers") or {})
    domain = dict(metadata.get("domain") or {})
    store = dict(metadata.get("event_store") or {})
    envelope = dict(metadata.get("envelope") or {})
    kept_headers = {k: headers[k] for k in ("traceparent", "idempotency_key", "deadline") if headers.get(k)}
    flat: dict[str, Any] = {
        "id": headers.get("id"),
        "type": headers.get("type"),
        "stream": headers.get("stream"),
        "time": headers.get("time"),
        "kind": domain.get("kind"),
        "version": domain.get("version") or 1,
        "position": store.get("position"),
        "global_position": store.get("global_position"),
        "correlation_id": domain.get("correlation_id"),
        "causation_id": domain.get("causation_id"),
        "priority": domain.get("priority") or 0,
        "asynchronous": bool(domain.get("asynchronous", False)),
    }
    if kept_headers:
        flat["headers"] = kept_headers
    if metadata.get("extensions"):
        flat["extensions"] = dict(metadata["extensions"])
    return flat, envelope.get("checksum")


def flat_to_cloudevent(
    metadata: Any, data: dict[str, Any], source: str, digest: str | None
) -> dict[str, Any]:
    """The CloudEvents 1.0 JSON object of a stored message (Protean's ``to_cloudevent``)."""
    headers = metadata.get("headers") or {}
    stream = metadata.get("stream") or ""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": metadata.get("id"),
        "type": metadata.get("type"),
        "source": source,
        "time": _text(metadata.get("time")),
        "subject": stream.partition("-")[2] or None,
        "datacontenttype": _JSON,
        "data": data,
        "traceparent": headers.get("traceparent"),
    }
    sequence = metadata.domain.sequence_id
    if sequence is not None:
        event["sequence"] = sequence
        event["proteansequencetype"] = "DotNotation" if "." in sequence else "Integer"
    for attribute, key in _CE_EXTENSIONS.items():
        event[attribute] = metadata.get(key)
    event["proteanchecksum"] = digest
    extensions = metadata.get("extensions") or {}
    event.update({k: v for k, v in extensions.items() if not k.startswith("_")})
    return {k: v for k, v in event.items() if v is not None}


def cloudevent_to_flat(event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """``(flat envelope, data, checksum)`` of a CloudEvents 1.0 JSON object (Protean's mapping).

    ``ValueError`` naming what is missing, or a ``specversion`` other than 1.0.
    """
    if not isinstance(event, dict):
        raise ValueError(f"a CloudEvent is a JSON object, got {type(event).__name__}")
    missing = [name for name in CE_REQUIRED if name not in event]
    if missing:
        raise ValueError(f"CloudEvent is missing required attribute(s): {', '.join(missing)}")
    if event["specversion"] != "1.0":
        raise ValueError(f"CloudEvent specversion {event['specversion']!r} is not supported: only '1.0'")
    extensions: dict[str, Any] = {"ce_source": event["source"]}
    for name in ("subject", "dataschema"):
        if name in event:
            extensions[f"ce_{name}"] = event[name]
    if event.get("datacontenttype") not in (None, _JSON):
        extensions["ce_datacontenttype"] = event["datacontenttype"]
    known = _CE_CONTEXT | set(_CE_EXTENSIONS) | {"traceparent", "sequence", "proteansequencetype", "proteanchecksum"}
    extensions.update({k: v for k, v in event.items() if k not in known})
    type_string = str(event["type"])
    version = type_string.rpartition(".v")[2]
    flat: dict[str, Any] = {
        "id": event["id"],
        "type": type_string,
        "time": event.get("time"),
        "kind": event.get("proteankind"),
        "version": int(version) if version.isdigit() else 1,
        "correlation_id": event.get("proteancorrelationid"),
        "causation_id": event.get("proteancausationid"),
        "extensions": extensions,
    }
    sequence = event.get("sequence")
    if isinstance(sequence, str) and sequence.isdigit():
        flat["position"] = int(sequence)
    if event.get("traceparent"):
        flat["headers"] = {"traceparent": event["traceparent"]}
    data = event.get("data", {})
    if not isinstance(data, dict):
        raise ValueError(f"CloudEvent data must be a JSON object to become a Message, got {type(data).__name__}")
    return flat, data, event.get("proteanchecksum")
