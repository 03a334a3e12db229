"""Structured logging (Protean's ``protean.utils.logging``), on structlog and the standard library.

::

    from archipel.utils.logging import add_context, configure_logging, get_logger

    configure_logging()                      # level and format from the environment
    configure_logging(log_dir="logs")        # + logs/archipel.log, logs/archipel_error.log
    add_context(request_id="r-1")            # on every line of this task from now on
    get_logger(__name__).info("order_placed", order_id="o-1", total=9.5)

:func:`get_logger` returns a structlog ``BoundLogger`` (keyword fields,
``bind``, ``unbind``, ``new``, ``exception``); its events and the records of
``logging.getLogger(...)`` (archipel's own) go through the same handlers and
formats (see :mod:`archipel.utils.log_setup`). The environment is
``ARCHIPEL_ENV``, else ``PROTEAN_ENV``, ``ENV`` or ``ENVIRONMENT``:

============================  ==========  ========
environment                   format      level
============================  ==========  ========
``production``, ``staging``   JSON        INFO
``development``               console     DEBUG
``test``                      console     WARNING
unset, or another name        console     INFO
============================  ==========  ========

``ARCHIPEL_LOG_LEVEL`` (else ``PROTEAN_LOG_LEVEL``) overrides the level. An
unknown level or format is an error naming the allowed values.
:meth:`archipel.domain.Domain.configure_logging` applies ``[logging]`` of
``domain.toml`` and adds the correlation ids of the message being handled.
"""

from __future__ import annotations

import functools
import logging
import logging.config
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

import structlog

from archipel.utils.access_log import (
    access_log_handler,
    access_logger,
    http_access_logger,
    http_event_extras,
    perf_logger,
)
from archipel.utils.log_filters import CorrelationFilter, RedactionFilter, make_redaction_processor
from archipel.utils.log_setup import (
    HANDLER_MARK,
    EventDict,
    StderrHandler,
    build_formatter,
    file_handlers,
    mark,
    structlog_chain,
)
from archipel.utils.sampling import TailSamplingFilter, TailSamplingProcessor

__all__ = [
    "ENV_LEVELS",
    "FORMATS",
    "LEVELS",
    "ContextFilter",
    "TailSamplingFilter",
    "TailSamplingProcessor",
    "access_log_handler",
    "access_logger",
    "http_access_logger",
    "perf_logger",
    "add_context",
    "bind_event_context",
    "clear_context",
    "configure_for_testing",
    "configure_logging",
    "current_context",
    "detect_env",
    "get_logger",
    "install_root_filter",
    "move_redaction_last",
    "log_method_call",
    "resolve_level",
    "unbind_event_context",
]

_F = TypeVar("_F", bound=Callable[..., Any])

