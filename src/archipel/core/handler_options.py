"""Options of handler elements (``@domain.event_handler(retries=5, ...)``), checked once.

Protean's documented handler options, with their archipel effect:

- ``retries``, ``backoff`` (``"exponential"``, ``"linear"``, ``"fixed"``),
  ``retry_exceptions`` (exception classes or dotted paths): the engine's retry
  policy for this handler (see :class:`RetryPolicy`): the listed exceptions
  are retried besides the transient ones (connection, timeout, lock, lease);
  any other goes to the dead-letter queue at once.
- ``subscription_profile`` (``production``, ``fast``, ``batch``, ``debug``,
  ``projection``), ``subscription_config`` (a dict of engine settings) and
  ``subscription_type`` (``"stream"`` or ``"event_store"``): the engine
  settings of this handler's subscription (explicit config wins over the profile).
- ``timeout`` (command handlers; seconds or a ``timedelta``): how long a
  command stays valid; one handled later is not run.
- ``idempotent`` (event handlers, projectors): a redelivered message (same
  id) is handled once, in sync mode as in the engine.

A value of the wrong type is a :class:`ConfigurationError` naming the class,
the option and what is allowed.
"""

from __future__ import annotations

import datetime as _dt
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archipel.errors import ConfigurationError

__all__ = [
    "HANDLER_OPTIONS",
    "PROFILES",
    "SUBSCRIPTION_KEYS",
    "RetryPolicy",
    "normalize_handler_options",
    "retry_policy",
]

_SUBSCRIPTION = {"subscription_type", "subscription_profile", "subscription_config"}
_RETRY = {"retries", "backoff", "retry_exceptions"}

#: options each handler kind accepts on top of its routing options
HANDLER_OPTIONS: dict[str, set[str]] = {
    "command_handler": _SUBSCRIPTION | _RETRY | {"timeout", "sequential_by"},
    "event_handler": _SUBSCRIPTION | _RETRY | {"idempotent", "sequential_by"},
    "projector": _SUBSCRIPTION | _RETRY | {"idempotent", "sequential_by"},
    "process_manager": _SUBSCRIPTION | {"sequential_by"},
}

#: engine settings a subscription may set (``subscription_config`` keys)
SUBSCRIPTION_KEYS = frozenset(
    {"messages_per_tick", "blocking_timeout_ms", "max_retries", "retry_delay_seconds",
     "max_retry_delay_seconds", "enable_dlq", "subscription_type"}
)

#: Protean's named subscription profiles, as the engine settings archipel honours
PROFILES: dict[str, dict[str, Any]] = {
    "production": {"messages_per_tick": 100, "blocking_timeout_ms": 5000, "max_retries": 3,
                   "retry_delay_seconds": 1.0, "enable_dlq": True},
    "fast": {"messages_per_tick": 10, "blocking_timeout_ms": 100, "max_retries": 2,
             "retry_delay_seconds": 0.0, "enable_dlq": True},
    "batch": {"messages_per_tick": 500, "blocking_timeout_ms": 10000, "max_retries": 5,
              "retry_delay_seconds": 2.0, "enable_dlq": True},
    "debug": {"messages_per_tick": 1, "blocking_timeout_ms": 1000, "max_retries": 1,
              "retry_delay_seconds": 0.0, "enable_dlq": False},
    "projection": {"messages_per_tick": 100, "blocking_timeout_ms": 5000, "max_retries": 3,
                   "retry_delay_seconds": 1.0, "enable_dlq": True},
}

_BACKOFFS = ("exponential", "linear", "fixed")
_TYPES = ("stream", "event_store")


@dataclass(frozen=True)
class RetryPolicy:
    """How the engine retries one handler: which failures, and how long to wait."""

    #: retries after the first attempt; None: the server's ``max_retries``
    retries: int | None = None
    backoff: str = "exponential"
    #: retried besides the transient errors (``archipel.engine.classify``); None: none more
    exceptions: tuple[type[BaseException], ...] | None = None

    def delay(self, attempt: int, base: float, cap: float) -> float:
        """Seconds before retry number ``attempt`` (1, 2, ...), before jitter; at most ``cap``."""
        if self.backoff == "fixed":
            return min(cap, base)
        if self.backoff == "linear":
            return min(cap, base * attempt)
        return min(cap, base * float(2 ** max(0, attempt - 1)))


