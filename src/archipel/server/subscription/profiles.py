"""Protean's ``protean.server.subscription.profiles``: the values of the handler options
``subscription_type`` and ``subscription_profile`` as enums::

    @domain.event_handler(part_of=Order, subscription_profile=SubscriptionProfile.FAST)
    class Notifications(BaseEventHandler): ...

A member and its string value are the same option (``SubscriptionProfile.FAST`` and
``"fast"``); what each profile sets is :data:`archipel.core.handler_options.PROFILES`.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["SubscriptionProfile", "SubscriptionType"]


class SubscriptionType(Enum):
    """Where a handler's subscription reads: ``STREAM`` (the broker, fed by the outbox) or
    ``EVENT_STORE`` (archipel serves both with its stream subscription)."""

    STREAM = "stream"
    EVENT_STORE = "event_store"


class SubscriptionProfile(Enum):
    """Preset subscription settings (batch size, blocking timeout, retries, DLQ):
    ``PRODUCTION``, ``FAST``, ``BATCH``, ``DEBUG``, ``PROJECTION``."""

    PRODUCTION = "production"
    FAST = "fast"
    BATCH = "batch"
    DEBUG = "debug"
    PROJECTION = "projection"

