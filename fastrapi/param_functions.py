"""``Query()``, ``Path()``, ``Header()``, ``Cookie()``, ``Body()``, ``Form()``, ``File()``: declare where a parameter comes from.

Use them as defaults (``q: str = Query(None, max_length=50)``) or in ``Annotated[str, Query(max_length=50)]``,
as in FastAPI. Without a default (``Query()``) the parameter is required.
"""
from __future__ import annotations

from typing import Any, Literal, Sequence

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


def Form(default: Any = ..., **kwargs: Any) -> Any:  # noqa: N802
    """A form field of a urlencoded or multipart body (``python-multipart`` parses it, streaming)."""
    return params.Form(default, **kwargs)


def File(default: Any = ..., **kwargs: Any) -> Any:  # noqa: N802
    """An uploaded file of a multipart body (annotate the parameter ``UploadFile`` or ``bytes``)."""
    return params.File(default, **kwargs)


def Depends(dependency: Any = None, *, use_cache: bool = True,  # noqa: N802
            scope: Literal["function", "request"] | None = None) -> Any:
    """Declare a dependency: the parameter gets what ``dependency`` returns (or yields) for this request.
    ``scope="function"``: a ``yield`` dependency's exit code runs before the response is sent."""
    return params.Depends(dependency, use_cache=use_cache, scope=scope)


def Security(dependency: Any = None, *, scopes: Sequence[str] | None = None, use_cache: bool = True,  # noqa: N802
             scope: Literal["function", "request"] | None = None) -> Any:
    """A dependency that requires OAuth2 ``scopes``; ``SecurityScopes`` parameters below it receive them."""
    return params.Security(dependency, scopes=scopes, use_cache=use_cache, scope=scope)


#: FastAPI's names here: pydantic's "no value" marker and the OpenAPI example type
from pydantic_core import PydanticUndefined as Undefined  # noqa: E402,F401

from .openapi.models import Example  # noqa: E402,F401
