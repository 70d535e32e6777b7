"""``Query()``, ``Path()``, ``Header()``, ``Cookie()``, ``Body()``: declare where a parameter comes from.

Use them as defaults (``q: str = Query(None, max_length=50)``) or in ``Annotated[str, Query(max_length=50)]``,
as in FastAPI. Without a default (``Query()``) the parameter is required.
"""
from __future__ import annotations

from typing import Any

from . import params


def Path(default: Any = ..., **kwargs: Any) -> Any:  # noqa: N802 - FastAPI's public names
    return params.Path(default, **kwargs)


def Query(default: Any = ..., **kwargs: Any) -> Any:  # noqa: N802
    return params.Query(default, **kwargs)


def Header(default: Any = ..., **kwargs: Any) -> Any:  # noqa: N802
    return params.Header(default, **kwargs)


def Cookie(default: Any = ..., **kwargs: Any) -> Any:  # noqa: N802
    return params.Cookie(default, **kwargs)


def Body(default: Any = ..., **kwargs: Any) -> Any:  # noqa: N802
    return params.Body(default, **kwargs)


def Depends(dependency: Any = None, *, use_cache: bool = True) -> Any:  # noqa: N802
    """Declare a dependency: the parameter gets what ``dependency`` returns (or yields) for this request."""
    return params.Depends(dependency, use_cache=use_cache)
