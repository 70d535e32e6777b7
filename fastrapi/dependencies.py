"""The parameter solver: reads a handler's signature once, at registration, and turns it into a plan.

A plan says where each argument comes from (path, query, header, cookie, body, the Request/WebSocket
itself) and which pydantic validator converts it. ``solve`` runs the plan for one request and raises
``RequestValidationError`` with FastAPI-shaped errors. A handler without parameters has no plan at all.
"""
from __future__ import annotations

import collections
import collections.abc
import dataclasses
import datetime
import decimal
import enum
import functools
import inspect
import os
import types
import typing
import uuid
from contextlib import ExitStack, asynccontextmanager, contextmanager
from typing import Any, Callable, Union

from pydantic import BaseModel, Json, TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined

from .background import BackgroundTasks
from .concurrency import run_in_threadpool
from .datastructures import UploadFile
from .requests import _UNSET as _NO_JSON
from .requests import ClientDisconnect
from .responses import Response
from .exceptions import DependencyScopeError, HTTPException, RequestValidationError
from .jsoncodec import InvalidJSON, UndecodableJSON
from .jsoncodec import loads as loads_json
from .params import Depends as DependsInfo
from .params import Param as ParamInfo
from .param_models import ParamModel, model_type

PATH, QUERY, HEADER, COOKIE, BODY, REQUEST, WEBSOCKET, FORM = range(8)
_SOURCE_NAMES = {PATH: "path", QUERY: "query", HEADER: "header", COOKIE: "cookie", BODY: "body", FORM: "body"}
_EMPTY = inspect.Parameter.empty
_INFO_KINDS = {"path": PATH, "query": QUERY, "header": HEADER, "cookie": COOKIE, "body": BODY, "form": FORM}

_SCALARS = (str, int, float, bool, bytes, uuid.UUID, decimal.Decimal, datetime.datetime, datetime.date,
            datetime.time, datetime.timedelta)


#: classes FastAPI takes as a body (or a form), never as a path/query parameter
_COMPLEX = (BaseModel, collections.abc.Mapping, UploadFile, list, tuple, set, frozenset, collections.deque,
            collections.abc.Sequence)


