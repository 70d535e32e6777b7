"""Parameter declarations (FastAPI's ``fastapi.params``): where a handler argument comes from, and its rules.

Each is a pydantic ``FieldInfo``, so validation options (``gt``, ``min_length``, ``pattern``...) become
pydantic constraints and errors come out in pydantic's (and so FastAPI's) shape. Users call the functions
in ``fastrapi.param_functions`` (``Query()``, ``Header()``...), re-exported from ``fastrapi``.
"""
from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo


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
