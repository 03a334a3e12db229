"""Protean's wide access events: one log record per handler invocation.

Each command handler, event handler, query handler and projector method
emits, on the ``archipel.access`` logger (Protean's ``protean.access``)::

    access.handler_completed   INFO     (WARNING when slower than slow_handler_threshold_ms)
    access.handler_failed      ERROR    (with the traceback)

and a slow one also ``slow_handler`` at WARNING on ``archipel.perf``. The
record carries Protean's fields (:data:`FRAMEWORK_FIELDS`: ``kind``,
``message_type``, ``handler``, ``duration_ms``, ``status`` ``ok``/``slow``/``failed``,
``events_raised``, ``repo_operations``, ``uow_outcome``, ...) and what the
handler bound with :func:`~archipel.utils.logging.bind_event_context`. Each
handler starts with an empty context; the outer one is restored afterwards.

The router holds each handler method and its observed twin (:func:`observed`,
:func:`install_access_log`) and calls the twin only while ``archipel.access``
is enabled for INFO: every level change re-decides (logging clears its cache of
the logger's levels, and that cache is ours, :class:`_ArmingCache`). With the
access log off the handlers run exactly as they are: no call more, no check.
Unlike Protean's, a slow or failed handler is therefore not logged while
``archipel.access`` is at WARNING or above (Protean computes every event and lets
the level drop the ``ok`` ones): keep it at INFO (``configure_logging``'s
default) and sample (``[logging.sampling]``), or route by level at the handler. A failure to emit is logged at DEBUG and never
reaches the handling.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog

from archipel.utils import globals as _context
from archipel.utils.log_filters import LOG_RECORD_RESERVED_ATTRS

__all__ = [
    "ACCESS_LOGGER_NAME",
    "HTTP_REQUESTS",
    "FRAMEWORK_FIELDS",
    "HANDLER_KINDS",
    "access_log_handler",
    "access_logger",
    "http_request",
    "install_access_log",
    "list_http_command",
    "http_access_logger",
    "http_commands",
    "http_event_extras",
    "observed",
    "perf_logger",
]

ACCESS_LOGGER_NAME = "archipel.access"
access_logger = logging.getLogger(ACCESS_LOGGER_NAME)
#: the FastAPI middleware's HTTP wide events (under ``archipel.access``: sampled alike)
http_access_logger = logging.getLogger(ACCESS_LOGGER_NAME + ".http")
perf_logger = logging.getLogger("archipel.perf")
_debug_log = logging.getLogger(__name__)
#: the fields ``bind_event_context`` adds to the request's HTTP wide event: a dict the
#: FastAPI middleware sets before the endpoint runs (its task sees the same dict), else None
http_event_extras: ContextVar[dict[str, Any] | None] = ContextVar("archipel_http_event_extras", default=None)
#: the type strings of the commands ``Domain.process`` took during the request: a list
#: the FastAPI middleware sets, else None
http_commands: ContextVar[list[str] | None] = ContextVar("archipel_http_commands", default=None)
#: how many requests the FastAPI middleware is serving (``Domain.process`` reads
#: :data:`http_commands` only then: nothing more per command outside a web server)
HTTP_REQUESTS = [0]
_requests_lock = threading.Lock()


def list_http_command(command: Any) -> None:
    """Add ``command``'s type string to the request's :data:`http_commands`, if any."""
    listed = http_commands.get()
    if listed is not None:
        listed.append(command._metadata.type or type(command).__name__)


@contextmanager
def http_request() -> Iterator[list[str]]:
    """The middleware's scope of one request: its list of commands, counted in :data:`HTTP_REQUESTS`."""
    commands: list[str] = []
    token = http_commands.set(commands)
    with _requests_lock:
        HTTP_REQUESTS[0] += 1
    try:
        yield commands
    finally:
        with _requests_lock:
            HTTP_REQUESTS[0] -= 1
        http_commands.reset(token)

#: the router's element kind -> the wide event's ``kind`` (Protean's names)
HANDLER_KINDS: dict[str, str] = {
    "command_handler": "command",
    "event_handler": "event",
    "query_handler": "query",
    "projector": "projector",
}

#: the fields archipel sets; a bound field of the same name is left out
FRAMEWORK_FIELDS: frozenset[str] = frozenset(
    {
        "kind", "message_type", "message_id", "aggregate", "aggregate_id", "events_raised",
        "events_raised_count", "repo_operations", "uow_outcome", "handler", "duration_ms",
        "status", "error_type", "error_message", "correlation_id", "causation_id",
    }
)
_FORBIDDEN = FRAMEWORK_FIELDS | LOG_RECORD_RESERVED_ATTRS
_DEFAULT_SLOW_MS = 500