#: the levels ``configure_logging`` takes (names are case-insensitive)
LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: ``format=``: ``auto`` picks by environment (a text holding ``%(`` is a ``logging`` format)
FORMATS: tuple[str, ...] = ("auto", "console", "json")
#: the level each environment logs at (others: INFO)
ENV_LEVELS: dict[str, str] = {"production": "INFO", "staging": "INFO", "development": "DEBUG", "test": "WARNING"}
_JSON_ENVS = frozenset({"production", "staging"})
_ENV_VARIABLES = ("ARCHIPEL_ENV", "PROTEAN_ENV", "ENV", "ENVIRONMENT")
_LEVEL_VARIABLES = ("ARCHIPEL_LOG_LEVEL", "PROTEAN_LOG_LEVEL")
_MAX_BYTES = 10 * 1024 * 1024

#: third-party loggers chatty at DEBUG and INFO (Protean's list): WARNING and above only
NOISY_LOGGERS: dict[str, int] = {
    name: logging.WARNING
    for name in ("urllib3", "asyncio", "sqlalchemy.engine", "sqlalchemy.pool", "elasticsearch", "redis")
}
#: archipel's adapter loggers: problems only, unless the level is DEBUG (Protean's
#: ``protean.adapters``); the engine and the observatory follow the level
FRAMEWORK_LOGGERS: dict[str, int] = {
    "archipel.sql": logging.WARNING,
    "archipel.uow": logging.WARNING,
    # Protean's wide access events (archipel.utils.access_log) and slow-query warnings
    "archipel.access": logging.INFO,
    "archipel.access.http": logging.INFO,
    "archipel.perf": logging.WARNING,
    "archipel.security": logging.WARNING,
    "archipel.snapshot": logging.WARNING,
    "archipel.adapters.repository.sqlalchemy.slow_query": logging.WARNING,
}


# -- the environment ---------------------------------------------------------


def detect_env() -> str:
    """The environment's name, lower-cased (``""`` when none is set)."""
    for name in _ENV_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value.lower()
    return ""


def resolve_level(level: str | int | None, env: str | None = None) -> int:
    """The numeric level: ``level``, else ``ARCHIPEL_LOG_LEVEL``/``PROTEAN_LOG_LEVEL``,
    else the environment's (:data:`ENV_LEVELS`); ``""`` is unset. Raises ``ValueError`` naming the
    allowed levels for anything else."""
    source = "level"
    if level is None or level == "":
        source, level = next(
            ((name, os.environ[name]) for name in _LEVEL_VARIABLES if os.environ.get(name)),
            ("level", ENV_LEVELS.get(detect_env() if env is None else env, "INFO")),
        )
    return _parse_level(level, source)


def _parse_level(level: Any, source: str) -> int:
    if isinstance(level, int) and not isinstance(level, bool) and level in logging.getLevelNamesMapping().values():
        return level
    if isinstance(level, str) and level.strip().upper() in (*LEVELS, "WARN", "FATAL", "NOTSET"):
        return logging.getLevelNamesMapping()[level.strip().upper()]
    raise ValueError(f"{source} {level!r} is not a log level; use one of {', '.join(LEVELS)}")


# -- the context of the current task ---------------------------------------------


def add_context(**values: Any) -> None:
    """Attach ``values`` to every log line of the current task (thread or asyncio task)."""
    structlog.contextvars.bind_contextvars(**values)


def current_context() -> dict[str, Any]:
    """What :func:`add_context` attached in the current task (a copy)."""
    return structlog.contextvars.get_contextvars()


def clear_context() -> None:
    """Remove everything :func:`add_context` attached in the current task."""
    structlog.contextvars.clear_contextvars()


def bind_event_context(**values: Any) -> None:
    """Add business fields to the wide event of the handling in progress (Protean's):
    the handler's ``access.handler_completed`` event, and inside a FastAPI endpoint
    under ``DomainContextMiddleware`` the request's ``access.http_completed``. Calls
    accumulate (a later value wins). Bound to the task's context as :func:`add_context`:
    other lines of the handler show them too, and each handler starts without them."""
    structlog.contextvars.bind_contextvars(**values)
    extras = http_event_extras.get()
    if extras is not None:
        extras.update(values)


def unbind_event_context(*keys: str) -> None:
    """Remove ``keys`` from the wide event and the task's context (absent keys are ignored)."""
    structlog.contextvars.unbind_contextvars(*keys)
    extras = http_event_extras.get()
    if extras is not None:
        for key in keys:
            extras.pop(key, None)


class ContextFilter(logging.Filter):
    """Puts the task's context on each record: as attributes, and as ``archipel_context``
    text (`` key=value`` pairs) for ``logging`` format strings (``%(archipel_context)s``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = current_context()
        for key, value in values.items():
            setattr(record, key, value)
        shown = record.msg if isinstance(record.msg, EventDict) else {}  # a structlog event shows them
        record.archipel_context = "".join(f" {k}={v}" for k, v in values.items() if k not in shown)
        return True


# -- loggers -----------------------------------------------------------------------


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """The structlog logger ``name`` (use ``__name__``), writing through ``logging``.

    Until :func:`configure_logging` runs (or when structlog was configured by the
    program itself) it uses structlog's configuration as it is, set up to write
    through ``logging`` when nothing configured it.
    """
    if not structlog.is_configured():
        _configure_structlog([])
    return cast(structlog.stdlib.BoundLogger, structlog.get_logger(name))


def log_method_call(func: _F) -> _F:
    """Log each call of ``func`` at DEBUG (``method_call_start``, ``method_call_end``)
    and an exception it raises (``method_call_error``, with the traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        logger = get_logger(func.__module__)
        logger.debug("method_call_start", method=func.__name__, args=args[1:] if args else [], kwargs=kwargs)
        try:
            result = func(*args, **kwargs)
        except Exception as exc:
            logger.exception("method_call_error", method=func.__name__, error=str(exc))
            raise
        logger.debug("method_call_end", method=func.__name__, result=result)
        return result

    return cast(_F, wrapper)


# -- configuration -----------------------------------------------------------------


def configure_logging(
    level: str | int | None = None,
    format: str = "auto",  # noqa: A002 - Protean's name
    log_dir: str | Path | None = None,
    log_file_prefix: str | None = None,
    max_bytes: int = _MAX_BYTES,
    backup_count: int = 5,
    extra_processors: Iterable[Any] | None = None,
    per_logger: Mapping[str, str | int] | None = None,
    dict_config: Mapping[str, Any] | None = None,
    redact: Iterable[str] | None = None,
) -> None:
    """Configure logging for the whole process (Protean's signature and behaviour).

    - ``level``: ``DEBUG`` ... ``CRITICAL`` (or a number); default from the
      environment (see the module docstring).
    - ``format``: ``"json"``, ``"console"`` or ``"auto"`` (JSON in production and
      staging); a text holding ``%(`` is a ``logging`` format string, as archipel's
      first ``configure_logging`` took (the task's context in ``%(archipel_context)s``).
    - ``log_dir``: also write ``<log_file_prefix>.log`` and ``<log_file_prefix>_error.log``
      (ERROR and above) there (prefix ``archipel``), rotating at ``max_bytes``
      (0: never) with ``backup_count`` old files.
    - ``extra_processors``: structlog processors run on every event before it is rendered.
    - ``per_logger``: ``{"archipel.engine": "WARNING", ...}``, set after the rest.
    - ``dict_config``: applied with ``logging.config.dictConfig`` instead of all of the
      above (its handlers get the correlation filter, and redaction when asked).
    - ``redact``: field names (case-insensitive, at any depth) whose values become
      ``"[REDACTED]"``, with Protean's defaults (``password``, ``token``, ...) added;
      ``None`` or empty: no redaction.

    The root logger's handlers are replaced (those archipel installed are closed);
    stderr gets the console (or JSON) lines. Arguments are checked before anything
    changes: ``ValueError``/``TypeError`` naming the argument and what it takes.
    """
    extra = list(extra_processors or [])
    if not all(callable(processor) for processor in extra):
        raise TypeError(f"extra_processors takes structlog processors (callables); got {extra!r}")
    if redact:
        extra.append(make_redaction_processor(redact))
    levels = {name: _parse_level(value, f"per_logger[{name!r}]") for name, value in _per_logger(per_logger).items()}
    if dict_config is not None:
        if not isinstance(dict_config, Mapping):
            raise TypeError(f"dict_config takes a logging.config.dictConfig dict; got {dict_config!r}")
        logging.config.dictConfig(dict(dict_config))
        _configure_structlog(extra)
        install_root_filter(CorrelationFilter())
        if redact:
            install_root_filter(RedactionFilter(redact))
        return
    env = detect_env()
    numeric = resolve_level(level, env)
    kind = _format_kind(format, env)
    _check_files(log_dir, log_file_prefix, max_bytes, backup_count)

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if getattr(handler, HANDLER_MARK, False):
            handler.close()
    root.setLevel(numeric)
    console = mark(StderrHandler())
    console.setLevel(numeric)
    if kind in ("console", "json"):
        console.setFormatter(build_formatter(kind, extra, colors=kind == "console" and _stderr_colors()))
    else:  # a logging format string
        console.addFilter(ContextFilter())
        console.setFormatter(logging.Formatter(kind))
    root.addHandler(console)
    if log_dir:
        formatter = build_formatter("json" if kind == "json" else "console", extra)
        for handler in file_handlers(
            Path(log_dir), log_file_prefix or "archipel", max_bytes, backup_count, numeric, formatter
        ):
            root.addHandler(handler)
    for name, noisy in NOISY_LOGGERS.items():
        logging.getLogger(name).setLevel(noisy)
    debug = numeric <= logging.DEBUG
    logging.getLogger("archipel").setLevel(logging.DEBUG if debug else logging.NOTSET)
    for name, quiet in FRAMEWORK_LOGGERS.items():
        logging.getLogger(name).setLevel(logging.NOTSET if debug else quiet)
    _configure_structlog(extra)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


def configure_for_testing() -> None:
    """Quiet logging for a test run: the root logger at WARNING, no file handlers."""
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()


def install_root_filter(filter_: logging.Filter) -> None:
    """Attach ``filter_`` to the root logger and each of its handlers, where no filter
    of its class is (a redaction filter: none masking all its keys)."""
    root = logging.getLogger()
    for target in (root, *root.handlers):
        same = [f for f in target.filters if type(f) is type(filter_)]
        if isinstance(filter_, RedactionFilter):
            covered: set[str] = set().union(*(f.keys for f in same if isinstance(f, RedactionFilter)))
            if filter_.keys <= covered:
                continue
        elif same:
            continue
        target.addFilter(filter_)


def move_redaction_last() -> None:
    """Put the redaction filters of the root logger and of each of its handlers after
    their other filters (filters run in order: the ids they add can then be masked)."""
    root = logging.getLogger()
    for target in (root, *root.handlers):
        redaction = [f for f in target.filters if isinstance(f, RedactionFilter)]
        if redaction and target.filters[-len(redaction):] != redaction:
            target.filters = [*(f for f in target.filters if not isinstance(f, RedactionFilter)), *redaction]


#: the processors of every ``get_logger()`` event, replaced in place by each configuration:
#: loggers cache their (one) processor on first use and still follow a new configuration
_CHAIN: list[Any] = []


def _run_chain(logger: Any, method: str, event_dict: Any) -> Any:
    for processor in _CHAIN:
        event_dict = processor(logger, method, event_dict)
    return event_dict


def _configure_structlog(extra: list[Any]) -> None:
    _CHAIN[:] = structlog_chain(extra)
    structlog.configure(
        processors=[_run_chain],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        context_class=dict,
        cache_logger_on_first_use=True,
    )


def _format_kind(format: str, env: str) -> str:  # noqa: A002
    if isinstance(format, str) and "%(" in format:
        return format
    if format not in FORMATS:
        raise ValueError(
            f"format {format!r} is not a log format; use one of {', '.join(map(repr, FORMATS))} "
            "(or a logging format string with %(...)s fields)"
        )
    if format == "auto":
        return "json" if env in _JSON_ENVS else "console"
    return format


def _per_logger(per_logger: Mapping[str, str | int] | None) -> Mapping[str, str | int]:
    if per_logger is None:
        return {}
    if not isinstance(per_logger, Mapping) or not all(isinstance(name, str) for name in per_logger):
        raise TypeError(f"per_logger takes {{logger name: level}}, e.g. {{'archipel.engine': 'WARNING'}}; got {per_logger!r}")
    return per_logger


def _check_files(log_dir: Any, prefix: Any, max_bytes: Any, backup_count: Any) -> None:
    if log_dir is not None and not isinstance(log_dir, str | os.PathLike):
        raise TypeError(f"log_dir takes a directory path; got {log_dir!r}")
    if prefix is not None and (not isinstance(prefix, str) or not prefix or "/" in prefix or os.sep in prefix):
        raise ValueError(f"log_file_prefix takes a file name without a directory, e.g. 'myapp'; got {prefix!r}")
    for name, value in (("max_bytes", max_bytes), ("backup_count", backup_count)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} takes a whole number >= 0; got {value!r}")


def _stderr_colors() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")
