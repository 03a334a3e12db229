"""``database_uri`` to the SQLAlchemy URL archipel connects with."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from archipel.errors import ConfigurationError
from archipel.utils.redaction import redact

__all__ = ["normalize_url", "ensure_parent_folder", "MEMORY_PATHS"]

_PROVIDER_BACKENDS = {"sqlite": "sqlite", "postgresql": "postgresql", "sql": None}
#: SQLite database names that mean "in memory"
MEMORY_PATHS = ("", ":memory:")


def normalize_url(uri: str, provider: str = "sql") -> sa.URL:
    """Parse ``database_uri`` into the URL the engine uses.

    ``postgresql://``, ``postgres://`` and ``postgresql+psycopg://`` all mean
    psycopg 3. A relative SQLite path is made absolute against the current
    directory now, so a later ``chdir`` cannot move the database.
    """
    text = uri.strip()
    if text.startswith("postgres://"):
        text = "postgresql://" + text[len("postgres://") :]
    try:
        url = sa.make_url(text)
    except sa.exc.ArgumentError as exc:
        raise ConfigurationError(
            f"database_uri {redact({'u': uri})['u']!r} is not a valid URL: "
            'write e.g. "sqlite:///app.db" or "postgresql://user:password@host:5432/db"'
        ) from exc
    backend = url.get_backend_name()
    if backend == "postgresql":
        if url.get_driver_name() not in ("psycopg", "psycopg2"):
            raise ConfigurationError(
                f"database_uri uses the driver {url.get_driver_name()!r}: archipel talks to "
                "PostgreSQL through psycopg 3; write postgresql:// or postgresql+psycopg://"
            )
        url = url.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        path = url.database or ""
        if path not in MEMORY_PATHS and not path.startswith("file:"):
            url = url.set(database=str(Path(path).expanduser().resolve()))
        url = url.set(drivername="sqlite")
    else:
        raise ConfigurationError(
            f"database_uri scheme {url.drivername!r} is not supported by the SQL adapters: "
            "use sqlite:///path.db or postgresql://user:password@host:port/db"
        )
    wanted = _PROVIDER_BACKENDS.get(provider)
    if wanted is not None and wanted != backend:
        raise ConfigurationError(
            f"provider {provider!r} does not match database_uri scheme {backend!r}: "
            f'use provider = "{backend}" (or "sql", which follows the URI)'
        )
    return url


def ensure_parent_folder(path: str) -> None:
    """Create the folder of an SQLite file (``sqlite:///.archipel/app.db`` on a fresh checkout)."""
    if path.startswith("file:"):
        return
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # opening the database reports the problem with a clear message
