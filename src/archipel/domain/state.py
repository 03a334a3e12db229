"""``DomainState``: the attributes every part of :class:`~archipel.domain.Domain` shares.

``Domain`` is assembled from mixins, one concept each (:mod:`.lifecycle`,
:mod:`.storage`, :mod:`.commands`, :mod:`.delivery`, :mod:`.outbox`,
:mod:`.maintenance`); they all derive from this class, which declares the
state ``Domain.__init__`` sets and the few questions every part asks
(``initialized``, ``_ensure_initialized``). For the type checker it is also
a :class:`~archipel.handling.protocols.DomainLike`, so a mixin can hand
``self`` to the handling layer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archipel.errors import IncorrectUsageError
from archipel.utils.clock import Clock, SystemClock, note_custom_clock

if TYPE_CHECKING:
    from archipel.domain.config import Config
    from archipel.domain.providers import Providers
    from archipel.domain.registry import Registry
    from archipel.domain.router import Router
    from archipel.handling.decoding import Upcasting
    from archipel.handling.protocols import DomainLike
    from archipel.handling.repository import BaseRepository
    from archipel.port.schema import ModelSchema

    _Contract = DomainLike
else:
    _Contract = object

__all__ = ["DomainState"]


class DomainState(_Contract):
    """The state of one domain (set by ``Domain.__init__`` and ``Domain.init``)."""

    name: str
    #: ``shop`` for ``Shop``: stream categories, table prefixes
    snake_name: str
    #: ``Shop``: the first part of type strings
    type_prefix: str
    identity_function: Callable[[], Any] | None
    root_path: str | None
    config: Config
    registry: Registry
    router: Router
    providers: Providers
    _module_name: str | None
    _module_file: str | None
    _schemas: dict[Any, ModelSchema]
    _repositories: dict[type, BaseRepository[Any]]
    _initialized: bool
    _inline_events: bool
    _outbox_enabled: bool
    #: broker name for integration events (``[integration] broker``), or None
    _integration_broker: str | None
    _integration_stream: str
    _async_commands: bool
    #: command class -> (stream category, identity field of its aggregate)
    _command_streams: dict[type, tuple[str, str | None]]
    #: stored class -> (schema, kind, fact event class or None)
    _persist_plan: dict[type, tuple[ModelSchema, str, Any]]
    #: the classes a one-object commit saves (``handling.single_commit``: an aggregate without
    #: a fact event, or a projection) -> (schema, is it an aggregate, in the default database,
    #: has it stamped dates: ``_stamps``)
    _single_plan: dict[type, tuple[ModelSchema, bool, bool, bool]]
    _init_lock: threading.RLock
    #: upcaster chains, checked at init (see archipel.handling.decoding)
    _upcasting: Upcasting | None
    _idempotency_schema: ModelSchema
    #: ``[email_providers.<name>]`` providers, built by ``init()``
    _email_providers: dict[str, Any]
    #: seconds an idempotency key is kept (``[idempotency] ttl``)
    _idempotency_ttl: float
    _clock: Clock
    #: ``@domain.teardown_domain_context`` functions, run when a ``domain_context()`` ends
    teardown_domain_context_functions: list[Callable[[BaseException | None], Any]]

    @property
    def initialized(self) -> bool:
        """True between :meth:`~archipel.domain.lifecycle.Lifecycle.init` and ``shutdown``."""
        return self._initialized

    @property
    def clock(self) -> Clock:
        """The domain's source of time (default :class:`~archipel.utils.clock.SystemClock`).

        Messages' times, ``auto_now`` fields and command deadlines read it, as in
        Protean: give it a stub clock (an object with ``now()``) to freeze time in tests.
        """
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        if not callable(getattr(clock, "now", None)):
            raise IncorrectUsageError(f"domain.clock takes an object with a now() method, got {clock!r}")
        if clock.__class__ is not SystemClock:
            note_custom_clock()
        self._clock = clock

    # Protean's configuration attributes (``env``, ``testing``, ``secret_key``: read-only here)
    @property
    def env(self) -> Any:
        """The ``env`` configuration value (Protean's attribute)."""
        return self.config.get("env")

    @property
    def testing(self) -> Any:
        """The ``testing`` configuration value (Protean's attribute)."""
        return self.config.get("testing")

    @property
    def secret_key(self) -> Any:
        """The ``secret_key`` configuration value (Protean's attribute)."""
        return self.config.get("secret_key")

    @property
    def camel_case_name(self) -> str:
        """The domain's name as used in type strings (``"Shop"`` in ``Shop.OrderPlaced.v1``)."""
        return self.type_prefix

    @property
    def normalized_name(self) -> str:
        """The domain's name as used in stream categories (``"shop"`` in ``shop::order``)."""
        return self.snake_name

    def _ensure_initialized(self, code: str | None = None, location: str | None = None) -> None:
        if not self._initialized:
            raise IncorrectUsageError(
                f"domain {self.name!r} is not initialised: call {self.snake_name}.init() first",
                code=code,
                location=location,
            )
