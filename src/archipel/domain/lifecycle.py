"""Lifecycle of a ``Domain``: ``init`` (logging, resolve, validate, build adapters and
routes), ``shutdown``/``close``, ``domain_context``, ``configure_logging`` and the
configuration shortcuts the other parts read (``handles_events_inline``,
``outbox_enabled``, ``brokers``, ``event_store``)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from archipel.adapters.sql.echo import QueryLog
from archipel.domain.config import validate_config
from archipel.domain.discovery import import_domain_modules
from archipel.domain.email import build_email_providers
from archipel.domain.logging_config import (
    SLOW_QUERY_KEYS,
    logging_options,
    logging_problems,
    sampling_options,
)
from archipel.domain.providers import Providers
from archipel.domain.router import Router
from archipel.domain.state import DomainState
from archipel.domain.telemetry import domain_meter, domain_tracer, start_telemetry, stop_telemetry
from archipel.domain.wiring import prepare_model
from archipel.errors import ConfigurationError
from archipel.fields.simple import Auto, new_identity
from archipel.handling import dispatch
from archipel.handling.decoding import build_upcasters
from archipel.handling.idempotency import idempotency_ttl
from archipel.port import registry as provider_registry
from archipel.utils import globals as _context
from archipel.utils.access_log import access_logger, http_access_logger
from archipel.utils.log_filters import (
    CorrelationFilter,
    TraceContextFilter,
    correlation_processor,
    trace_context_processor,
)
from archipel.utils.logging import configure_logging, install_root_filter, move_redaction_last
from archipel.utils.naming import snake_case
from archipel.utils.sampling import TailSamplingFilter, TailSamplingProcessor

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["Lifecycle"]


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



class Lifecycle(DomainState):
    """Mixin of ``Domain``: initialisation, shutdown and the domain context."""

    def init(self, traverse: bool = True) -> None:
        """Load, resolve and validate the model, build adapters and routes.

        With ``traverse=True`` every module of the domain's package is
        imported first (so elements in sibling modules register). Calling
        ``init()`` again on an initialised domain does nothing. Logging is
        configured first when nothing configured it (see :meth:`_auto_configure_logging`).
        """
        with self._init_lock:
            if self._initialized:
                return
            self._auto_configure_logging()
            if traverse:
                import_domain_modules(self._module_name, self._module_file)
            validate_config(
                self.config,
                database_providers=provider_registry.providers("database"),
                broker_providers=provider_registry.providers("broker"),
                event_store_providers=provider_registry.providers("event_store"),
                cache_providers=provider_registry.providers("cache"),
            )
            domain = cast("Domain", self)  # a Lifecycle is always part of a Domain
            self._schemas = prepare_model(domain)
            self._apply_identity_function()
            self.router = Router(domain)
            self.router.build()
            self._upcasting = build_upcasters(self)
            self._repositories.clear()
            if not self.providers.databases:
                self.providers.build()
            logging_table = self.config.get("logging")
            if isinstance(logging_table, dict) and logging_table.keys() & SLOW_QUERY_KEYS:
                # Protean's slow-query log, asked for: this domain's statements timed
                self.providers.time_statements(QueryLog(logging_table))
            for schema in self._schemas.values():
                if not self.providers.has_store(schema.database):  # every element's store exists
                    self.providers.database(schema.database)
            self._register_cached_projections()
            self._idempotency_ttl = idempotency_ttl(self.config)
            self._email_providers = build_email_providers(self, self.config)
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
            self._single_plan = {
                cls: (schema, kind == "aggregate", schema.database == "default", bool(getattr(cls, "_stamps", ())))
                for cls, (schema, kind, fact_cls) in self._persist_plan.items()
                if fact_cls is None and kind in ("aggregate", "projection")
            }
            self._telemetry = start_telemetry(self)
            self._initialized = True
            dispatch.join_hub(self)

    def configure_logging(self, **kwargs: Any) -> None:
        """Configure logging from ``[logging]`` of ``domain.toml``, ``kwargs`` winning
        (Protean's ``Domain.configure_logging``); see
        :func:`archipel.utils.logging.configure_logging` for the arguments.

        The level is ``kwargs``, else ``ARCHIPEL_LOG_LEVEL``/``PROTEAN_LOG_LEVEL``, else
        the table, else the environment's. Every record and event also carries
        ``correlation_id`` and ``causation_id`` of the message being handled
        (:class:`~archipel.utils.log_filters.CorrelationFilter`), with ``[telemetry]
        enabled`` the ``trace_id``, ``span_id`` and ``trace_flags`` of the current span
        (:class:`~archipel.utils.log_filters.TraceContextFilter`), and fields named in
        ``redact`` (default: Protean's list) are masked. ``[logging.sampling] enabled = true``
        installs tail sampling of the access events (:mod:`archipel.utils.sampling`) on
        ``archipel.access`` and ``archipel.access.http``; a new configuration replaces it.
        """
        options = logging_options(self.config.get("logging"), kwargs)
        traced = bool((self.config.get("telemetry") or {}).get("enabled"))
        extra = [correlation_processor, *([trace_context_processor] if traced else [])]
        extra += options.pop("extra_processors", None) or []
        sampling = sampling_options(self.config.get("logging"))
        if sampling is not None:  # before redaction: the rules read status and message_type
            extra.append(TailSamplingProcessor(**sampling))
        configure_logging(extra_processors=extra, **options)
        install_root_filter(CorrelationFilter())
        if traced:  # the ids first, then masking (a redacted key may name one of them)
            install_root_filter(TraceContextFilter())
            move_redaction_last()
        for logger in (access_logger, http_access_logger):
            for old in [f for f in logger.filters if isinstance(f, TailSamplingFilter)]:
                logger.removeFilter(old)
            if sampling is not None:
                logger.addFilter(TailSamplingFilter(**sampling))

    def _auto_configure_logging(self) -> None:
        """:meth:`configure_logging` unless ``ARCHIPEL_NO_AUTO_LOGGING`` (or
        ``PROTEAN_NO_AUTO_LOGGING``) is ``1``/``true``, the root logger already has
        handlers (the program configured logging), or ``[logging]`` is invalid (init's
        validation reports it). Never fails: a failure is printed to stderr."""
        try:
            if any(
                os.environ.get(name, "").lower() in ("1", "true")
                for name in ("ARCHIPEL_NO_AUTO_LOGGING", "PROTEAN_NO_AUTO_LOGGING")
            ):
                return
            if logging.getLogger().handlers or logging_problems(self.config.get("logging")):
                return
            self.configure_logging()
        except Exception as exc:  # noqa: BLE001 - logging is what failed: stderr it is
            print(f"Warning: auto-configuration of logging failed: {exc}", file=sys.stderr)

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

    def _register_cached_projections(self) -> None:
        """Let each cache rebuild the projections declared ``cache="<its name>"``."""
        for cls in self.registry.of_kind("projection").values():
            cache = cls._meta.get("cache")
            if cache:
                self.providers.cache(cache).register_projection(cls)

    def _wire_brokers(self) -> None:
        inline = self.config.get("message_processing", "sync") == "sync"
        for name, broker in self.providers.brokers.items():
            hook = getattr(broker, "on_publish", None)
            if hook is not None and name == "default":
                hook(cast("Domain", self).deliver_raw if inline else None)

    def shutdown(self) -> None:
        """Leave the hub and close every adapter; ``init()`` may be called again."""
        with self._init_lock:
            dispatch.leave_hub(self)
            stop_telemetry(getattr(self, "_telemetry", None))
            self._telemetry = None
            self.providers.close()
            self.providers = Providers(self.config)
            self._repositories.clear()
            self._initialized = False

    def close(self) -> None:
        """Protean's name for :meth:`shutdown`."""
        self.shutdown()

    @contextmanager
    def domain_context(self) -> Iterator[Domain]:
        """Make this domain ``current_domain`` inside the block (nestable).

        When the block ends, the functions registered with
        :meth:`teardown_domain_context` run, last registered first, each given the
        exception that ended the block (None when it ended normally).
        """
        with _context.domain_context(self) as domain:
            try:
                yield domain
            except BaseException as exc:
                if self.teardown_domain_context_functions:
                    self.do_teardown_domain_context(exc)
                raise
            if self.teardown_domain_context_functions:
                self.do_teardown_domain_context(None)

    def teardown_domain_context(self, function: Callable[[BaseException | None], Any]) -> Callable[..., Any]:
        """Register ``function(exc)`` to run when a ``domain_context()`` block ends (Protean's decorator)."""
        self.teardown_domain_context_functions.append(function)
        return function

    def do_teardown_domain_context(self, exc: BaseException | None = None) -> None:
        """Run the teardown functions, last registered first (``domain_context()`` calls it)."""
        for function in reversed(self.teardown_domain_context_functions):
            function(exc)

    @property
    def has_outbox(self) -> bool:
        """Protean's name: whether events go through the outbox (``enable_outbox``, or async events)."""
        return self.outbox_enabled

    @property
    def tracer(self) -> Any:
        """An OpenTelemetry tracer: the domain's (``[telemetry]``, ``enable_tracing``) or a no-op one."""
        return domain_tracer()

    @property
    def meter(self) -> Any:
        """An OpenTelemetry meter from the global meter provider (a no-op one unless configured)."""
        return domain_meter()

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
        self._ensure_initialized("CONFIG_EVENT_STORE_NOT_INITIALIZED", "Domain._require_event_store")
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
