"""What every cache adapter shares: settings, TTLs, keys and the stored form."""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Mapping
from typing import Any

import msgspec

from archipel.core.model import id_field_of
from archipel.errors import ConfigurationError, IncorrectUsageError, ValidationError
from archipel.port.cache import TTLValue
from archipel.utils.naming import snake_case

__all__ = ["DEFAULT_TTL", "GET_ALL_MAX", "KEY_SEPARATOR", "CacheCore", "key_for", "resolve_ttl"]

#: seconds an entry lives when ``[caches.<name>]`` sets no ``TTL`` (Protean's default)
DEFAULT_TTL = 300
#: ``get_all`` returns at most this many entries (the first ones in key order)
GET_ALL_MAX = 1000
#: keys are ``<snake_name>:::<identity>``
KEY_SEPARATOR = ":::"

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def key_for(projection: Any) -> str:
    """The cache key of ``projection``: ``<snake_case class name>:::<identity>``."""
    name = id_field_of(projection)
    if not name:
        raise IncorrectUsageError(f"{type(projection).__name__} has no identity: a cache keys projections by it")
    identity = getattr(projection, name)
    if identity is None:
        raise IncorrectUsageError(f"{type(projection).__name__} has no identity value to key it by")
    return f"{snake_case(type(projection).__name__)}{KEY_SEPARATOR}{identity}"


def resolve_ttl(value: Any, where: str) -> float:
    """``value`` as a positive, finite number of seconds, else ConfigurationError naming ``where``."""
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number) or number <= 0:
        raise ConfigurationError(f"{where}: TTL must be a positive number of seconds, got {value!r}")
    return float(number)


class CacheCore:
    """Settings, default TTL, registered projections and the stored form of one cache."""

    #: settings a provider accepts besides ``provider`` and ``TTL``
    extra_settings: Collection[str] = ()
    provider = ""

    def __init__(self, name: str = "default", config: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.config = dict(config or {})
        allowed = {"provider", "TTL", *self.extra_settings}
        unknown = sorted(set(self.config) - allowed)
        if unknown:
            raise ConfigurationError(
                f"[caches.{name}] unknown setting(s) {', '.join(unknown)} for provider "
                f"{self.provider!r}; allowed: {', '.join(sorted(allowed))}"
            )
        self.ttl = resolve_ttl(self.config.get("TTL", DEFAULT_TTL), f"[caches.{name}]")
        self._projections: dict[str, type] = {}
        self._lock = threading.Lock()

    def register_projection(self, projection_cls: type) -> None:
        """Let this cache rebuild ``projection_cls`` from keys ``<snake_name>:::...``."""
        with self._lock:
            self._projections[snake_case(projection_cls.__name__)] = projection_cls

    def _ttl_for(self, ttl: TTLValue | None) -> float:
        if ttl is None or (isinstance(ttl, str) and not ttl.strip()):
            return self.ttl
        return resolve_ttl(ttl, f"cache {self.name!r}")

    def _dump(self, projection: Any) -> tuple[str, bytes]:
        """The key and stored bytes of ``projection``; ValidationError if JSON would alter it."""
        if snake_case(type(projection).__name__) not in self._projections:
            self.register_projection(type(projection))
        key = key_for(projection)
        data = projection.to_dict()
        try:
            raw = _encode(data)
        except (TypeError, msgspec.EncodeError) as exc:
            raise ValidationError({"projection": [f"{key} cannot be cached: {exc}"]}) from None
        if _decode(raw) != data:
            raise ValidationError(
                {"projection": [f"{key} holds a value JSON would alter (NaN, infinity or non-text dict keys)"]}
            )
        return key, raw

    def _load(self, key: str, raw: bytes) -> Any:
        name = key.split(KEY_SEPARATOR, 1)[0]
        cls = self._projections.get(name)
        if cls is None:
            raise IncorrectUsageError(
                f"cache {self.name!r} has no projection for key {key!r}: register it with "
                f"cache={self.name!r} or call domain.cache_for(<Projection>) first "
                f"(known: {', '.join(sorted(self._projections)) or 'none'})"
            )
        return cls._from_primitive(_decode(raw))  # type: ignore[attr-defined]
