"""Parameter declarations (FastAPI's ``fastapi.params``): where a handler argument comes from, and its rules.

Each is a pydantic ``FieldInfo``, so validation options (``gt``, ``min_length``, ``pattern``...) become
pydantic constraints and errors come out in pydantic's (and so FastAPI's) shape. Users call the functions
in ``fastrapi.param_functions`` (``Query()``, ``Header()``...), re-exported from ``fastrapi``.
"""
from __future__ import annotations

from typing import Any, Sequence

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


class Param(FieldInfo):
    """Base of path/query/header/cookie parameters."""

    in_: str = ""

    def __init__(
        self,
        default: Any = ...,
        *,
        alias: str | None = None,
        title: str | None = None,
        description: str | None = None,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        examples: list[Any] | None = None,
        **extra: Any,
    ) -> None:
        self.include_in_schema = include_in_schema
        kwargs: dict[str, Any] = {
            "default": default, "alias": alias, "title": title, "description": description, "gt": gt,
            "ge": ge, "lt": lt, "le": le, "min_length": min_length, "max_length": max_length,
            "pattern": pattern, "examples": examples,
        }
        if deprecated is not None:
            kwargs["deprecated"] = deprecated
        if "regex" in extra:  # FastAPI's older spelling of pattern
            kwargs["pattern"] = extra.pop("regex")
        kwargs["json_schema_extra"] = extra.pop("json_schema_extra", None)
        #: for the OpenAPI document only: named examples, and FastAPI's older single ``example``
        self.openapi_examples: dict[str, Any] | None = extra.pop("openapi_examples", None)
        self.example: Any = extra.pop("example", PydanticUndefined)
        super().__init__(**{k: v for k, v in kwargs.items() if v is not None or k == "default"})


class Path(Param):
    in_ = "path"


class Query(Param):
    in_ = "query"


class Header(Param):
    in_ = "header"

    def __init__(self, default: Any = ..., *, convert_underscores: bool = True, **kwargs: Any) -> None:
        self.convert_underscores = convert_underscores
        super().__init__(default, **kwargs)


class Cookie(Param):
    in_ = "cookie"


class Body(Param):
    """A JSON body parameter; ``embed=True`` expects ``{"<name>": ...}`` even when it is the only one."""

    in_ = "body"

    def __init__(self, default: Any = ..., *, embed: bool = False, media_type: str = "application/json", **kwargs: Any) -> None:
        self.embed = embed
        self.media_type = media_type
        super().__init__(default, **kwargs)


class Form(Body):
    """A form field (``application/x-www-form-urlencoded`` or ``multipart/form-data``); ``Annotated[Model, Form()]``
    fills a pydantic model from the form's fields."""

    in_ = "form"

    def __init__(self, default: Any = ..., *, media_type: str = "application/x-www-form-urlencoded", **kwargs: Any) -> None:
        super().__init__(default, embed=True, media_type=media_type, **kwargs)


class File(Form):
    """An uploaded file of a ``multipart/form-data`` body: annotate it ``UploadFile`` (spooled, streamed to disk
    past 1 MiB) or ``bytes`` (the whole content)."""

    def __init__(self, default: Any = ..., *, media_type: str = "multipart/form-data", **kwargs: Any) -> None:
        super().__init__(default, media_type=media_type, **kwargs)


class Depends:
    """``Depends(callable)``: the parameter's value is what ``callable`` returns (or yields) for the request.

    The callable's own parameters are solved the same way (query, headers, other dependencies...). Within one
    request its value is computed once and shared, unless ``use_cache=False``.
    """

    def __init__(self, dependency: Any = None, *, use_cache: bool = True) -> None:
        self.dependency = dependency
        self.use_cache = use_cache

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__name__", type(self.dependency).__name__)
        return f"Depends({name}{'' if self.use_cache else ', use_cache=False'})"


class Security(Depends):
    """``Security(callable, scopes=[...])``: a ``Depends`` that also requires OAuth2 ``scopes``.

    A ``SecurityScopes`` parameter of the callable (or of anything below it) lists the scopes of the whole chain.
    """

    def __init__(self, dependency: Any = None, *, scopes: Sequence[str] | None = None, use_cache: bool = True) -> None:
        super().__init__(dependency, use_cache=use_cache)
        self.scopes = scopes

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__name__", type(self.dependency).__name__)
        scopes = f", scopes={list(self.scopes)!r}" if self.scopes else ""
        return f"Security({name}{scopes}{'' if self.use_cache else ', use_cache=False'})"
