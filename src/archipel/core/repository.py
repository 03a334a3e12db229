"""Repositories (Protean's ``protean.core.repository``): ``BaseRepository``.

The code lives in :mod:`archipel.handling.repository`: a repository works
inside a unit of work and talks to the database port, which archipel keeps
out of the pure ``core`` layer. This module is the documented Protean path
(a façade; see docs/porting.md).
"""

from archipel.handling.repository import BaseRepository

__all__ = ["BaseRepository"]
