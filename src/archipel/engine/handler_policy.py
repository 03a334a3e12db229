"""A handler's own engine settings and retry policy, from its element options.

``@domain.event_handler(subscription_profile="fast", retries=5, backoff="linear",
retry_exceptions=[ConnectionError])`` changes how the engine consumes for that
handler only: settings come from the server's, then the profile, then
``subscription_config``, then ``retries`` (highest wins).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from archipel.core.handler_options import PROFILES, RetryPolicy, retry_policy
from archipel.engine.settings import EngineSettings

__all__ = ["handler_settings", "handler_retry_policy", "retry_delay"]

_SETTING_TYPES = {
    "messages_per_tick": int,
    "blocking_timeout_ms": int,
    "max_retries": int,
    "retry_delay_seconds": float,
    "max_retry_delay_seconds": float,
    "enable_dlq": bool,
}


def handler_settings(settings: EngineSettings, options: Mapping[str, Any]) -> EngineSettings:
    """``settings`` with the overrides a handler's options ask for (or ``settings`` itself)."""
    changes: dict[str, Any] = {}
    profile = options.get("subscription_profile")
    if profile:
        changes.update(PROFILES[profile])
    changes.update(options.get("subscription_config") or {})
    if options.get("retries") is not None:
        changes["max_retries"] = options["retries"]
    changes = {k: _SETTING_TYPES[k](v) for k, v in changes.items() if k in _SETTING_TYPES}
    return settings.with_changes(**changes) if changes else settings


def handler_retry_policy(options: Mapping[str, Any]) -> RetryPolicy:
    """Which failures of a handler are retried, and with which backoff."""
    return retry_policy(options)


def retry_delay(policy: RetryPolicy, attempt: int, settings: EngineSettings) -> float:
    """Seconds before retry ``attempt`` under ``policy`` and ``settings``, with equal jitter."""
    delay = policy.delay(attempt, settings.retry_delay_seconds, settings.max_retry_delay_seconds)
    half = delay / 2
    return float(half + random.uniform(0, half)) if half > 0 else 0.0  # noqa: S311 - not cryptographic