def _is_scalar(annotation: Any) -> bool:
    """FastAPI's rule: scalars (and Optional/Union/Literal of them) are path/query params, the rest body."""
    if annotation is _EMPTY or annotation is Any:
        return True
    if isinstance(annotation, type):
        if issubclass(annotation, _SCALARS) or issubclass(annotation, enum.Enum):
            return True
        # FastAPI's rule for other classes (pydantic's HttpUrl, EmailStr...): scalar unless complex
        return not (issubclass(annotation, _COMPLEX) or dataclasses.is_dataclass(annotation))
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_scalar(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return True
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return all(a is type(None) or _is_scalar(a) for a in typing.get_args(annotation))
    return False


def _error(kind: int, key: str, err: dict[str, Any]) -> dict[str, Any]:
    """A pydantic error of one parameter as FastAPI reports it: as it is, under ``(source, key, *loc)``.

    ``ctx`` and ``input`` stay raw (Decimal limits, the ValueError of a validator, bytes...), as in FastAPI's
    ``exc.errors()``; the 422 response encodes them with ``jsonable_encoder``.
    """
    return {**err, "loc": (_SOURCE_NAMES[kind], key, *err["loc"])}


def _missing(kind: int, key: str) -> dict[str, Any]:
    loc = (_SOURCE_NAMES[kind],) if kind == BODY and not key else (_SOURCE_NAMES[kind], key)
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": None}


class Param:
    """One handler argument: where it comes from, under which name, and how it is validated."""

    __slots__ = ("name", "kind", "key", "default", "default_factory", "no_default", "required", "validate",
                 "annotation", "is_list", "embed", "form_model", "wants_bytes", "info", "validate_json", "model",
                 "finite_plan")

    def __init__(self, name: str, kind: int, annotation: Any, default: Any, info: Any = None) -> None:
        self.name = name
        self.kind = kind
        self.annotation = annotation
        self.info = info  # the Query()/Header()... FieldInfo, for the OpenAPI document (title, examples...)
        alias = getattr(info, "alias", None)
        if alias:
            self.key = alias
        elif kind == HEADER and getattr(info, "convert_underscores", True):
            self.key = name.replace("_", "-")
        else:
            self.key = name
        #: ``Query(default_factory=f)``: a missing value is ``f()``, called per request (FastAPI's rule)
        self.default_factory: Callable[[], Any] | None = getattr(info, "default_factory", None)
        no_default = default is _EMPTY or default is ... or default is PydanticUndefined
        #: no plain default: a missing value is an error (``required``) or comes from ``default_factory``
        self.no_default = no_default
        self.required = no_default and self.default_factory is None
        # (with a factory: "no default value" to pydantic, so the OpenAPI field keeps just the factory)
        self.default = default if not no_default else None if self.required else PydanticUndefined
        self.is_list = kind in (QUERY, HEADER, COOKIE, FORM) and _is_sequence(annotation)
        self.embed = bool(getattr(info, "embed", False))
        #: ``Annotated[Model, Form()]``: the model's fields are the form's fields
        self.form_model = kind == FORM and isinstance(annotation, type) and issubclass(annotation, BaseModel)
        #: a File parameter typed ``bytes`` (or a list of bytes): the uploads' contents are read for it
        self.wants_bytes = kind == FORM and _mentions(annotation, bytes)
        metadata = list(getattr(info, "metadata", ()) or ())
        self.validate = _validator(annotation if not metadata else
                                   typing.Annotated[(Any if annotation is _EMPTY else annotation), *metadata])
        if self.validate is not None and _mentions_json(annotation):
            self.validate = _strict_json(self.validate)
        #: a model body: validated straight from the JSON bytes by pydantic-core (no dict in between); on any
        #: error the ordinary path runs again to produce FastAPI's exact errors
        self.validate_json: Callable[[bytes], Any] | None = None
        #: the float fields to check after ``validate_json`` (``_finite_plan``); None: nothing to check
        self.finite_plan: list[tuple[str, Any]] | None = None
        if kind == BODY and not metadata and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            core = annotation.__pydantic_validator__
            # (pydantic-core takes NaN, Infinity and numbers overflowing to inf into float fields: a model whose
            # float fields can be checked cheaply is checked after it, any other takes the ordinary path)
            plan = _finite_plan(annotation)
            if type(core).__name__ != "MockValSer" and plan is not None:
                self.validate_json = core.validate_json
                self.finite_plan = plan or None
        #: ``Annotated[Model, Query()]`` (or Header/Cookie): each field of the model is a parameter
        self.model: ParamModel | None = None
        if kind in (QUERY, HEADER, COOKIE) and info is not None and model_type(annotation) is not None:
            self.model = ParamModel(annotation, _SOURCE_NAMES[kind], info, self.required, self.default,
                                    self.default_factory, self.validate or (lambda value: value))


_PLAIN_TYPES = (str, int, bool, bytes, datetime.date, datetime.time, datetime.timedelta, uuid.UUID, enum.Enum)
_SEQUENCES = (list, set, frozenset, tuple)


def _finite_plan(model: type[BaseModel], seen: tuple[type, ...] = ()) -> list[tuple[str, Any]] | None:
    """How to tell cheaply that a model pydantic-core validated from JSON bytes holds no inf/NaN (it takes
    ``NaN``, ``Infinity`` and ``1e999999`` into float fields): ``[(field, None)]`` for a float field,
    ``[(field, plan)]`` for a nested model, ``[]`` when nothing can hold a float; None when there is no cheap
    check (a ``list[float]``, ``Any``, extra fields...): that body then takes the ordinary path, which refuses
    such JSON. Read once per body parameter."""
    if model in seen or len(seen) > 8 or model.model_config.get("extra") == "allow":
        return None
    plan: list[tuple[str, Any]] = []
    for name, field in model.model_fields.items():
        kinds = [a for a in _union_args(field.annotation) if a is not type(None)]
        if all(_plain(a) for a in kinds):
            continue
        if len(kinds) != 1:
            return None
        kind = kinds[0]
        if kind is float:
            plan.append((name, None))
        elif isinstance(kind, type) and issubclass(kind, BaseModel):
            sub = _finite_plan(kind, (*seen, model))
            if sub is None:
                return None
            if sub:
                plan.append((name, sub))
        else:
            return None
    return plan


def _union_args(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _plain(annotation: Any) -> bool:
    """A type whose values never hold a float (str, int, datetime, enums, literals, sequences of these)."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, type):
        return issubclass(annotation, _PLAIN_TYPES) and not issubclass(annotation, float)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return True
    if origin in _SEQUENCES:
        return all(a is Ellipsis or _plain(a) for a in typing.get_args(annotation))
    if origin in (Union, types.UnionType):
        return all(a is type(None) or _plain(a) for a in typing.get_args(annotation))
    return False


def _finite(value: Any, plan: list[tuple[str, Any]]) -> bool:
    """The float fields the plan names hold finite numbers (``x - x`` is 0.0 for those only)."""
    for name, sub in plan:
        v = getattr(value, name)
        if v is None:
            continue
        if sub is None:
            if v - v != 0.0:
                return False
        elif not _finite(v, sub):
            return False
    return True


def _default(p: Param) -> Any:
    """The value of a missing optional parameter: its default, or a fresh ``default_factory()``."""
    return p.default if p.default_factory is None else p.default_factory()


def _mentions(annotation: Any, cls: type) -> bool:
    """``annotation`` is ``cls`` or contains it (``list[cls]``, ``cls | None``, ``Annotated[cls, ...]``)."""
    if annotation is cls:
        return True
    return any(_mentions(a, cls) for a in typing.get_args(annotation) if a is not Ellipsis)


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return any(_is_sequence(a) for a in typing.get_args(annotation) if a is not type(None))
    if origin is typing.Annotated:
        return _is_sequence(typing.get_args(annotation)[0])
    return origin in (list, set, tuple, frozenset) or annotation in (list, set, tuple, frozenset)


def _mentions_json(annotation: Any) -> bool:
    """``Json`` / ``Json[X]`` (pydantic's JSON-in-a-string type) is in the annotation."""
    if annotation is Json:
        return True
    return any(_mentions_json(a) for a in typing.get_args(annotation)) or any(
        m is Json or isinstance(m, Json) for m in getattr(annotation, "__metadata__", ()))


def _strict_json(validate: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A ``Json`` parameter (a form field or query value holding JSON): pydantic-core takes ``NaN``,
    ``Infinity`` and ``1e999999`` there; refuse them first, with pydantic's ``json_invalid`` error."""

    def checked(value: Any) -> Any:
        if isinstance(value, (str, bytes, bytearray)):
            try:
                loads_json(value)
            except InvalidJSON as exc:
                raise ValidationError.from_exception_data(
                    "json", [{"type": "json_invalid", "loc": (), "input": value, "ctx": {"error": exc.msg}}]) from None
        return validate(value)

    return checked


def _validator(annotation: Any) -> Callable[[Any], Any] | None:
    """A function converting a raw value (usually a str) to ``annotation``; None when no conversion.

    Calls pydantic-core's validator directly (the TypeAdapter wrapper costs more than small validations). As in
    FastAPI, models are validated ``from_attributes=True``: a non-dict input is a ``model_attributes_type`` error.
    """
    if annotation is _EMPTY or annotation is Any or annotation is str:
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        core = annotation.__pydantic_validator__
        if type(core).__name__ == "MockValSer":  # unresolved forward references: look it up when used
            return lambda value: annotation.__pydantic_validator__.validate_python(value, from_attributes=True)
        validate_model = core.validate_python
        return lambda value: validate_model(value, from_attributes=True)
    adapter = TypeAdapter(annotation)
    try:
        validate = adapter.validator.validate_python
    except Exception:  # not buildable yet (forward references): the adapter builds it on first use
        validate = adapter.validate_python
    if annotation is int:
        def to_int(value: Any) -> int:
            if type(value) is str and value.isascii() and value.isdigit() and len(value) < 19:
                return int(value)
            return validate(value)

        return to_int
    if _has_model(annotation):
        return lambda value: validate(value, from_attributes=True)
    return validate


def _has_model(annotation: Any) -> bool:
    """``annotation`` is or contains a pydantic model or a dataclass (where ``from_attributes`` changes errors)."""
    if isinstance(annotation, type) and (issubclass(annotation, BaseModel) or dataclasses.is_dataclass(annotation)):
        return True
    return any(_has_model(a) for a in typing.get_args(annotation) if a is not Ellipsis)


class Plan:
    """How to call one handler: its parameters by source, and whether a body must be read."""

    __slots__ = ("params", "body_params", "form_params", "request_names", "websocket_name", "needs_query",
                 "needs_headers", "needs_cookies", "embed_body", "deps", "background_names", "response_names",
                 "runs", "form_keys", "located")

    def __init__(self) -> None:
        self.params: list[Param] = []
        #: with parameter models only: every path/query/header/cookie parameter, models included, in FastAPI's
        #: order (by location, then as declared), and ``params`` is empty; None otherwise
        self.located: list[Param] | None = None
        self.body_params: list[Param] = []
        #: Form()/File()/UploadFile parameters: the body is parsed as a form (``load_form``) before solving
        self.form_params: list[Param] = []
        self.request_names: list[str] = []
        self.websocket_name: str | None = None
        self.needs_query = False
        self.needs_headers = False
        self.needs_cookies = False
        self.embed_body = False
        #: (argument name or None for route-level dependencies, the dependency)
        self.deps: list[tuple[str | None, Dependant]] = []
        self.background_names: list[str] = []
        self.response_names: list[str] = []
        #: ``deps`` grouped into runs of consecutive thread-runnable ones (built on first use: see ``_dep_runs``)
        self.runs: list[tuple[bool, list[tuple[str | None, Dependant]]]] | None = None
        #: ``reject_unknown_multipart_fields``: the multipart fields the route declares (None: any field)
        self.form_keys: frozenset[str] | None = None

    @property
    def empty(self) -> bool:
        return not (self.params or self.located or self.body_params or self.form_params or self.request_names or self.websocket_name
                    or self.deps or self.background_names or self.response_names)

    @property
    def has_deps(self) -> bool:
        return bool(self.deps)


class Dependant:
    """One ``Depends(call)`` or ``Security(call, scopes=...)``: the callable, how to call it, the plan for its own
    parameters, and the OAuth2 scopes required from the route down to it (what a ``SecurityScopes`` gets)."""

    __slots__ = ("call", "use_cache", "plan", "is_coroutine", "is_async_gen", "is_gen", "scopes", "uses_scopes",
                 "cache_key", "kind", "simple", "factory", "scope")

    def __init__(self, call: Callable[..., Any], use_cache: bool, path_param_names: set[str],
                 own_scopes: typing.Sequence[str] | None = None, parent_scopes: typing.Sequence[str] = (),
                 scope: str | None = None) -> None:
        from .security.base import SecurityBase

        self.call = call
        self.use_cache = use_cache
        #: the declared ``Depends(scope=...)``: "function" exits a ``yield`` dependency before the response
        self.scope = scope
        # isroutine, as FastAPI: a compiled function (Cython's, ours included) is a routine but no FunctionType
        target = call if inspect.isroutine(call) or inspect.isclass(call) else getattr(call, "__call__", call)
        self.is_async_gen = inspect.isasyncgenfunction(target)
        self.is_gen = inspect.isgeneratorfunction(target)
        self.is_coroutine = inspect.iscoroutinefunction(target)
        # FastAPI's order: the parent chain's scopes as they are, then own scopes not already listed.
        scopes = list(parent_scopes)
        for scope in own_scopes or ():
            if scope not in scopes:
                scopes.append(scope)
        self.scopes = scopes
        self.plan = build_plan(call, path_param_names, security_scopes=scopes,
                               sub_scopes=[*parent_scopes, *(own_scopes or ())])
        # As in FastAPI, scopes are part of the per-request cache key only where they can change the result.
        self.uses_scopes = bool(own_scopes) or isinstance(_unwrap(call), SecurityBase) or \
            any(d.uses_scopes for _, d in self.plan.deps)
        scope_key = tuple(sorted(set(scopes))) if self.uses_scopes else ()
        self.cache_key: Any = (call, scope_key) if scope_key else call
        #: how to call it: _ASYNC_GEN, _GEN, _CORO or _SYNC (decided once, not per request)
        self.kind = _ASYNC_GEN if self.is_async_gen else _GEN if self.is_gen else \
            _CORO if self.is_coroutine else _SYNC
        #: for a ``yield`` dependency: the context-manager factory wrapping it (built once)
        self.factory: Any = asynccontextmanager(call) if self.is_async_gen else \
            contextmanager(call) if self.is_gen else None
        #: its own parameters need no body, form or sub-dependency: solved without awaiting anything
        plan = self.plan
        self.simple = not (plan.deps or plan.form_params or plan.body_params)
        if (self.is_gen or self.is_async_gen) and (scope or "request") == "request":
            for _, sub in plan.deps:
                if sub.scope == "function":
                    name = getattr(call, "__name__", "<unnamed_callable>")
                    raise DependencyScopeError(f'The dependency "{name}" has a scope of "request", it cannot '
                                               'depend on dependencies with scope "function".')


def uses_function_scope(plan: Plan) -> bool:
    """Whether a ``yield`` dependency of ``plan`` (at any depth) has ``scope="function"``: only then does a
    route keep a second exit stack, closed when the handler returns."""
    return any((dep.scope == "function" and dep.kind in (_ASYNC_GEN, _GEN)) or uses_function_scope(dep.plan)
               for _, dep in plan.deps)


_ASYNC_GEN, _GEN, _CORO, _SYNC = range(4)


def _unwrap(call: Any) -> Any:
    """The callable under ``functools.partial`` and ``functools.wraps`` layers."""
    while isinstance(call, functools.partial):
        call = call.func
    return inspect.unwrap(call)


def _security_scopes_dependant(scopes: list[str]) -> Dependant:
    """A ``SecurityScopes`` parameter, solved as a dependency returning the scopes known at registration."""
    from .security.oauth2 import SecurityScopes

    async def security_scopes() -> SecurityScopes:
        return SecurityScopes(list(scopes))

    dep = Dependant(security_scopes, False, set())
    dep.scopes, dep.uses_scopes = scopes, True
    return dep


def _resolve_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """The resolved annotations of what calling ``func`` takes: a class's ``__init__`` (over its class-level
    annotations, for pydantic models and dataclasses), a callable instance's ``__call__``, a partial's function."""
    while isinstance(func, functools.partial):
        func = func.func
    if inspect.isclass(func):
        hints = _type_hints(func)
        init = getattr(func, "__init__", None)
        if inspect.isfunction(init):
            hints.update(_type_hints(init))
        return hints
    if not (inspect.isfunction(func) or inspect.ismethod(func)) and callable(func):
        call = getattr(type(func), "__call__", None)
        if inspect.isfunction(call):
            return _type_hints(call)
    return _type_hints(func)


def _type_hints(func: Any) -> dict[str, Any]:
    try:
        return dict(typing.get_type_hints(func, include_extras=True))
    except Exception:
        return dict(getattr(func, "__annotations__", {}) or {})


def build_plan(func: Callable[..., Any], path_param_names: set[str], *, websocket: bool = False,
               security_scopes: list[str] | None = None, sub_scopes: list[str] | None = None) -> Plan:
    """Analyse ``func``'s signature once; the result drives ``solve`` for every request.

    ``security_scopes`` is what a ``SecurityScopes`` parameter gets, ``sub_scopes`` the scopes the chain passes
    down to ``func``'s own dependencies (both empty for a route's handler).
    """
    from .requests import HTTPConnection, Request
    from .security.oauth2 import SecurityScopes
    from .websocket import WebSocket

    plan = Plan()
    hints = _resolve_hints(func)
    params = list(inspect.signature(func).parameters.values())
    if websocket and not any(hints.get(p.name) is WebSocket for p in params):
        # The docs' style: the WebSocket is the first positional parameter, whatever its name.
        for p in params:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in path_param_names:
                plan.websocket_name = p.name
            break
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == plan.websocket_name:
            continue
        annotation = hints.get(p.name, _EMPTY)
        annotation, info = _split_param_info(annotation)
        default = p.default
        if isinstance(default, DependsInfo) or isinstance(info, DependsInfo):
            dep = default if isinstance(default, DependsInfo) else info
            call = dep.dependency if dep.dependency is not None else annotation
            plan.deps.append((p.name, Dependant(call, dep.use_cache, path_param_names, getattr(dep, "scopes", None),
                                                sub_scopes or (), getattr(dep, "scope", None))))
            continue
        if isinstance(annotation, type) and issubclass(annotation, SecurityScopes):
            plan.deps.append((p.name, _security_scopes_dependant(security_scopes or [])))
            continue
        if isinstance(default, ParamInfo):
            info, default = default, default.default
        elif info is not None and default is _EMPTY:
            default = info.default
        if info is not None:
            kind = _INFO_KINDS[info.in_]
            if kind == FORM:
                plan.form_params.append(Param(p.name, FORM, annotation, default, info))
            elif kind == BODY:
                plan.body_params.append(Param(p.name, BODY, annotation, default, info))
            else:
                param = Param(p.name, kind, annotation, default, info)
                if param.model is not None:
                    plan.located = [*(plan.located or ()), param]
                else:
                    plan.params.append(param)
                plan.needs_query |= kind == QUERY
                plan.needs_headers |= kind == HEADER
                plan.needs_cookies |= kind == COOKIE
            continue
        if annotation is WebSocket or (isinstance(annotation, type) and issubclass(annotation, WebSocket)):
            plan.websocket_name = p.name
            continue
        if isinstance(annotation, type) and (issubclass(annotation, Request) or annotation is HTTPConnection):
            plan.request_names.append(p.name)  # (Starlette's HTTPConnection: the Request, or the WebSocket)
            continue
        if annotation is Response:
            plan.response_names.append(p.name)
            continue
        if isinstance(annotation, type) and issubclass(annotation, BackgroundTasks):
            plan.background_names.append(p.name)
            continue
        if _mentions(annotation, UploadFile):  # FastAPI reads an UploadFile parameter from the form unasked
            plan.form_params.append(Param(p.name, FORM, annotation, p.default))
        elif p.name in path_param_names:
            plan.params.append(Param(p.name, PATH, annotation, _EMPTY))
        elif _is_scalar(annotation) or websocket:
            plan.params.append(Param(p.name, QUERY, annotation, p.default))
            plan.needs_query = True
        else:
            plan.body_params.append(Param(p.name, BODY, annotation, p.default))
    plan.embed_body = len(plan.body_params) > 1 or any(p.embed for p in plan.body_params)
    if plan.located:
        order = {p.name: i for i, p in enumerate(params)}
        plan.located = sorted([*plan.params, *plan.located], key=lambda x: (x.kind, order[x.name]))
        plan.params = []
    return plan


def _split_param_info(annotation: Any) -> tuple[Any, Any]:
    """``Annotated[T, Query(...), ...]`` -> (T plus any other metadata, the Query); else (annotation, None)."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return annotation, None
    base, *meta = typing.get_args(annotation)
    infos = [m for m in meta if isinstance(m, (ParamInfo, DependsInfo))]
    if not infos:
        return annotation, None
    rest = [m for m in meta if not isinstance(m, (ParamInfo, DependsInfo))]
    return (typing.Annotated[(base, *rest)] if rest else base), infos[-1]


def solve(plan: Plan, request: Any) -> dict[str, Any]:
    """Arguments for one call of the handler, or RequestValidationError listing every problem.

    For plans without dependencies; ``solve_async`` handles those with ``Depends``.
    """
    kwargs: dict[str, Any] = {}
    errors = _solve_params(plan, request, kwargs, None)
    if errors:
        raise RequestValidationError(errors, body=_error_body(plan, request))
    return kwargs


def _error_body(plan: Plan, request: Any) -> Any:
    """``RequestValidationError.body`` as FastAPI gives it: None unless the handler (or a dependency) takes a
    body; then the form, the parsed JSON, or the raw bytes of another media type (None for an empty body)."""
    if not _reads_body(plan):
        return None
    if _reads_form(plan):
        return request._form
    raw = request._body
    if not raw:
        return None
    parsed = request._json
    return raw if parsed is _NO_JSON else parsed


def _reads_body(plan: Plan) -> bool:
    return bool(plan.body_params or plan.form_params) or any(_reads_body(d.plan) for _, d in plan.deps)


def _reads_form(plan: Plan) -> bool:
    return bool(plan.form_params) or any(_reads_form(d.plan) for _, d in plan.deps)


def _solve_params(plan: Plan, request: Any, kwargs: dict[str, Any], errors: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Fill ``kwargs`` with the plan's path/query/header/cookie/body/Request arguments; returns the errors."""
    path_params = request.path_params
    query = request.query_params if plan.needs_query else None
    headers = request.headers if plan.needs_headers else None
    cookies = request.cookies if plan.needs_cookies else None
    for p in plan.params:
        kind = p.kind
        if kind == PATH:
            value = path_params[p.key]
        else:
            source: Any = query if kind == QUERY else headers if kind == HEADER else cookies
            if p.is_list:
                if kind == COOKIE:
                    value = [source[p.key]] if p.key in source else _EMPTY
                else:
                    value = source.getlist(p.key) or _EMPTY
            else:
                value = source.get(p.key, _EMPTY)
            if value is _EMPTY:
                if not p.no_default:
                    kwargs[p.name] = p.default
                elif p.required:
                    errors = errors or []
                    errors.append(_missing(kind, p.key))
                else:
                    kwargs[p.name] = p.default_factory()
                continue
        validate = p.validate
        if validate is None:
            kwargs[p.name] = value
            continue
        try:
            kwargs[p.name] = validate(value)
        except ValidationError as exc:
            errors = errors or []
            errors.extend(_error(kind, p.key, e) for e in exc.errors(include_url=False))
    if plan.located is not None:  # parameter models (then ``params`` is empty)
        errors = _solve_located(plan.located, path_params, query, headers, cookies, kwargs, errors)
    for name in plan.request_names:
        kwargs[name] = request
    if plan.background_names:
        tasks = request.background
        if tasks is None:
            tasks = request.background = BackgroundTasks()
        for name in plan.background_names:
            kwargs[name] = tasks
    if plan.response_names:
        sub = request.sub_response
        if sub is None:
            sub = request.sub_response = Response.__new__(Response)
            sub.status_code, sub.body, sub.background, sub.raw_headers = None, b"", None, []
        for name in plan.response_names:
            kwargs[name] = sub
    if plan.body_params:
        errors = _solve_body(plan, request, kwargs, errors)
    if plan.form_params:
        errors = _solve_form(plan, request._form, kwargs, errors)
    return errors


def _solve_located(params: list[Param], path_params: Any, query: Any, headers: Any, cookies: Any,
                   kwargs: dict[str, Any], errors: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """``_solve_params``'s loop for a plan with parameter models: each model from its location in one
    validation, the other parameters as usual, errors in FastAPI's order (path, query, header, cookie)."""
    for p in params:
        kind = p.kind
        source: Any = path_params if kind == PATH else query if kind == QUERY else headers if kind == HEADER \
            else cookies
        if p.model is not None:
            value, model_errors = p.model.solve(source)
            if model_errors:
                errors = (errors or []) + model_errors
            else:
                kwargs[p.name] = value
            continue
        if kind == PATH:
            value = source[p.key]
        elif p.is_list:
            value = ([source[p.key]] if p.key in source else _EMPTY) if kind == COOKIE else source.getlist(p.key) or _EMPTY
        else:
            value = source.get(p.key, _EMPTY)
        if value is _EMPTY:
            if p.required:
                errors = (errors or []) + [_missing(kind, p.key)]
            else:
                kwargs[p.name] = _default(p)
        elif p.validate is None:
            kwargs[p.name] = value
        else:
            try:
                kwargs[p.name] = p.validate(value)
            except ValidationError as exc:
                errors = (errors or []) + [_error(kind, p.key, e) for e in exc.errors(include_url=False)]
    return errors


async def load_body(plan: Plan, request: Any) -> None:
    """Before solving a plan that reads the body: have it whole (if it is streamed) or parsed as a form."""
    if plan.body_params and request._body is None:
        await request.body()
    if plan.form_params:
        try:
            form = await request.form()
        except (HTTPException, ClientDisconnect):
            raise
        except Exception as exc:  # FastAPI's answer to a body it cannot parse
            raise HTTPException(400, "There was an error parsing the body") from exc
        keys = plan.form_keys
        if keys is not None and request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            for key in form.keys():
                if key not in keys:
                    raise HTTPException(400, f'Unknown multipart field "{key}"')
        for p in plan.form_params:
            if p.wants_bytes:
                for value in form.getlist(p.key):
                    if isinstance(value, UploadFile) and value._read_cache is None:
                        value._read_cache = await value.read()
                        await value.seek(0)


def _solve_form(plan: Plan, form: Any, kwargs: dict[str, Any], errors: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Form fields and files into ``kwargs``; an empty field counts as missing, as in FastAPI."""
    for p in plan.form_params:
        if p.form_model:
            errors = _solve_form_model(p, form, kwargs, errors)
            continue
        if p.is_list:
            value: Any = [_content(v, p) for v in form.getlist(p.key)] or _EMPTY
        else:
            value = form.get(p.key, _EMPTY)
            if value == "":
                value = _EMPTY
            elif value is not _EMPTY:
                value = _content(value, p)
        if value is _EMPTY:
            if p.required:
                errors = errors or []
                errors.append(_missing(FORM, p.key))
            else:
                kwargs[p.name] = _default(p)
            continue
        errors = errors or []
        _validate_into(p, value, kwargs, errors, ("body", p.key))
    return errors or None


def _content(value: Any, p: Param) -> Any:
    return value._read_cache if p.wants_bytes and isinstance(value, UploadFile) else value


def _solve_form_model(p: Param, form: Any, kwargs: dict[str, Any], errors: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """``Annotated[Model, Form()]``: each model field from the form field of its name (lists from repeats)."""
    data: dict[str, Any] = {}
    keys = set()
    for name, field in p.annotation.model_fields.items():
        key = field.alias or name
        keys.add(key)
        if _is_sequence(field.annotation):
            values = form.getlist(key)
            if values:
                data[key] = values
        else:
            value = form.get(key, "")
            if value != "":
                data[key] = value
    for key in form:  # the other fields too, as FastAPI passes them (a model may forbid extras)
        if key not in keys:
            data[key] = form[key]
    errors = errors or []
    _validate_into(p, data, kwargs, errors, ("body",))
    return errors or None


class SolveContext:
    """What one request's dependency solving shares: the value cache, the exit stack, the overrides."""

    __slots__ = ("cache", "stack", "overrides", "path_param_names", "inline_sync", "function_stack")

    def __init__(self, stack: Any, overrides: dict[Any, Any] | None, path_param_names: set[str],
                 inline_sync: bool = False, function_stack: Any = None) -> None:
        self.cache: dict[Any, Any] = {}
        self.stack = stack
        self.overrides = overrides or None
        self.path_param_names = path_param_names
        #: ``sync_to_threadpool=False``: sync dependencies are called on the event loop, not in the pool
        self.inline_sync = inline_sync
        #: where ``scope="function"`` yield dependencies are entered (closed when the handler returns)
        self.function_stack = function_stack


async def solve_async(plan: Plan, request: Any, ctx: SolveContext) -> dict[str, Any]:
    """Like ``solve``, also resolving ``Depends`` (sub-dependencies first, each once per request)."""
    kwargs: dict[str, Any] = {}
    errors = await _solve_collect(plan, request, ctx, kwargs)
    if errors:
        raise RequestValidationError(errors, body=_error_body(plan, request))
    return kwargs


async def _solve_collect(plan: Plan, request: Any, ctx: SolveContext, kwargs: dict[str, Any]) -> list[dict[str, Any]] | None:
    errors: list[dict[str, Any]] | None = None
    if plan.form_params or (plan.body_params and request._body is None):
        await load_body(plan, request)
    if plan.body_params and plan.deps:  # as in FastAPI, a malformed body is reported before dependencies run
        _read_body(request)
    if ctx.overrides is None:
        runs = plan.runs
        if runs is None:
            runs = plan.runs = _dep_runs(plan)
        for threaded, items in runs:
            if threaded:
                if ctx.inline_sync:
                    run_errors = _resolve_here(items, request, ctx, kwargs)
                else:
                    run_errors = await _resolve_in_thread(items, request, ctx, kwargs)
                if run_errors:
                    errors = (errors or []) + run_errors
                continue
            for name, dep in items:
                value, dep_errors = await _resolve(dep, request, ctx)
                if dep_errors:
                    errors = (errors or []) + dep_errors
                elif name is not None:
                    kwargs[name] = value
        return _solve_params(plan, request, kwargs, errors)
    for name, dep in plan.deps:  # with overrides, any dependency may have become sync or async
        value, dep_errors = await _resolve(dep, request, ctx)
        if dep_errors:
            errors = (errors or []) + dep_errors
        elif name is not None:
            kwargs[name] = value
    return _solve_params(plan, request, kwargs, errors)


def _thread_runnable(dep: Dependant) -> bool:
    """A sync function/class/generator dependency whose own dependencies are too, reading no body."""
    plan = dep.plan
    return dep.kind in (_SYNC, _GEN) and not (plan.form_params or plan.body_params) and \
        not (dep.kind == _GEN and dep.scope == "function") and all(_thread_runnable(d) for _, d in plan.deps)


def _dep_runs(plan: Plan) -> list[tuple[bool, list[tuple[str | None, "Dependant"]]]]:
    """``plan.deps`` in order, consecutive thread-runnable dependencies grouped: each group is solved in one
    trip to the thread pool (sub-dependencies included) instead of one trip per dependency."""
    runs: list[tuple[bool, list[tuple[str | None, Dependant]]]] = []
    for name, dep in plan.deps:
        threaded = _thread_runnable(dep)
        if runs and threaded and runs[-1][0]:
            runs[-1][1].append((name, dep))
        else:
            runs.append((threaded, [(name, dep)]))
    return runs


async def _resolve_in_thread(items: list[tuple[str | None, "Dependant"]], request: Any, ctx: SolveContext,
                             kwargs: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Solve a run of sync dependencies in one worker-thread call, in order, as ``_resolve`` would one by one.
    The ``yield`` ones are entered in an ExitStack whose exit (also in the pool) joins the request's stack."""
    cache = ctx.cache
    if all(dep.use_cache and dep.cache_key in cache for _, dep in items):
        for name, dep in items:  # all solved earlier in this request: no trip needed
            if name is not None:
                kwargs[name] = cache[dep.cache_key]
        return None
    exits = ExitStack()
    entered: list[bool] = []
    try:
        return await run_in_threadpool(_run_sync, items, request, ctx, kwargs, exits, entered)
    finally:
        if entered:
            async def _exit(exc_type: Any, exc: Any, tb: Any) -> Any:
                return await run_in_threadpool(exits.__exit__, exc_type, exc, tb)

            ctx.stack.push_async_exit(_exit)


def _resolve_here(items: list[tuple[str | None, "Dependant"]], request: Any, ctx: SolveContext,
                  kwargs: dict[str, Any]) -> list[dict[str, Any]] | None:
    """``_resolve_in_thread`` on the event loop itself (``sync_to_threadpool=False``)."""
    exits = ExitStack()
    entered: list[bool] = []
    try:
        return _run_sync(items, request, ctx, kwargs, exits, entered)
    finally:
        if entered:
            ctx.stack.push(exits)


def _run_sync(items: list[tuple[str | None, "Dependant"]], request: Any, ctx: SolveContext, kwargs: dict[str, Any],
              exits: ExitStack, entered: list[bool]) -> list[dict[str, Any]] | None:
    errors: list[dict[str, Any]] | None = None
    for name, dep in items:
        value, dep_errors = _resolve_sync(dep, request, ctx, exits, entered)
        if dep_errors:
            errors = (errors or []) + dep_errors
        elif name is not None:
            kwargs[name] = value
    return errors


def _resolve_sync(dep: "Dependant", request: Any, ctx: SolveContext, exits: ExitStack,
                  entered: list[bool]) -> tuple[Any, list[dict[str, Any]] | None]:
    cache = ctx.cache
    key = dep.cache_key
    if dep.use_cache and key in cache:
        return cache[key], None
    sub_kwargs: dict[str, Any] = {}
    errors = _run_sync(dep.plan.deps, request, ctx, sub_kwargs, exits, entered) if dep.plan.deps else None
    errors = _solve_params(dep.plan, request, sub_kwargs, errors)
    if errors:
        return None, errors
    if dep.kind == _SYNC:
        value = dep.call(**sub_kwargs)
    else:
        value = exits.enter_context(dep.factory(**sub_kwargs))
        entered.append(True)
    if key not in cache:
        cache[key] = value
    return value, None


_OVERRIDES: dict[tuple[Any, bool, frozenset[str], tuple[str, ...]], Dependant] = {}


def _override_dependant(call: Callable[..., Any], use_cache: bool, path_param_names: set[str],
                        scopes: list[str]) -> Dependant:
    """The Dependant of an override, analysed once rather than on every request.

    As in FastAPI it inherits the scopes of the dependency it replaces.
    """
    key = (call, use_cache, frozenset(path_param_names), tuple(scopes))
    dep = _OVERRIDES.get(key)
    if dep is None:
        dep = _OVERRIDES[key] = Dependant(call, use_cache, path_param_names, None, scopes)
    return dep


async def _resolve(dep: Dependant, request: Any, ctx: SolveContext) -> tuple[Any, list[dict[str, Any]] | None]:
    call = dep.call
    key = dep.cache_key  # the replaced dependency's key, as in FastAPI
    # the replaced dependency's scope too
    stack = ctx.function_stack if dep.scope == "function" and ctx.function_stack is not None else ctx.stack
    if ctx.overrides is not None and call in ctx.overrides:
        call = ctx.overrides[call]
        dep = _override_dependant(call, dep.use_cache, ctx.path_param_names, dep.scopes)
    cache = ctx.cache
    if dep.use_cache and key in cache:
        return cache[key], None
    sub_kwargs: dict[str, Any] = {}
    if dep.simple:
        errors = _solve_params(dep.plan, request, sub_kwargs, None)
    else:
        errors = await _solve_collect(dep.plan, request, ctx, sub_kwargs)
    if errors:
        return None, errors
    kind = dep.kind
    if kind == _CORO:
        value = await call(**sub_kwargs)
    elif kind == _SYNC:
        value = call(**sub_kwargs) if ctx.inline_sync else await run_in_threadpool(call, **sub_kwargs)
    elif kind == _ASYNC_GEN:
        value = await stack.enter_async_context(dep.factory(**sub_kwargs))
    elif ctx.inline_sync:
        value = stack.enter_context(dep.factory(**sub_kwargs))
    else:
        cm = dep.factory(**sub_kwargs)
        value = await run_in_threadpool(cm.__enter__)

        async def _exit(exc_type: Any, exc: Any, tb: Any) -> Any:
            return await run_in_threadpool(cm.__exit__, exc_type, exc, tb)

        stack.push_async_exit(_exit)
    if key not in ctx.cache:  # as in FastAPI, even a use_cache=False value serves later cached uses
        ctx.cache[key] = value
    return value, None


def _solve_body(plan: Plan, request: Any, kwargs: dict[str, Any], errors: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Body parameters into ``kwargs``: one parameter is the whole body, several (or ``embed``) its keys.

    As in FastAPI 0.165 (``strict_content_type``), only a JSON media type is parsed: a body without one, or of
    another type, is validated as its raw bytes (a 422 for a model).
    """
    if not plan.embed_body:
        p = plan.body_params[0]
        validate_json = p.validate_json
        if validate_json is not None and request._body and request._json is _NO_JSON and _json_content(request):
            try:
                value = validate_json(request._body)
            except ValueError:  # invalid data or JSON: the full path below reports it as FastAPI does
                pass
            else:
                if p.finite_plan is None or _finite(value, p.finite_plan):
                    kwargs[p.name] = value
                    return errors
                # inf/NaN in a float field: the full path refuses the JSON that made it
    body = _read_body(request)
    errors = errors or []
    if not plan.embed_body:
        p = plan.body_params[0]
        if body is _EMPTY:
            if p.required:
                errors.append(_missing(BODY, ""))
            else:
                kwargs[p.name] = _default(p)
        else:
            _validate_into(p, body, kwargs, errors, ("body",))
        return errors
    if body is _EMPTY:
        body = {}
    for p in plan.body_params:
        value = body.get(p.key, _EMPTY) if isinstance(body, dict) else _EMPTY
        if value is _EMPTY:
            if p.required:
                errors.append(_missing(BODY, p.key))
            else:
                kwargs[p.name] = _default(p)
            continue
        _validate_into(p, value, kwargs, errors, ("body", p.key))
    return errors


def _read_body(request: Any) -> Any:
    """What body parameters are validated against: the parsed JSON, the raw bytes of a body without a JSON
    media type, ``_EMPTY`` for no body."""
    raw = request._body
    if not raw:
        return _EMPTY
    return _json_body(request) if _json_content(request) else raw


_JSON_TYPES: dict[bytes, bool] = {}


def _json_content(request: Any) -> bool:
    """The request's Content-Type is JSON (``application/json`` or ``application/*+json``); answers cached
    per header value, read from the raw headers without building the Headers view."""
    for name, value in request.raw_headers:
        if name == b"content-type":
            known = _JSON_TYPES.get(value)
            if known is None:
                known = _is_json_type(value.decode("latin-1"))
                if len(_JSON_TYPES) < 256:
                    _JSON_TYPES[value] = known
            return known
    return False


def _json_body(request: Any) -> Any:
    """The body's JSON document, parsed once per request (kept where ``request.json()`` finds it).

    As Starlette's ``json.loads`` would (orjson first, for speed): invalid JSON is a 422 ``json_invalid`` error
    whose ``body`` is the document's text; a body that cannot even be decoded (bad UTF-8, nesting too deep) a
    400, as FastAPI answers. Unlike ``json.loads``, what JSON does not allow (``NaN``, a number overflowing to
    infinity, a lone surrogate) is invalid too (``fastrapi.jsoncodec``): never a silently different value.
    """
    body = request._json
    if body is not _NO_JSON:
        return body
    try:
        body = loads_json(request._body)
    except UndecodableJSON as exc:
        raise HTTPException(400, "There was an error parsing the body") from exc
    except InvalidJSON as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {},
              "ctx": {"error": exc.msg}}], body=exc.doc) from None
    request._json = body
    return body


def _validate_into(p: Param, value: Any, kwargs: dict[str, Any], errors: list[dict[str, Any]], loc: tuple[Any, ...]) -> None:
    if p.validate is None:
        kwargs[p.name] = value
        return
    try:
        kwargs[p.name] = p.validate(value)
    except ValidationError as exc:
        errors.extend({**e, "loc": (*loc, *e["loc"])} for e in exc.errors(include_url=False))


def _is_json_type(content_type: str) -> bool:
    main = content_type.split(";", 1)[0].strip().lower()
    if not main.startswith("application/"):
        return False
    sub = main[12:]
    return sub == "json" or sub.endswith("+json")


#: FastAPI's ``fastapi.dependencies`` is a package (``.models``, ``.utils``): this module finds those submodules in
#: ``fastrapi/_dependency_modules/`` (a module with ``__path__`` is a package to the import system)
__path__ = [os.path.join(os.path.dirname(__file__), "_dependency_modules")]
