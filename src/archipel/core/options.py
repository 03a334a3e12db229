"""Per-class options of a domain element (``Cls._meta``).

Options are filled by ``Domain.register`` (kind, domain name, ``part_of``,
stream category, type string, ...) and read by the handling layer. Computing
them once at registration keeps introspection off the hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    """What the domain knows about one element class.

    The options every element has are slots. The options given at registration
    (``extra``) are the instance's ``__dict__`` itself, and the defaults of the
    other known options are class attributes, so ``Cls.meta_.<option>``
    (Protean's spelling) reads an option given at registration, else its default,
    and a name that is neither is an ``AttributeError``. There is deliberately no
    ``__getattr__``: in CPython 3.11 a class defining one gets no specialised
    attribute load for any attribute of its instances, and these options are
    read on every command.
    """

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
        "__dict__",
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
        #: the options given at registration: the same dict as ``self.__dict__``
        #: (update it in place; assigning another dict would break the alias)
        self.extra: dict[str, Any] = self.__dict__

    def get(self, key: str, default: Any = None) -> Any:
        """Return an extra option given at registration (``stream_category``, ...)."""
        return self.extra.get(key, default)

    if TYPE_CHECKING:  # Protean's ``meta_.<option>``: any option, typed as Any

        def __getattr__(self, name: str) -> Any: ...

    def __repr__(self) -> str:
        return f"ElementOptions(kind={self.kind!r}, name={self.name!r}, domain={self.domain_name!r})"


# the defaults of the options not given at registration: class attributes, which the
# instance's ``__dict__`` (the options given) shadows; the slots above are data
# descriptors and win over both, as they did over ``__getattr__`` before
for _option, _default in _OPTION_DEFAULTS.items():
    setattr(ElementOptions, _option, _default)
del _option, _default
