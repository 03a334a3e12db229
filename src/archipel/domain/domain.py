"""``Domain``: one bounded context, its elements, configuration and adapters.

The class is a thin composition root. It delegates to collaborators:
:class:`~archipel.domain.registry.Registry` (elements),
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
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from archipel.adapters import registry as provider_registry
from archipel.core.message import new_message_id, utcnow
from archipel.core.view import ReadView
from archipel.domain.config import Config, load_config, validate_config
from archipel.domain.decorators import ElementDecorators, kind_of
from archipel.domain.discovery import import_domain_modules
from archipel.domain.enrichers import Enrichers
from archipel.domain.providers import Providers
from archipel.domain.registry import Registry
from archipel.domain.router import Router
from archipel.domain.wiring import prepare_model
from archipel.errors import ConfigurationError, ExpectedVersionError, IncorrectUsageError
from archipel.fields.simple import Auto, new_identity
from archipel.handling import causation, dispatch, idempotency
from archipel.handling.decoding import Upcasting, build_upcasters
from archipel.handling.repository import BaseRepository, ReadOnlyRepository, Repository
from archipel.handling.retrying import run_with_retries
from archipel.handling.unit_of_work import UnitOfWork, unit_of_work
from archipel.port.event_store import CausationNode
from archipel.port.schema import ModelSchema
from archipel.utils import globals as _context
from archipel.utils import tracing
from archipel.utils.globals import current_correlation_id, current_message, dispatch_queue, uow_var
from archipel.utils.naming import pascal_case, snake_case
from archipel.utils.processing import priority_var

__all__ = ["Domain"]


#: marks outbox rows bound for the integration broker (``[integration] broker``)
INTEGRATION_PREFIX = "integration>"


def _command_identity_field(command_cls: Any) -> str | None:
    """The command field naming its target aggregate: the aggregate's identity
    field when the command has it, else ``<aggregate_snake>_id`` (``order_id``)."""
    aggregate = command_cls._meta.part_of
    fields = command_cls._fields
    id_field = getattr(aggregate, "_id_field", None)
    if id_field in fields:
        return id_field  # type: ignore[no-any-return]
    conventional = f"{snake_case(aggregate.__name__)}_id"
    return conventional if conventional in fields else None


class Domain(ElementDecorators, Enrichers):
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
        self.config: Config = load_config(self._module_file, config)
        self.registry = Registry(self)
        self.router = Router(self)
        self.providers = Providers(self.config)
        self._schemas: dict[Any, ModelSchema] = {}
        self._repositories: dict[type, BaseRepository[Any]] = {}
        self._initialized = False
        self._inline_events = True
        self._outbox_enabled = False
        #: broker name for integration events (``[integration] broker``), or None
        self._integration_broker: str | None = None
        self._integration_stream = ""
        self._async_commands = False
        # command class -> (stream category, identity field of its aggregate)
        self._command_streams: dict[type, tuple[str, str | None]] = {}
        # stored class -> (schema, kind, fact event class or None)
        self._persist_plan: dict[type, tuple[ModelSchema, str, Any]] = {}
        self._init_lock = threading.RLock()
        #: upcaster chains, checked at init (see archipel.handling.decoding)
        self._upcasting: Upcasting | None = None
        self._idempotency_schema = idempotency.idempotency_schema(self.snake_name)

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

    def register_external_event(self, event_cls: type, type_string: str) -> None:
        """Let this domain consume another domain's event as its own class ``event_cls``.

        ``type_string`` is the shared contract, e.g. ``"Billing.PaymentReceived.v1"``.
        """
        self.registry.register_external_event(event_cls, type_string)

    # -- lifecycle ------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return self._initialized

    def init(self, traverse: bool = True) -> None:
        """Load, resolve and validate the model, build adapters and routes.

        With ``traverse=True`` every module of the domain's package is
        imported first (so elements in sibling modules register). Calling
        ``init()`` again on an initialised domain does nothing.
        """
        with self._init_lock:
            if self._initialized:
                return
            if traverse:
                import_domain_modules(self._module_name, self._module_file)
            validate_config(
                self.config,
                database_providers=provider_registry.providers("database"),
                broker_providers=provider_registry.providers("broker"),
                event_store_providers=provider_registry.providers("event_store"),
            )
            self._schemas = prepare_model(self)
            self._apply_identity_function()
            self.router = Router(self)
            self.router.build()
            self._upcasting = build_upcasters(self)
            self._repositories.clear()
            if not self.providers.databases:
                self.providers.build()
            for schema in self._schemas.values():
                self.providers.database(schema.database)  # every element's store exists
            self._wire_brokers()
            self._inline_events = self.config.get("event_processing", "sync") == "sync"
            self._outbox_enabled = self.outbox_enabled
            self._configure_integration()
            self._async_commands = self.config.get("command_processing", "sync") == "async"
            self._command_streams = {
                cls: (
                    cls._meta.part_of._meta.stream_category or self.snake_name,
                    _command_identity_field(cls),
                )
                for cls in self.registry.of_kind("command").values()
                if cls._meta.part_of is not None
            }
            self._persist_plan = {
                cls: (schema, schema.kind, cls._meta.extra.get("fact_event_cls"))
                for cls, schema in self._schemas.items()
            }
            self._initialized = True
            dispatch.join_hub(self)

    def _apply_identity_function(self) -> None:
        """Make ``identity_function`` the generator of undeclared (``Auto``) identities."""
        strategy = self.config.get("identity_strategy", "uuid")
        if strategy == "function" and self.identity_function is None:
            raise ConfigurationError(
                'identity_strategy = "function" needs Domain(identity_function=...)'
            )
        if self.identity_function is None:
            return
        for kind in ("aggregate", "entity"):
            for cls in self.registry.of_kind(kind).values():
                field = cls._fields.get(cls._id_field) if cls._id_field else None
                if isinstance(field, Auto) and field._default is new_identity:
                    field._default = self.identity_function
                    cls._setup_fields()  # rebuild the generated __init__ with it

    def _wire_brokers(self) -> None:
        inline = self.config.get("message_processing", "sync") == "sync"
        for name, broker in self.providers.brokers.items():
            hook = getattr(broker, "on_publish", None)
            if hook is not None and name == "default":
                hook(self.deliver_raw if inline else None)

    def shutdown(self) -> None:
        """Leave the hub and close every adapter; ``init()`` may be called again."""
        with self._init_lock:
            dispatch.leave_hub(self)
            self.providers.close()
            self.providers = Providers(self.config)
            self._repositories.clear()
            self._initialized = False

    def close(self) -> None:
        """Protean's name for :meth:`shutdown`."""
        self.shutdown()

    @property
    def camel_case_name(self) -> str:
        """The domain's name as used in type strings (``"Shop"`` in ``Shop.OrderPlaced.v1``)."""
        return self.type_prefix

    @property
    def normalized_name(self) -> str:
        """The domain's name as used in stream categories (``"shop"`` in ``shop::order``)."""
        return self.snake_name

    def _ensure_initialized(self) -> None:
        if not self._initialized:
            raise IncorrectUsageError(
                f"domain {self.name!r} is not initialised: call {self.snake_name}.init() first"
            )

    @contextmanager
    def domain_context(self) -> Iterator[Domain]:
        """Make this domain ``current_domain`` inside the block (nestable)."""
        with _context.domain_context(self) as domain:
            yield domain

    # -- configuration shortcuts ---------------------------------------------
    @property
    def handles_events_inline(self) -> bool:
        return bool(self.config.get("event_processing", "sync") == "sync")

    @property
    def outbox_enabled(self) -> bool:
        return bool(self.config.get("enable_outbox")) or self.config.get("event_processing") == "async"

    @property
    def brokers(self) -> dict[str, Any]:
        """The configured brokers by name (``domain.brokers["default"].publish(...)``)."""
        self._ensure_initialized()
        return self.providers.brokers

    @property
    def event_store(self) -> Any:
        self._ensure_initialized()
        return self.providers.event_store

    def _configure_integration(self) -> None:
        settings = self.config.get("integration") or {}
        broker = settings.get("broker")
        if broker is None:
            self._integration_broker = None
            return
        if broker not in (self.config.get("brokers") or {}):
            raise ConfigurationError(
                f"integration.broker = {broker!r} names no broker: add [brokers.{broker}] "
                "(e.g. provider = \"redis\", url = \"${INTEGRATION_REDIS_URL}\")"
            )
        self._integration_broker = broker
        self._integration_stream = settings.get("stream") or f"{self.snake_name}.integration"

    def integration_records(self, messages: list[Any]) -> list[dict[str, Any]]:
        """Outbox rows sending the integration events (``published=True``) among
        ``messages`` to the integration broker; the relay retries them on their
        own, so a broker that is down never holds up the domain's events."""
        rows = self.outbox_records([m for m in messages if type(m)._meta.published])
        for row in rows:
            row["stream"] = INTEGRATION_PREFIX + row["stream"]
        return rows

    def outbox_records(self, messages: list[Any]) -> list[dict[str, Any]]:
        """Outbox rows for ``messages`` (written in the business transaction)."""
        return [
            {
                "message_id": m._metadata.id,
                "stream": m._metadata.stream,
                "type": m._metadata.type,
                "priority": m._metadata.priority,
                "correlation_id": m._metadata.correlation_id,
                "message": m.to_message(),
            }
            for m in messages
        ]

    # -- storage ------------------------------------------------------------
    def schema_for(self, cls: type) -> ModelSchema:
        """Storage description of an aggregate, projection or process manager."""
        try:
            return self._schemas[cls]
        except KeyError:
            self._ensure_initialized()
            raise IncorrectUsageError(
                f"{getattr(cls, '__name__', cls)} is not stored by domain {self.name!r}: only "
                "registered aggregates, projections and process managers have repositories"
            ) from None

    @property
    def schemas(self) -> list[ModelSchema]:
        return list(self._schemas.values())

    def repository_for(self, cls: type) -> Any:
        """The repository of an aggregate or projection (custom one if registered)."""
        repo = self._repositories.get(cls)
        if repo is None:
            self._ensure_initialized()
            schema = self.schema_for(cls)
            repo_cls: type[BaseRepository[Any]] = Repository
            for custom in self.registry.of_kind("repository").values():
                if custom._meta.part_of is cls:  # type: ignore[attr-defined]
                    repo_cls = custom
            if schema.kind == "process_manager":
                from archipel.handling.process_managers import ProcessManagerRepository

                repo_cls = ProcessManagerRepository
            elif schema.kind == "event_sourced" and repo_cls is Repository:
                from archipel.handling.event_sourced import EventSourcedRepository

                repo_cls = EventSourcedRepository
            repo = repo_cls(self, cls, schema)
            self._repositories[cls] = repo
        return repo

    def query_for(self, projection_cls: type) -> ReadOnlyRepository[Any]:
        """Read-only access to a projection: ``get``, ``find``, ``query``."""
        kind = getattr(getattr(projection_cls, "_meta", None), "kind", None)
        if kind != "projection":
            raise IncorrectUsageError(
                f"query_for takes a projection, got {getattr(projection_cls, '__name__', projection_cls)}"
            )
        return ReadOnlyRepository(self.repository_for(projection_cls))

    def view_for(self, projection_cls: type) -> ReadView[Any]:
        """A read-only :class:`~archipel.core.view.ReadView` of a projection:
        ``get``, ``find_by``, ``count``, ``exists`` and ``query`` (a
        :class:`~archipel.core.queryset.ReadOnlyQuerySet`); nothing that writes."""
        kind = getattr(getattr(projection_cls, "_meta", None), "kind", None)
        if kind != "projection":
            raise IncorrectUsageError(
                f"view_for takes a projection, got {getattr(projection_cls, '__name__', projection_cls)}"
                + (f" ({kind})" if kind else "")
            )
        return ReadView(projection_cls, self.repository_for(projection_cls))

    def correlation_trace(self, correlation_id: str) -> list[CausationNode]:
        """The messages of a correlation chain, each before its effects (depth-first).

        Each :class:`~archipel.port.event_store.CausationNode` also holds its
        ``children``; an unknown correlation id gives ``[]``.
        """
        self._ensure_initialized()
        stored = self.providers.event_store.read_correlated(str(correlation_id))
        return causation.flatten(causation.causation_roots(stored))

    def _each_database_schemas(self) -> Iterator[tuple[Any, list[ModelSchema]]]:
        self._ensure_initialized()
        for name, database in self.providers.databases.items():
            schemas = [
                s for s in self._schemas.values() if s.database == name and s.kind != "event_sourced"
            ]
            if name == "default":
                schemas.append(self._idempotency_schema)
                if self.registry.of_kind("process_manager"):
                    from archipel.handling.deadlines import deadline_schema

                    schemas.append(deadline_schema(self))  # set up, truncated, dropped with the rest
            yield database, schemas

    def setup_database(self) -> None:
        """Create the tables of every database (idempotent)."""
        for database, schemas in self._each_database_schemas():
            database.setup(schemas)
        setup = getattr(self.providers.event_store, "setup", None)
        if setup is not None:
            setup()

    def drop_database(self) -> None:
        """Drop the tables of every database (and the event store's)."""
        for database, schemas in self._each_database_schemas():
            database.drop(schemas)
        drop = getattr(self.providers.event_store, "drop", None)
        if drop is not None:
            drop()

    def truncate_database(self) -> None:
        """Delete all data (tables stay), including events and broker streams."""
        for database, schemas in self._each_database_schemas():
            database.truncate(schemas)
        self.providers.event_store.truncate()
        for broker in self.providers.brokers.values():
            truncate = getattr(broker, "truncate", None)
            if truncate is not None:
                truncate()

    # -- snapshots ------------------------------------------------------------
    def create_snapshot(self, aggregate_cls: type, identifier: Any) -> bool:
        """Snapshot one event-sourced aggregate from a full replay of its stream.

        Returns True when a snapshot was written (False: that version has one
        already). ``IncorrectUsageError`` for a class that is not an
        event-sourced aggregate of this domain, ``ObjectNotFound`` when the
        aggregate has no events.
        """
        from archipel.handling.snapshots import create_snapshot

        self._ensure_initialized()
        return create_snapshot(self, aggregate_cls, identifier)

    def create_snapshots(self, aggregate_cls: type) -> int:
        """Snapshot every stored aggregate of ``aggregate_cls``; return how many were written."""
        from archipel.handling.snapshots import create_snapshots

        self._ensure_initialized()
        return create_snapshots(self, aggregate_cls)

    def create_all_snapshots(self) -> dict[str, int]:
        """Snapshot every event-sourced aggregate: ``{class name: snapshots written}``."""
        from archipel.handling.snapshots import create_all_snapshots

        self._ensure_initialized()
        return create_all_snapshots(self)

    # -- projections ----------------------------------------------------------
    def rebuild_projection(self, projection_cls: type, batch_size: int = 500) -> Any:
        """Empty a projection and replay its projectors' events from the event store.

        Returns a :class:`~archipel.handling.rebuild.RebuildResult`; an event
        that cannot be decoded or a projector error stops the rebuild and
        propagates. See :mod:`archipel.handling.rebuild`.
        """
        from archipel.handling.rebuild import rebuild_projection

        self._ensure_initialized()
        return rebuild_projection(self, projection_cls, batch_size)

    def rebuild_all_projections(self, batch_size: int = 500) -> dict[str, Any]:
        """Rebuild every projection that has projectors: ``{projection name: RebuildResult}``."""
        from archipel.handling.rebuild import rebuild_all_projections

        self._ensure_initialized()
        return rebuild_all_projections(self, batch_size)

    # -- process-manager deadlines ---------------------------------------------
    def fire_due_deadlines(self, now: Any = None) -> int:
        """Deliver the process-manager deadlines due by ``now`` (default: now); return how many.

        ``archipel server`` calls it every ``[server] deadline_poll_seconds``; call it
        yourself (a scheduler, a test) when no server runs.
        """
        from archipel.handling.deadline_firing import fire_due_deadlines

        self._ensure_initialized()
        return fire_due_deadlines(self, now)

    # -- handling -------------------------------------------------------------
    def _enrich(self, command: Any, priority: int | None) -> None:
        """Fill the command's envelope: id, type, stream, time, correlation and causation."""
        meta = command._metadata
        values = meta.__dict__
        options = type(command)._meta
        message_id = values.get("id")
        if message_id is None:
            message_id = values["id"] = new_message_id()
        values["type"] = options.type_string
        category, identity_field = self._command_streams[type(command)]
        identity = command.__dict__.get(identity_field) if identity_field else None
        values["stream"] = f"{category}:command-{identity or message_id}"
        values["time"] = utcnow()
        values["domain"] = self.name
        if priority is None:
            priority = priority_var.get()  # ``with processing_priority(...)`` / ``lanes.bulk()``
        if priority is not None:
            values["priority"] = priority
        if values.get("correlation_id") is None:
            parent = current_message.get()
            if parent is not None:
                pmeta = parent._metadata
                values["correlation_id"] = pmeta.correlation_id or pmeta.id
                values["causation_id"] = pmeta.id
            else:
                # a request's correlation id (X-Correlation-ID, traceparent), else its own id
                values["correlation_id"] = current_correlation_id.get() or message_id

    def process(
        self,
        command: Any,
        asynchronous: bool | None = None,
        idempotency_key: str | None = None,
        raise_on_duplicate: bool = False,
        priority: int | None = None,
        correlation_id: str | None = None,
    ) -> Any:
        """Handle ``command``; with sync processing, return the handler's result.

        ``priority``: see :mod:`archipel.utils.processing`. ``correlation_id``:
        join an outside request's correlation (default: the message being
        handled's, else the command's own id).

        ``idempotency_key``: a caller's token for this request. The first
        ``process`` with a key records it with the result (in the ``default``
        database, in the handler's transaction); a repeat returns that result
        without handling the command again, or raises
        :class:`~archipel.errors.DuplicateCommandError` (``original_result``)
        with ``raise_on_duplicate=True``. A failed handling records nothing.
        See :mod:`archipel.handling.idempotency` for what results can be kept.

        The handler runs in a unit of work; its events are stored with the
        state in one transaction, then dispatched (sync) or left to the
        outbox for ``archipel server`` (async, which returns the command id).
        """
        route = self.router.commands.get(type(command))
        if route is None:
            self._ensure_initialized()
            raise IncorrectUsageError(
                f"{type(command).__name__} is not a command handled in domain {self.name!r}: "
                f"register it with @{self.snake_name}.command(part_of=...) and a "
                f"@{self.snake_name}.command_handler with @handle({type(command).__name__})"
            )
        if idempotency_key is not None:
            key = idempotency.check_key(idempotency_key)
            found = self._idempotency_lookup(key)
            if found[0]:
                return idempotency.stored_result(key, found, raise_on_duplicate)
        if correlation_id is not None:
            command._metadata.__dict__["correlation_id"] = str(correlation_id)
        self._enrich(command, priority)
        if self.command_enrichers:
            self.enrich_command(command)
        queued = self._async_commands if asynchronous is None else asynchronous
        if tracing.tracer is not None:
            with tracing.produce_span(command._metadata, queued):
                return self._process_now(command, queued, route, idempotency_key, raise_on_duplicate)
        return self._process_now(command, queued, route, idempotency_key, raise_on_duplicate)

    def _process_now(
        self, command: Any, queued: bool, route: Any, key: str | None = None, raise_on_duplicate: bool = False
    ) -> Any:
        if queued:
            if key is None:
                return self._enqueue_command(command)
            return self._keyed(key, raise_on_duplicate, lambda: self._enqueue_command(command, key))
        handler_cls, method = route
        if key is not None:
            return self._keyed(
                key, raise_on_duplicate, lambda: self._drained(handler_cls, method, command, key)
            )
        return self._drained(handler_cls, method, command, None)

    def _idempotency_lookup(self, key: str) -> tuple[bool, Any]:
        tx = self.providers.database("default").begin()
        try:
            return idempotency.lookup(tx, self._idempotency_schema, key)
        finally:
            tx.rollback()

    def _keyed(self, key: str, raise_on_duplicate: bool, run: Callable[[], Any]) -> Any:
        """Run ``run``; when a racing twin stored ``key`` first, answer with its result."""
        try:
            return run()
        except ExpectedVersionError:
            found = self._idempotency_lookup(key)
            if not found[0]:
                raise
            return idempotency.stored_result(key, found, raise_on_duplicate)

    def _drained(
        self, handler_cls: type, method: Callable[..., Any], command: Any, key: str | None
    ) -> Any:
        if dispatch_queue.get() is not None:
            return self._handle_command(handler_cls, method, command, key)
        # outermost call: own the breadth-first queue and drain it
        queue: deque[Any] = deque()
        token = dispatch_queue.set(queue)
        try:
            result = self._handle_command(handler_cls, method, command, key)
            deliver = dispatch.deliver
            while queue:
                deliver(queue.popleft())
        finally:
            dispatch_queue.reset(token)
        return result

    def _handle_command(
        self, handler_cls: type, method: Callable[..., Any], command: Any, key: str | None = None
    ) -> Any:
        options = handler_cls._meta.extra  # type: ignore[attr-defined]
        if options.get("retries"):  # ``retries=N``: transient failures are run again
            return run_with_retries(
                options, lambda: self._handle_command_once(handler_cls, method, command, key)
            )
        return self._handle_command_once(handler_cls, method, command, key)

    def _handle_command_once(
        self, handler_cls: type, method: Callable[..., Any], command: Any, key: str | None = None
    ) -> Any:
        # context managers are inlined: this is the hot path
        stack = _context.stack.get()
        ctx_token = _context.stack.set((*stack, self)) if not stack or stack[-1] is not self else None
        uow = UnitOfWork(self, command)
        uow_token = uow_var.set(uow)
        msg_token = current_message.set(command)
        try:
            result = method(handler_cls(), command)
            if key is not None:  # the key commits with the handler's state, or not at all
                idempotency.record(uow.transaction("default"), self._idempotency_schema, key, result)
            events = uow.commit()
        except BaseException:
            uow.rollback()
            raise
        finally:
            uow_var.reset(uow_token)
            current_message.reset(msg_token)
            if ctx_token is not None:
                _context.stack.reset(ctx_token)
        if events and self._inline_events:
            dispatch.publish(events)
        return result

    def _enqueue_command(self, command: Any, idempotency_key: str | None = None) -> str:
        from archipel.handling.asynchronous import enqueue_command

        return enqueue_command(self, command, idempotency_key)

    def run_in_unit_of_work(self, action: Callable[[UnitOfWork], Any], message: Any = None) -> Any:
        """Run ``action(uow)`` in a new unit of work, commit, dispatch its events."""

        def run() -> Any:
            with unit_of_work(self, message) as uow:
                result = action(uow)
            if self.handles_events_inline:
                dispatch.publish(uow.committed_events)
            return result

        return dispatch.drain_after(run)

    def run_route(self, route: dispatch.Route, event: Any) -> None:
        """Deliver one event to one handler route of this domain (own context and unit of work).

        A handler declared with ``retries=N`` is run again after a transient failure
        (:mod:`archipel.handling.retrying`).
        """
        if route.retry_options is not None:
            run_with_retries(route.retry_options, lambda: self._run_route_once(route, event))
        else:
            self._run_route_once(route, event)

    def _run_route_once(self, route: dispatch.Route, event: Any) -> None:
        message = route.convert(event)
        stack = _context.stack.get()
        ctx_token = _context.stack.set((*stack, self)) if not stack or stack[-1] is not self else None
        try:
            if route.kind == "process_manager":
                from archipel.handling.process_managers import run_process_manager

                run_process_manager(self, route, message)
                return
            uow = UnitOfWork(self, message)
            uow_token = uow_var.set(uow)
            msg_token = current_message.set(message)
            try:
                if route.idempotent and not uow.transaction("default").mark_processed(
                    f"{route.name}.{route.spec.method_name}", message._metadata.id
                ):
                    uow.rollback()  # handled before: a redelivery has no second effect
                    return
                route.method(route.handler_cls(), message)
                events = uow.commit()
            except BaseException:
                uow.rollback()
                raise
            finally:
                uow_var.reset(uow_token)
                current_message.reset(msg_token)
        finally:
            if ctx_token is not None:
                _context.stack.reset(ctx_token)
        if events and self._inline_events:
            dispatch.publish(events)

    def deliver_raw(self, stream: str, payload: dict[str, Any]) -> None:
        """Hand a raw broker payload to the subscribers of ``stream``."""
        subscribers = self.router.subscribers.get(stream)
        if not subscribers:
            return

        def run() -> None:
            with _context.domain_context(self):
                for subscriber_cls in subscribers:
                    subscriber_cls()(payload)

        dispatch.drain_after(run)

    def dispatch(self, query: Any) -> Any:
        """Answer a query with its query handler."""
        route = self.router.queries.get(type(query))
        if route is None:
            self._ensure_initialized()
            raise IncorrectUsageError(
                f"no query handler handles {type(query).__name__} in domain {self.name!r}"
            )
        handler_cls, method = route
        with _context.domain_context(self):
            return method(handler_cls(), query)
