"""Per-class options of a domain element (``Cls._meta``).

Options are filled by ``Domain.register`` (kind, domain name, ``part_of``,
stream category, type string, ...) and read by the handling layer. Computing
them once at registration keeps introspection off the hot path.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ElementOptions"]


#: options an element may be registered with, and their values when not given
#: (read through ``Cls.meta_.<option>``, Protean's spelling)
_OPTION_DEFAULTS: dict[str, Any] = {
    "is_event_sourced": False,
    "event_sourced": False,
    "schema_name": None,
    "database": "default",
    "provider": "default",
    "limit": 100,
    "auto_add_id_field": True,
    "aggregates": (),
    "stream_categories": (),
    "source_stream": None,
    "projector_for": None,
    "inline": False,
    "cache": None,
    "indexes": (),
    "stream": None,
    "broker": "default",
    "deprecated": None,
    "superseded_by": None,
}


class ElementOptions:
    """What the domain knows about one element class."""

    __slots__ = (
        "kind",
        "domain",
        "domain_name",
        "name",
        "part_of",
        "stream_category",
        "type_string",
        "version",
        "fact_events",
        "published",
        "abstract",
        "extra",
    )

    def __init__(self, kind: str = "", name: str = "") -> None:
        self.kind = kind
        self.domain: Any = None
        self.domain_name: str | None = None
        self.name = name
        self.part_of: Any = None
        self.stream_category: str | None = None
        self.type_string: str | None = None
        self.version = 1
        self.fact_events = False
        self.published = False
        self.abstract = False
        self.extra: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        """Return an extra option given at registration (``stream_category``, ...)."""
        return self.extra.get(key, default)

    def __getattr__(self, name: str) -> Any:
        # Protean's ``Cls.meta_.<option>``: an option given at registration, else its
        # default; a name that is no element option is an AttributeError (not None)
        if name.startswith("_"):
            raise AttributeError(name)
        extra = self.extra
        if name in extra:
            return extra[name]
        if name in _OPTION_DEFAULTS:
            return _OPTION_DEFAULTS[name]
        raise AttributeError(f"{self.name or 'element'} has no option {name!r}")

    def __repr__(self) -> str:
        return f"ElementOptions(kind={self.kind!r}, name={self.name!r}, domain={self.domain_name!r})"
