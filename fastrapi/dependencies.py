"""The parameter solver: reads a handler's signature once, at registration, and turns it into a plan.

A plan says where each argument comes from (path, query, header, cookie, body, the Request/WebSocket
itself) and which pydantic validator converts it. ``solve`` runs the plan for one request and raises
``RequestValidationError`` with FastAPI-shaped errors. A handler without parameters has no plan at all.
"""
from __future__ import annotations

import datetime
import decimal
import enum
import inspect
import json
import types
import typing
import uuid
from typing import Any, Callable, Union

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined

from .background import BackgroundTasks
from .responses import Response
from .exceptions import RequestValidationError
from .params import Depends as DependsInfo
from .params import Param as ParamInfo

PATH, QUERY, HEADER, COOKIE, BODY, REQUEST, WEBSOCKET = range(7)
_SOURCE_NAMES = {PATH: "path", QUERY: "query", HEADER: "header", COOKIE: "cookie", BODY: "body"}
_EMPTY = inspect.Parameter.empty
_INFO_KINDS = {"path": PATH, "query": QUERY, "header": HEADER, "cookie": COOKIE, "body": BODY}

_SCALARS = (str, int, float, bool, bytes, uuid.UUID, decimal.Decimal, datetime.datetime, datetime.date,
            datetime.time, datetime.timedelta)


def _is_scalar(annotation: Any) -> bool:
    """FastAPI's rule: scalars (and Optional/Union/Literal of them) are path/query params, the rest body."""
    if annotation is _EMPTY or annotation is Any:
        return True
    if isinstance(annotation, type):
        return issubclass(annotation, _SCALARS) or issubclass(annotation, enum.Enum)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_scalar(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return True
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return all(a is type(None) or _is_scalar(a) for a in typing.get_args(annotation))
    return False


def _error(kind: int, key: str, err: dict[str, Any]) -> dict[str, Any]:
    out = {"type": err["type"], "loc": [_SOURCE_NAMES[kind], key, *err["loc"]], "msg": err["msg"], "input": err["input"]}
    if "ctx" in err:
        out["ctx"] = {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v)) for k, v in err["ctx"].items()}
    return out


def _missing(kind: int, key: str) -> dict[str, Any]:
    loc = [_SOURCE_NAMES[kind]] if kind == BODY and not key else [_SOURCE_NAMES[kind], key]
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": None}


class Param:
    """One handler argument: where it comes from, under which name, and how it is validated."""

    __slots__ = ("name", "kind", "key", "default", "required", "validate", "annotation", "is_list", "embed")

    def __init__(self, name: str, kind: int, annotation: Any, default: Any, info: Any = None) -> None:
        self.name = name
        self.kind = kind
        self.annotation = annotation
        alias = getattr(info, "alias", None)
        if alias:
            self.key = alias
        elif kind == HEADER and getattr(info, "convert_underscores", True):
            self.key = name.replace("_", "-")
        else:
            self.key = name
        self.required = default is _EMPTY or default is ... or default is PydanticUndefined
        self.default = None if self.required else default
        self.is_list = kind in (QUERY, HEADER, COOKIE) and _is_sequence(annotation)
        self.embed = bool(getattr(info, "embed", False))
        metadata = list(getattr(info, "metadata", ()) or ())
        self.validate = _validator(annotation if not metadata else
                                   typing.Annotated[(Any if annotation is _EMPTY else annotation), *metadata])


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return any(_is_sequence(a) for a in typing.get_args(annotation) if a is not type(None))
    if origin is typing.Annotated:
        return _is_sequence(typing.get_args(annotation)[0])
    return origin in (list, set, tuple, frozenset) or annotation in (list, set, tuple, frozenset)


def _validator(annotation: Any) -> Callable[[Any], Any] | None:
    """A function converting a raw value (usually a str) to ``annotation``; None when no conversion."""
    if annotation is _EMPTY or annotation is Any or annotation is str:
        return None
    if annotation is int:
        adapter = TypeAdapter(int)
        validate = adapter.validate_python

        def to_int(value: Any) -> int:
            if type(value) is str and value.isascii() and value.isdigit() and len(value) < 19:
                return int(value)
            return validate(value)

        return to_int
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.model_validate
    return TypeAdapter(annotation).validate_python


