"""Parameter declarations (FastAPI's ``fastapi.params``): where a handler argument comes from, and its rules.

Each is a pydantic ``FieldInfo``, so validation options (``gt``, ``min_length``, ``pattern``...) become
pydantic constraints and errors come out in pydantic's (and so FastAPI's) shape. Users call the functions
in ``fastrapi.param_functions`` (``Query()``, ``Header()``...), re-exported from ``fastrapi``.
"""
from __future__ import annotations

import re
import warnings
from enum import Enum
from typing import Any, Callable, Literal, Sequence

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


#: "not given": such options are left out of the FieldInfo, so pydantic's own defaults apply (FastAPI's ``_Unset``)
_Unset: Any = object()
#: the original FastrAPI's public names: ``Unset`` (an option not given) and ``Undefined`` (no default: required)
Unset: Any = _Unset
Undefined: Any = PydanticUndefined

#: FieldInfo options passed on as they are when given (FastAPI's list): constraints become validation metadata
_FIELD_OPTIONS = ("default_factory", "annotation", "alias_priority", "title", "description", "discriminator",
                  "strict", "validate_default", "union_mode", "fail_fast", "multiple_of", "allow_inf_nan",
                  "max_digits", "decimal_places", "examples", "deprecated", "json_schema_extra")


class Param(FieldInfo):
    """Base of path/query/header/cookie parameters (and, through ``Body``, of body and form fields).

    Takes FastAPI's options: the validation ones (``gt``, ``multiple_of``, ``max_digits``, ``strict``...) become
    pydantic constraints, ``default_factory`` gives a missing optional value per request, and the documenting
    ones (``title``, ``examples``, ``openapi_examples``, ``example``, ``include_in_schema``...) feed OpenAPI.
    """

    in_: str = ""

    def __init__(
        self,
        default: Any = ...,
        *,
        default_factory: Callable[[], Any] | None = _Unset,
        annotation: Any | None = _Unset,
        alias: str | None = _Unset,
        alias_priority: int | None = _Unset,
        validation_alias: Any = _Unset,
        serialization_alias: str | None = _Unset,
        title: str | None = _Unset,
        description: str | None = _Unset,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | re.Pattern[str] | None = None,
        regex: str | None = None,
        discriminator: Any = _Unset,
        strict: bool | None = _Unset,
        validate_default: bool | None = _Unset,
        union_mode: Literal["smart", "left_to_right"] | None = _Unset,
        fail_fast: bool | None = _Unset,
        multiple_of: float | None = _Unset,
        allow_inf_nan: bool | None = _Unset,
        max_digits: int | None = _Unset,
        decimal_places: int | None = _Unset,
        examples: list[Any] | None = _Unset,
        example: Any = _Unset,
        openapi_examples: dict[str, Any] | None = None,
        deprecated: Any = _Unset,
        include_in_schema: bool = True,
        json_schema_extra: dict[str, Any] | Callable[[dict[str, Any]], None] | None = _Unset,
    ) -> None:
        if example is not _Unset:
            warnings.warn("`example` has been deprecated, please use `examples` instead", DeprecationWarning,
                          stacklevel=3)
        if regex is not None:
            warnings.warn("`regex` has been deprecated, please use `pattern` instead", DeprecationWarning,
                          stacklevel=3)
        self.include_in_schema = include_in_schema
        #: for the OpenAPI document only: named examples, and FastAPI's older single ``example``
        self.openapi_examples = openapi_examples
        self.example: Any = PydanticUndefined if example is _Unset else example
        if default is ... and default_factory is not _Unset and default_factory is not None:
            default = PydanticUndefined  # Query(default_factory=f): ``...`` is only our "no default" spelling
        options = locals()
        kwargs: dict[str, Any] = {k: options[k] for k in _FIELD_OPTIONS if options[k] is not _Unset}
        kwargs["default"] = default
        for key, value in (("gt", gt), ("ge", ge), ("lt", lt), ("le", le), ("min_length", min_length),
                           ("max_length", max_length), ("pattern", pattern or regex)):
            if value is not None:
                kwargs[key] = value
        if alias is not _Unset:
            kwargs["alias"] = alias
        if serialization_alias in (_Unset, None) and isinstance(alias, str):
            serialization_alias = alias
        if validation_alias in (_Unset, None) and alias is not _Unset:
            validation_alias = alias
        if validation_alias is not _Unset:
            kwargs["validation_alias"] = validation_alias
        if serialization_alias is not _Unset:
            kwargs["serialization_alias"] = serialization_alias
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.default})"


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

    ``scope`` (FastAPI's, for ``yield`` dependencies): ``"request"`` (the default) runs the code after ``yield``
    once the response is sent; ``"function"`` runs it when the handler returns, before the response is sent.
    """

    def __init__(self, dependency: Any = None, *, use_cache: bool = True,
                 scope: Literal["function", "request"] | None = None) -> None:
        if scope not in (None, "function", "request"):
            raise ValueError(f'Depends(scope={scope!r}): use "function" or "request"')
        self.dependency = dependency
        self.use_cache = use_cache
        self.scope = scope

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__name__", type(self.dependency).__name__)
        scope = f", scope={self.scope!r}" if self.scope else ""
        return f"Depends({name}{'' if self.use_cache else ', use_cache=False'}{scope})"


class Security(Depends):
    """``Security(callable, scopes=[...])``: a ``Depends`` that also requires OAuth2 ``scopes``.

    A ``SecurityScopes`` parameter of the callable (or of anything below it) lists the scopes of the whole chain.
    """

    def __init__(self, dependency: Any = None, *, scopes: Sequence[str] | None = None, use_cache: bool = True,
                 scope: Literal["function", "request"] | None = None) -> None:
        super().__init__(dependency, use_cache=use_cache, scope=scope)
        self.scopes = scopes

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__name__", type(self.dependency).__name__)
        scopes = f", scopes={list(self.scopes)!r}" if self.scopes else ""
        return f"Security({name}{scopes}{'' if self.use_cache else ', use_cache=False'})"


class ParamTypes(Enum):
    """Where a parameter is read from (FastAPI's enum; ``Param.in_`` holds its value)."""

    query = "query"
    header = "header"
    path = "path"
    cookie = "cookie"


#: FastAPI's names here: pydantic's "no value" marker, the OpenAPI example type, its deprecation warning
Undefined = PydanticUndefined
from .exceptions import FastAPIDeprecationWarning  # noqa: E402,F401
from .openapi.models import Example  # noqa: E402,F401
