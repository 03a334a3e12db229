"""The email providers of a domain (``[email_providers.<name>]``), built at ``init()``."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from archipel.errors import ConfigurationError

__all__ = ["build_email_providers"]

#: short names of the providers archipel ships (Protean's dotted paths are accepted too)
_BUILTIN = {
    "dummy": "archipel.adapters.email.dummy.DummyEmailProvider",
    "archipel.adapters.DummyEmailProvider": "archipel.adapters.email.dummy.DummyEmailProvider",
}


def build_email_providers(domain: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """One provider per ``[email_providers.<name>]`` (default: ``default`` = ``dummy``)."""
    tables = config.get("email_providers") or {"default": {"provider": "dummy"}}
    if not isinstance(tables, Mapping):
        raise ConfigurationError("[email_providers] must be a table of named providers, e.g. [email_providers.default]")
    built: dict[str, Any] = {}
    for name, settings in tables.items():
        provider = settings.get("provider") if isinstance(settings, Mapping) else None
        if not isinstance(provider, str) or not provider:
            raise ConfigurationError(f'[email_providers.{name}] needs provider = "dummy" (or a dotted class path)')
        path = _BUILTIN.get(provider, provider)
        module_name, _, class_name = path.rpartition(".")
        try:
            provider_cls = getattr(importlib.import_module(module_name), class_name, None) if module_name else None
        except ImportError:
            provider_cls = None
        if provider_cls is None:
            raise ConfigurationError(
                f"[email_providers.{name}] provider {provider!r} is neither \"dummy\" nor an importable class path"
            )
        built[name] = provider_cls(name, domain, dict(settings))
    return built