class Plan:
    """How to call one handler: its parameters by source, and whether a body must be read."""

    __slots__ = ("params", "body_params", "request_names", "websocket_name", "needs_query", "needs_headers",
                 "needs_cookies", "embed_body", "deps", "background_names", "response_names")

    def __init__(self) -> None:
        self.params: list[Param] = []
        self.body_params: list[Param] = []
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

    @property
    def empty(self) -> bool:
        return not (self.params or self.body_params or self.request_names or self.websocket_name or self.deps
                    or self.background_names or self.response_names)

    @property
    def has_deps(self) -> bool:
        return bool(self.deps)


class Dependant:
    """One ``Depends(call)``: the callable, how to call it, and the plan for its own parameters."""

    __slots__ = ("call", "use_cache", "plan", "is_coroutine", "is_async_gen", "is_gen")

    def __init__(self, call: Callable[..., Any], use_cache: bool, path_param_names: set[str]) -> None:
        self.call = call
        self.use_cache = use_cache
        target = call if inspect.isfunction(call) or inspect.ismethod(call) or inspect.isclass(call) else \
            getattr(call, "__call__", call)
        self.is_async_gen = inspect.isasyncgenfunction(target)
        self.is_gen = inspect.isgeneratorfunction(target)
        self.is_coroutine = inspect.iscoroutinefunction(target)
        self.plan = build_plan(call, path_param_names)


def _resolve_hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception:
        return getattr(func, "__annotations__", {}) or {}


def build_plan(func: Callable[..., Any], path_param_names: set[str], *, websocket: bool = False) -> Plan:
    """Analyse ``func``'s signature once; the result drives ``solve`` for every request."""
    from .requests import Request
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
            plan.deps.append((p.name, Dependant(call, dep.use_cache, path_param_names)))
            continue
        if isinstance(default, ParamInfo):
            info, default = default, default.default
        elif info is not None and default is _EMPTY:
            default = info.default
        if info is not None:
            kind = _INFO_KINDS[info.in_]
            if kind == BODY:
                plan.body_params.append(Param(p.name, BODY, annotation, default, info))
            else:
                plan.params.append(Param(p.name, kind, annotation, default, info))
                plan.needs_query |= kind == QUERY
                plan.needs_headers |= kind == HEADER
                plan.needs_cookies |= kind == COOKIE
            continue
        if annotation is WebSocket or (isinstance(annotation, type) and issubclass(annotation, WebSocket)):
            plan.websocket_name = p.name
            continue
        if isinstance(annotation, type) and issubclass(annotation, Request):
            plan.request_names.append(p.name)
            continue
        if annotation is Response:
            plan.response_names.append(p.name)
            continue
        if isinstance(annotation, type) and issubclass(annotation, BackgroundTasks):
            plan.background_names.append(p.name)
            continue
        if p.name in path_param_names:
            plan.params.append(Param(p.name, PATH, annotation, _EMPTY))
        elif _is_scalar(annotation) or websocket:
            plan.params.append(Param(p.name, QUERY, annotation, p.default))
            plan.needs_query = True
        else:
            plan.body_params.append(Param(p.name, BODY, annotation, p.default))
    plan.embed_body = len(plan.body_params) > 1 or any(p.embed for p in plan.body_params)
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
        raise RequestValidationError(errors, body=getattr(request, "_body", None))
    return kwargs


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
                if p.required:
                    errors = errors or []
                    errors.append(_missing(kind, p.key))
                else:
                    kwargs[p.name] = p.default
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
    return errors


class SolveContext:
    """What one request's dependency solving shares: the value cache, the exit stack, the overrides."""

    __slots__ = ("cache", "stack", "overrides", "path_param_names")

    def __init__(self, stack: Any, overrides: dict[Any, Any] | None, path_param_names: set[str]) -> None:
        self.cache: dict[Any, Any] = {}
        self.stack = stack
        self.overrides = overrides or None
        self.path_param_names = path_param_names


async def solve_async(plan: Plan, request: Any, ctx: SolveContext) -> dict[str, Any]:
    """Like ``solve``, also resolving ``Depends`` (sub-dependencies first, each once per request)."""
    kwargs: dict[str, Any] = {}
    errors = await _solve_collect(plan, request, ctx, kwargs)
    if errors:
        raise RequestValidationError(errors, body=getattr(request, "_body", None))
    return kwargs