def retry_policy(options: Mapping[str, Any]) -> RetryPolicy:
    """The retry policy of a handler from its (normalised) options."""
    return RetryPolicy(
        retries=options.get("retries"),
        backoff=options.get("backoff") or "exponential",
        exceptions=options.get("retry_exceptions"),
    )


def _fail(owner: str, option: str, value: Any, allowed: str) -> ConfigurationError:
    return ConfigurationError(f"{owner}: {option}={value!r} is not valid; expected {allowed}")


def _exception_types(owner: str, value: Any) -> tuple[type[BaseException], ...]:
    items = [value] if isinstance(value, (str, type)) else list(value)
    found: list[type[BaseException]] = []
    for item in items:
        if isinstance(item, str):
            module, _, name = item.rpartition(".")
            try:
                item = getattr(importlib.import_module(module or "builtins"), name)
            except (ImportError, AttributeError):
                raise _fail(owner, "retry_exceptions", item, "importable exception classes") from None
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise _fail(owner, "retry_exceptions", item, "exception classes or dotted paths")
        found.append(item)
    return tuple(found)


def _enum_value(value: Any) -> Any:
    return getattr(value, "value", value)


def normalize_handler_options(owner: str, kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise the handler options in ``options`` (a new dict is returned)."""
    result = dict(options)
    if "retries" in result:
        retries = result["retries"]
        if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
            raise _fail(owner, "retries", retries, "a whole number >= 0")
    if result.get("backoff") is not None and result["backoff"] not in _BACKOFFS:
        raise _fail(owner, "backoff", result["backoff"], " or ".join(map(repr, _BACKOFFS)))
    if result.get("retry_exceptions") is not None:
        result["retry_exceptions"] = _exception_types(owner, result["retry_exceptions"])
    if result.get("timeout") is not None:
        timeout = result["timeout"]
        seconds = timeout.total_seconds() if isinstance(timeout, _dt.timedelta) else timeout
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise _fail(owner, "timeout", timeout, "seconds (> 0) or a timedelta")
        result["timeout"] = float(seconds)
    if "idempotent" in result and not isinstance(result["idempotent"], bool):
        raise _fail(owner, "idempotent", result["idempotent"], "True or False")
    if result.get("sequential_by") is not None:
        raise ConfigurationError(
            f"{owner}: sequential_by={result['sequential_by']!r} is not supported by archipel: "
            "messages are ordered per aggregate (its stream), across workers; ordering by "
            "another key is not implemented. Remove the option, or key the aggregate by it"
        )
    _subscription(owner, result)
    return result


def _subscription(owner: str, result: dict[str, Any]) -> None:
    sub_type = _enum_value(result.get("subscription_type"))
    if sub_type is not None and sub_type not in _TYPES:
        raise _fail(owner, "subscription_type", sub_type, " or ".join(map(repr, _TYPES)))
    profile = _enum_value(result.get("subscription_profile"))
    if profile is not None and profile not in PROFILES:
        raise _fail(owner, "subscription_profile", profile, ", ".join(sorted(PROFILES)))
    if profile is not None:
        result["subscription_profile"] = profile
    if sub_type is not None:
        result["subscription_type"] = sub_type
    config = result.get("subscription_config")
    if config is None:
        return
    if not isinstance(config, Mapping):
        raise _fail(owner, "subscription_config", config, "a dict of subscription settings")
    unknown = set(config) - SUBSCRIPTION_KEYS
    if unknown:
        raise ConfigurationError(
            f"{owner}: unknown subscription_config key(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(SUBSCRIPTION_KEYS))}"
        )
    result["subscription_config"] = dict(config)
