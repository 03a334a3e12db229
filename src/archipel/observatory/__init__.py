"""The observatory: a live web dashboard over one or more domains.

``archipel observatory --domain X [--domain Y ...]`` serves
:func:`archipel.observatory.app.create_app` with uvicorn. Needs the ``web``
extra (Starlette, uvicorn); imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archipel.observatory.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # lazy: `import archipel.observatory` must not require Starlette
    if name == "create_app":
        from archipel.observatory.app import create_app

        return create_app
    raise AttributeError(name)