async def _solve_collect(plan: Plan, request: Any, ctx: SolveContext, kwargs: dict[str, Any]) -> list[dict[str, Any]] | None:
    errors: list[dict[str, Any]] | None = None
    for name, dep in plan.deps:
        value, dep_errors = await _resolve(dep, request, ctx)
        if dep_errors:
            errors = (errors or []) + dep_errors
        elif name is not None:
            kwargs[name] = value
    return _solve_params(plan, request, kwargs, errors)


_OVERRIDES: dict[tuple[Any, bool, frozenset[str]], Dependant] = {}


def _override_dependant(call: Callable[..., Any], use_cache: bool, path_param_names: set[str]) -> Dependant:
    """The Dependant of an override, analysed once rather than on every request."""
    key = (call, use_cache, frozenset(path_param_names))
    dep = _OVERRIDES.get(key)
    if dep is None:
        dep = _OVERRIDES[key] = Dependant(call, use_cache, path_param_names)
    return dep


async def _resolve(dep: Dependant, request: Any, ctx: SolveContext) -> tuple[Any, list[dict[str, Any]] | None]:
    from contextlib import asynccontextmanager, contextmanager

    from .concurrency import run_in_threadpool

    call = dep.call
    if ctx.overrides is not None and call in ctx.overrides:
        call = ctx.overrides[call]
        dep = _override_dependant(call, dep.use_cache, ctx.path_param_names)
    if dep.use_cache and call in ctx.cache:
        return ctx.cache[call], None
    sub_kwargs: dict[str, Any] = {}
    errors = await _solve_collect(dep.plan, request, ctx, sub_kwargs)
    if errors:
        return None, errors
    if dep.is_async_gen:
        value = await ctx.stack.enter_async_context(asynccontextmanager(call)(**sub_kwargs))
    elif dep.is_gen:
        cm = contextmanager(call)(**sub_kwargs)
        value = await run_in_threadpool(cm.__enter__)

        async def _exit(exc_type: Any, exc: Any, tb: Any) -> Any:
            return await run_in_threadpool(cm.__exit__, exc_type, exc, tb)

        ctx.stack.push_async_exit(_exit)
    elif dep.is_coroutine:
        value = await call(**sub_kwargs)
    else:
        value = await run_in_threadpool(call, **sub_kwargs)
    if dep.use_cache:
        ctx.cache[call] = value
    return value, None


def _solve_body(plan: Plan, request: Any, kwargs: dict[str, Any], errors: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    raw = request._body
    body: Any = _EMPTY
    if raw:
        content_type = request.headers.get("content-type")
        if not content_type or _is_json_type(content_type):
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError as exc:
                    return [{"type": "json_invalid", "loc": ["body", exc.pos], "msg": "JSON decode error",
                             "input": {}, "ctx": {"error": exc.msg}}]
        else:
            body = raw
    errors = errors or []
    if not plan.embed_body:
        p = plan.body_params[0]
        if body is _EMPTY:
            if p.required:
                errors.append(_missing(BODY, ""))
            else:
                kwargs[p.name] = p.default
        else:
            _validate_into(p, body, kwargs, errors, ("body",))
        return errors
    if body is _EMPTY:
        body = {}
    for p in plan.body_params:
        value = body.get(p.key, _EMPTY) if isinstance(body, dict) else _EMPTY
        if value is _EMPTY:
            if p.required:
                errors.append({"type": "missing", "loc": ["body", p.key], "msg": "Field required", "input": None})
            else:
                kwargs[p.name] = p.default
            continue
        _validate_into(p, value, kwargs, errors, ("body", p.key))
    return errors


def _validate_into(p: Param, value: Any, kwargs: dict[str, Any], errors: list[dict[str, Any]], loc: tuple[Any, ...]) -> None:
    if p.validate is None:
        kwargs[p.name] = value
        return
    try:
        kwargs[p.name] = p.validate(value)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            out = {"type": e["type"], "loc": [*loc, *e["loc"]], "msg": e["msg"], "input": e["input"]}
            if "ctx" in e:
                out["ctx"] = {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v)) for k, v in e["ctx"].items()}
            errors.append(out)


def _is_json_type(content_type: str) -> bool:
    main = content_type.split(";", 1)[0].strip().lower()
    if not main.startswith("application/"):
        return False
    sub = main[12:]
    return sub == "json" or sub.endswith("+json")
