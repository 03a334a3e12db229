"""Where Bookshelf keeps its data: choosing the database and saying where it is.

Used by the story (``--database-url``) before ``domain.init()``; the
configuration itself lives in ``domain.toml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archipel.domain.config import redact


def database_url(domain: Any) -> str | None:
    """The URI of the default database, as configured (``None`` for the memory provider)."""
    settings = domain.config.get("databases", {}).get("default", {})
    uri = settings.get("database_uri")
    return str(uri) if uri and settings.get("provider") != "memory" else None


def use_database(domain: Any, url: str) -> None:
    """Point the default database and the event store at ``url`` (before ``init()``).

    Both share the URI so that aggregates, projections and events are written
    in one transaction.
    """
    if domain.initialized:
        raise RuntimeError("choose the database before domain.init()")
    domain.config["databases"]["default"]["database_uri"] = url
    domain.config["event_store"]["database_uri"] = url


def sqlite_path(url: str | None) -> Path | None:
    """The file of an SQLite URL (``sqlite:///relative.db``, ``sqlite:////absolute.db``)."""
    if not url or not url.lower().startswith("sqlite"):
        return None
    _, sep, path = url.partition(":///")
    path = path.split("?", 1)[0]
    if not sep or not path or path == ":memory:":
        return None
    return Path(path).expanduser().resolve()


def prepare(url: str | None) -> None:
    """Create the folder of an SQLite file (``.archipel/`` on a first run)."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def describe(url: str | None) -> str:
    """Where the data lives, safe to print: passwords in URLs are masked."""
    if not url:
        return "in memory (nothing is kept after the run)"
    scheme = url.split(":", 1)[0].lower()
    safe = str(redact({"url": url})["url"])
    if scheme.startswith("sqlite"):
        path = sqlite_path(url)
        return f"SQLite file {path}" if path is not None else f"SQLite in memory ({safe})"
    if scheme.startswith("postgres"):
        return f"PostgreSQL {safe}"
    return safe