def observed(kind: str, handler_cls: type, method: Callable[..., Any], domain: Any = None) -> Callable[..., Any]:
    """``method`` (called as ``method(instance, item)``) emitting its wide event.

    ``kind`` is the router's element kind (:data:`HANDLER_KINDS`); ``domain`` gives
    ``slow_handler_threshold_ms`` (else the active domain's, else 500).
    """
    event_kind = HANDLER_KINDS.get(kind, "unknown")
    name = method.__name__

    def handler(instance: Any, item: Any) -> Any:
        return _observe(event_kind, handler_cls, name, domain, method, instance, item)

    handler.__name__ = name
    handler.__qualname__ = getattr(method, "__qualname__", name)
    handler.__doc__ = method.__doc__
    handler.__wrapped__ = method  # type: ignore[attr-defined]
    handler._archipel_plain = method  # type: ignore[attr-defined]
    return handler


# -- arming: the routers hold the observed methods only while archipel.access logs INFO --

#: (target, key, plain, observed): a route (key None) or a table entry (handler class, method)
_Swap = tuple[Any, Any, Callable[..., Any], Callable[..., Any]]
#: the routers (weakly: a domain the program drops is collected, its connections closed);
#: each holds its swaps in ``_access_swaps``
_ROUTERS: weakref.WeakSet[Any] = weakref.WeakSet()
_armed = [False]


def install_access_log(router: Any) -> None:
    """Give ``router``'s handler methods (commands, queries, event handlers, projectors)
    their observed twins, put in place while ``archipel.access`` is enabled for INFO.

    Every level change clears logging's cache of the logger's levels; the cache
    (:class:`_ArmingCache`) then re-decides for every router, so the handlers of a
    program with the access log off run as they are, without a call more."""
    swaps: list[_Swap] = []
    domain = router.domain
    for route in router.routes:
        plain = getattr(route.method, "_archipel_plain", route.method)  # (a user's decorator kept)
        if route.kind in HANDLER_KINDS:
            swaps.append((route, None, plain, observed(route.kind, route.handler_cls, plain, domain)))
    for table, kind in ((router.commands, "command_handler"), (router.queries, "query_handler")):
        for key, (handler_cls, method) in table.items():
            plain = getattr(method, "_archipel_plain", method)
            swaps.append((table, key, plain, observed(kind, handler_cls, plain, domain)))
    with _lock:
        router._access_swaps = swaps
        _ROUTERS.add(router)
        _apply(swaps, _armed[0])


def _apply(swaps: list[_Swap], on: bool) -> None:
    for target, key, plain, wrapped in swaps:
        method = wrapped if on else plain
        if key is None:
            target.method = method
        else:
            target[key] = (target[key][0], method)


def _rearm() -> None:
    on = access_logger.isEnabledFor(logging.INFO)
    if on == _armed[0]:
        return
    with _lock:
        _armed[0] = on
        for router in list(_ROUTERS):
            _apply(getattr(router, "_access_swaps", []), on)


class _ArmingCache(dict):  # type: ignore[type-arg]
    """``access_logger._cache``: logging clears it at every level change (``setLevel``,
    ``logging.disable``, ``dictConfig``); clearing it re-arms the routers."""

    def clear(self) -> None:
        super().clear()
        try:
            _rearm()
        except Exception:  # noqa: BLE001 - a level change never fails for the access log
            _debug_log.debug("access_log_rearm_failed", exc_info=True)


_lock = threading.RLock()
access_logger._cache = _ArmingCache(access_logger._cache)  # type: ignore[attr-defined]
_rearm()


def _observe(
    kind: str, handler_cls: type, name: str, domain: Any, method: Callable[..., Any], instance: Any, item: Any
) -> Any:
    saved = structlog.contextvars.get_contextvars()
    structlog.contextvars.clear_contextvars()
    started = time.perf_counter()
    try:
        result = method(instance, item)
    except Exception as exc:
        app_context = _restore(saved)
        _safely(kind, item, handler_cls, name, started, exc, app_context, domain, None, "rolled_back")
        raise
    except BaseException:
        _restore(saved)
        raise
    app_context = _restore(saved)
    uow = _context.scope.get()[1]
    if kind != "query" and uow is not None and getattr(uow, "message", None) is item:
        # its own unit of work commits after the method returns: the event then, as in
        # Protean (whose handler wraps its unit of work), with what it committed
        try:
            counts = _repo_operations(uow)
            uow.after_commit(
                lambda: _safely(
                    kind, item, handler_cls, name, started, None, app_context, domain, uow, "committed", counts
                )
            )
            return result
        except Exception:  # noqa: BLE001 - a unit of work without after_commit: the event now
            _debug_log.debug("access_log_deferral_failed", exc_info=True)
    _safely(kind, item, handler_cls, name, started, None, app_context, domain, None, "no_uow")
    return result


