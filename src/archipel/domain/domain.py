"""``Domain``: one bounded context, its elements, configuration and adapters.

The class is a thin composition root: its constructor and the registration
of elements live here; each other concern is a mixin of its own module:

- :mod:`~archipel.domain.decorators`: ``@domain.aggregate``, ... (registration);
- :mod:`~archipel.domain.enrichers`: event, command and aggregate enrichers;
- :mod:`~archipel.domain.lifecycle`: ``init``, ``shutdown``/``close``, ``domain_context``;
- :mod:`~archipel.domain.storage`: schemas, repositories, views, database set-up;
- :mod:`~archipel.domain.outbox`: outbox and integration rows;
- :mod:`~archipel.domain.commands`: ``process`` and the command hot path;
- :mod:`~archipel.domain.delivery`: handler routes, subscribers, queries;
- :mod:`~archipel.domain.maintenance`: causation traces, snapshots, rebuilds, deadlines;
- :mod:`~archipel.domain.checking`: ``check()``, the validation report;
- :mod:`~archipel.domain.state`: the state they share.

Its collaborators: :class:`~archipel.domain.registry.Registry` (elements),
:mod:`~archipel.domain.config` (configuration),
:func:`~archipel.domain.wiring.prepare_model` (init-time checks and naming),
:class:`~archipel.domain.router.Router` (routing tables),
:class:`~archipel.domain.providers.Providers` (adapters),
:mod:`archipel.handling` (units of work, repositories, dispatch).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from archipel.domain.checking import Checking
from archipel.domain.commands import Commands
from archipel.domain.config import load_config
from archipel.domain.decorators import ElementDecorators, kind_of
from archipel.domain.delivery import Delivery
from archipel.domain.enrichers import Enrichers
from archipel.domain.introspection import Introspection
from archipel.domain.lifecycle import Lifecycle
from archipel.domain.maintenance import Maintenance
from archipel.domain.outbox import INTEGRATION_PREFIX, Outbox
from archipel.domain.providers import Providers
from archipel.domain.registry import Registry
from archipel.domain.router import Router
from archipel.domain.storage import Storage
from archipel.errors import ConfigurationError
from archipel.handling import idempotency
from archipel.utils.clock import SystemClock
from archipel.utils.naming import pascal_case, snake_case

__all__ = ["INTEGRATION_PREFIX", "Domain"]


class Domain(
    ElementDecorators,
    Lifecycle,
    Storage,
    Outbox,
    Commands,
    Delivery,
    Maintenance,
    Checking,
    Introspection,
):
    """A bounded context.

    ``Domain(name="Shop")`` reads ``domain.toml`` (or ``.domain.toml``, or
    ``[tool.archipel]`` in ``pyproject.toml``) beside the module that
    creates it, up to two parent folders; ``config={...}`` overrides it.
    Register elements with the decorators, then call :meth:`init`.
    """

    def __init__(
        self,
        root_path: str | None = None,
        name: str = "",
        config: dict[str, Any] | None = None,
        identity_function: Callable[[], Any] | None = None,
        *,
        module_name: str | None = None,
    ) -> None:
        """Protean's signature: ``Domain(root_path, name, config, identity_function)``.

        - ``name``: defaults to the ``__name__`` of the module creating the
          domain (its last dotted part names streams and type strings:
          ``Domain()`` in ``shop/domain.py`` is ``"shop.domain"``, types
          ``Domain.<Event>.v1``; pass ``name=`` to choose).
        - ``root_path``: the file or folder the domain's configuration and
          modules are found from (default: ``$DOMAIN_ROOT_PATH``, else the
          creating module's file).
        - ``config``: overrides the configuration file (``domain.toml``).
        - ``identity_function``: generates identities of aggregates and entities
          whose identity is not declared (``Auto``); default: UUID4 text.
        """
        caller = sys._getframe(1).f_globals
        Enrichers.__init__(self)
        if not name:
            name = caller.get("__name__") or ""
        if not isinstance(name, str) or not name:
            raise ConfigurationError('Domain(name=...) needs a non-empty name, e.g. Domain(name="Shop")')
        if identity_function is not None and not callable(identity_function):
            raise ConfigurationError(
                f"Domain(identity_function=...) takes a function returning a new identity, "
                f"got {identity_function!r}"
            )
        base_name = name.rpartition(".")[2].strip("_") or name
        self.name = name
        self.snake_name = snake_case(base_name)
        self.type_prefix = pascal_case(base_name)
        self.identity_function = identity_function
        self._module_name = module_name or caller.get("__name__")
        root = root_path or os.environ.get("DOMAIN_ROOT_PATH") or None
        if root is not None and os.path.isdir(root):
            # a folder: look for the configuration in it (as beside a module inside it)
            root = os.path.join(root, "__init__.py")
        self.root_path = root_path
        self._module_file = root or caller.get("__file__")
        self.config = load_config(self._module_file, config)
        self.registry = Registry(self)
        self.router = Router(self)
        self.providers = Providers(self.config)
        self._schemas = {}
        self._repositories = {}
        self._initialized = False
        self._inline_events = True
        self._outbox_enabled = False
        self._integration_broker = None
        self._integration_stream = ""
        self._async_commands = False
        self._command_streams = {}
        self._persist_plan = {}
        self._single_plan = {}
        self._init_lock = threading.RLock()
        self._upcasting = None
        self._idempotency_schema = idempotency.idempotency_schema(self.snake_name)
        self._idempotency_ttl = float(idempotency.DEFAULT_TTL)
        self._email_providers = {}
        self._clock = SystemClock()
        self.teardown_domain_context_functions = []
        self._set_custom_constants()

    def _set_custom_constants(self) -> None:
        """Each ``[custom]`` value is also an attribute of the domain, as in Protean (``domain.FOO``)."""
        custom = self.config.get("custom") or {}
        clashes = sorted(k for k in custom if hasattr(type(self), k) or k in self.__dict__)
        if clashes:  # Protean overwrites them, breaking the domain
            raise ConfigurationError(
                f"[custom] key(s) {', '.join(map(repr, clashes))} would hide the domain's own attribute(s) "
                "of that name: rename them"
            )
        for key, value in custom.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return f"<Domain {self.name!r}{' (initialized)' if self._initialized else ''}>"

    # -- registration -------------------------------------------------------
    def register(self, element_cls: Any, kind: str | None = None, **options: Any) -> Any:
        """Register ``element_cls`` as ``kind`` (inferred from its base class if omitted)."""
        if kind is None:
            kind = kind_of(element_cls)
        cls = self.registry.register(element_cls, kind, **options)
        if self._initialized:
            self._initialized = False  # the model changed: next use re-initialises
        return cls

    def register_database_model(self, database_model_cls: Any, **options: Any) -> Any:
        """Register a database model (Protean's name for ``register(cls, "database_model", ...)``)."""
        return self.register(database_model_cls, "database_model", **options)

    def fetch_element_cls_from_registry(self, element: str | type, element_types: Any) -> type:
        """The registered class named ``element`` (class name or ``module.QualName``), of one of
        ``element_types`` (``DomainObjects`` members, or kind names such as ``"aggregate"``).

        A class is returned as it is. A name registered under none of the kinds, or
        under two of them, is a ``ConfigurationError`` naming what was found.
        """
        if isinstance(element, type):
            return element
        kinds = [str(getattr(t, "value", t)).lower() for t in element_types]
        found: list[type] = [
            cls for kind in kinds for name, cls in self.registry.of_kind(kind).items()
            if element in (name, cls.__name__, f"{cls.__module__}.{cls.__qualname__}")
        ]
        if len(set(found)) == 1:
            return found[0]
        raise ConfigurationError(
            f"{element!r} is {'registered as more than one element' if found else 'not registered'} "
            f"among {', '.join(kinds)} of domain {self.name!r}",
            code="CONFIG_AMBIGUOUS_ELEMENT_NAME" if found else "CONFIG_ELEMENT_NOT_REGISTERED",
            location="Domain.fetch_element_cls_from_registry",
        )

    def register_external_event(self, event_cls: type, type_string: str) -> None:
        """Let this domain consume another domain's event as its own class ``event_cls``.

        ``type_string`` is the shared contract, e.g. ``"Billing.PaymentReceived.v1"``.
        """
        self.registry.register_external_event(event_cls, type_string)