def _restore(saved: dict[str, Any]) -> dict[str, Any]:
    bound = structlog.contextvars.get_contextvars()
    structlog.contextvars.clear_contextvars()
    if saved:
        structlog.contextvars.bind_contextvars(**saved)
    return bound


def _repo_operations(uow: Any) -> dict[str, int]:
    loaded = getattr(uow, "_loaded", None) or {}
    tracked = getattr(uow, "_tracked", None) or {}
    return {"loads": len(loaded), "saves": len(tracked)}


def _safely(*args: Any) -> None:
    try:
        _emit(*args)
    except Exception:  # noqa: BLE001 - the access log never breaks the handling
        _debug_log.debug("access_log_emission_failed", exc_info=True)


def _emit(
    kind: str,
    item: Any,
    handler_cls: type,
    name: str,
    started: float,
    error: BaseException | None,
    app_context: dict[str, Any],
    domain: Any,
    uow: Any,
    outcome: str,
    counts: dict[str, int] | None = None,
) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    if error is not None:
        status = "failed"
    else:
        threshold = _slow_threshold(domain)
        status = "slow" if threshold > 0 and duration_ms > threshold else "ok"
    meta = getattr(item, "_metadata", None)
    events = [type(event).__name__ for event in getattr(uow, "committed_events", None) or ()]
    aggregate, aggregate_id = _aggregate_of(item, handler_cls, meta)
    event = {k: v for k, v in app_context.items() if k not in _FORBIDDEN}
    event.update(
        kind=kind,
        message_type=getattr(meta, "type", None) or type(item).__name__,
        message_id=str(getattr(meta, "id", None) or ""),
        aggregate=aggregate,
        aggregate_id=aggregate_id,
        events_raised=events,
        events_raised_count=len(events),
        repo_operations=counts or {"loads": 0, "saves": 0},
        uow_outcome=outcome,
        handler=f"{handler_cls.__name__}.{name}",
        duration_ms=duration_ms,
        status=status,
        error_type=type(error).__name__ if error is not None else None,
        error_message=str(error)[:256] if error is not None else None,
        correlation_id=str(getattr(meta, "correlation_id", None) or ""),
        causation_id=str(getattr(meta, "causation_id", None) or ""),
    )
    if error is not None:
        access_logger.error(
            "access.handler_failed", extra=event, exc_info=(type(error), error, error.__traceback__)
        )
    elif status == "slow":
        access_logger.warning("access.handler_completed", extra=event)
        perf_logger.warning("slow_handler", extra=event)
    elif access_logger.isEnabledFor(logging.INFO):
        # the record made directly: ``info`` would walk the stack for a source line
        # that is always this one (5 % of an event's cost)
        access_logger.handle(
            access_logger.makeRecord(
                access_logger.name, logging.INFO, __file__, sys._getframe().f_lineno, "access.handler_completed", (), None,
                "_emit", event,
            )
        )


def _slow_threshold(domain: Any) -> float:
    if domain is None:
        domain = _context.active_domain()
    section = getattr(domain, "config", {}).get("logging") if domain is not None else None
    value = section.get("slow_handler_threshold_ms", _DEFAULT_SLOW_MS) if isinstance(section, dict) else _DEFAULT_SLOW_MS
    return float(value)


def _aggregate_of(item: Any, handler_cls: type, meta: Any) -> tuple[str, str]:
    """The aggregate's class name and (from the message's stream) its id (Protean's rules)."""
    part_of = getattr(getattr(item, "_meta", None), "part_of", None) or getattr(
        getattr(handler_cls, "_meta", None), "part_of", None
    )
    if part_of is None or isinstance(part_of, str):
        return (part_of or "", "")
    stream = getattr(meta, "stream", None) or ""
    category = getattr(getattr(part_of, "_meta", None), "stream_category", "") or ""
    aggregate_id = ""
    if stream and category:
        if f"{category}:command-" in stream:
            aggregate_id = stream.split(f"{category}:command-", 1)[1]
        elif stream.startswith(f"{category}-"):
            aggregate_id = stream[len(category) + 1 :]
    return part_of.__name__, aggregate_id


@contextmanager
def access_log_handler(kind: str, item: Any, handler_cls: type, handler_method_name: str) -> Iterator[None]:
    """Protean's context manager: time the block and emit its wide event (``kind``:
    ``command``, ``event``, ``query`` or ``projector``), the outer context restored."""
    saved = structlog.contextvars.get_contextvars()
    structlog.contextvars.clear_contextvars()
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        yield
    except Exception as exc:
        error = exc
        raise
    finally:
        app_context = _restore(saved)
        _safely(
            kind, item, handler_cls, handler_method_name, started, error, app_context, None, None,
            "rolled_back" if error is not None else "no_uow",
        )
