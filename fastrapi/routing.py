"""Routes and the router: static paths in one dict lookup, templated paths as compiled regexes found
through a segment tree (``fastrapi.route_index``) once an app has more than a few.

Each route builds its ``handle`` coroutine function once, at registration: a handler with no parameters
and a plain return runs ``await endpoint()`` plus one ``orjson.dumps`` and nothing else per request.
"""
from __future__ import annotations

import dis
import functools
import math
import os
from contextlib import AsyncExitStack
import inspect
import re
import typing
import uuid
from asyncio import get_running_loop
from contextvars import copy_context
from typing import Any, Awaitable, Callable, Iterable, Literal, Sequence, TypeVar

import orjson
from pydantic import BaseModel, PydanticSchemaGenerationError, TypeAdapter

from .background import Teardown
from .concurrency import run_in_threadpool, submit_call
from .datastructures import Default, DefaultPlaceholder, URLPath
from .dependencies import (Dependant, Plan, SolveContext, _reads_body, _reads_form, build_plan, load_body, solve,
                           solve_async, uses_function_scope)
from .exceptions import FastAPIError, NoMatchFound, ResponseValidationError
from .background import chain
from .frontend import FrontendFiles, join_paths, normalize_path, resolve_check_dir
from .jsoncodec import ensure_finite
from .requests import Request, made_from_scope
from .route_index import REST, WILD, SegmentIndex
from .responses import (JSONResponse, RedirectResponse, Response, StreamingResponse, encoded_json_response,
                        finalize_response)
from .streaming import build_stream_serializer, close_on_abort, stream_kind, stream_response_model
from .ws.messages import MessageType

_PARAM_RE = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-zA-Z_][a-zA-Z0-9_]*))?}")

# Starlette's path convertors: name -> (regex, convert)
CONVERTORS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "str": ("[^/]+", str),
    "path": (".*", str),
    "int": ("[0-9]+", int),
    "float": (r"[0-9]+(?:\.[0-9]+)?", float),
    "uuid": ("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", uuid.UUID),
}


def compile_path(path: str) -> tuple[re.Pattern[str] | None, dict[str, Callable[[str], Any]]]:
    """``/items/{id:int}`` -> (regex, {"id": int}); a path with no parameters gives (None, {})."""
    if "{" not in path:
        return None, {}
    pattern = "^"
    convertors: dict[str, Callable[[str], Any]] = {}
    idx = 0
    for m in _PARAM_RE.finditer(path):
        name, conv = m.group(1), m.group(2) or "str"
        if conv not in CONVERTORS:
            raise ValueError(f"unknown path convertor {conv!r} in {path!r}")
        if name in convertors:
            raise ValueError(f"duplicated path parameter {name!r} in {path!r}")
        regex, convert = CONVERTORS[conv]
        pattern += re.escape(path[idx : m.start()]) + f"(?P<{name}>{regex})"
        convertors[name] = convert
        idx = m.end()
    pattern += re.escape(path[idx:]) + "$"
    return re.compile(pattern), convertors


#: convertors whose value never holds "/": a segment with only these matches exactly one segment of a path
_ONE_SEGMENT = frozenset({"str", "int", "float", "uuid"})


def _index_keys(route: Any) -> list[Any] | None:
    """Where ``SegmentIndex`` files a route: its path's segments, a parameter segment as ``WILD``, from a
    segment with a ``{p:path}`` (a mount's rest) on as ``REST``. None for a route with its own matcher."""
    if getattr(route, "is_mount", False):
        template = route.path + "/{path:path}"
    elif getattr(type(route), "matches", None) is APIRoute.matches:
        template = route.path
    else:
        return None
    keys: list[Any] = []
    for segment in template.split("/"):
        kinds = [m.group(2) or "str" for m in _PARAM_RE.finditer(segment)]
        if not kinds:
            keys.append(segment)
        elif all(kind in _ONE_SEGMENT for kind in kinds):
            keys.append(WILD)
        else:
            keys.append(REST)
            break
    return keys


def _to_json(result: Any) -> bytes:
    """orjson for a handler's result; data orjson refuses (a dict with non-str keys...) goes through
    ``jsonable_encoder`` first, as FastAPI encodes it."""
    try:
        out = orjson.dumps(result, default=_json_default)
    except TypeError:
        from .encoders import jsonable_encoder

        result = jsonable_encoder(result)
        out = orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS)
    # orjson writes inf/NaN as null: outputs with a null are checked (110 is "n": memchr first, then the
    # 4-byte search; both far cheaper than ``b"null" in out``, see fastrapi.jsoncodec)
    if 110 in out and out.partition(b"null")[1]:
        ensure_finite(result, _json_default)
    return out


def _model_json(model: BaseModel) -> bytes:
    """A model returned without a response model, by alias; inf/NaN refused (pydantic writes them as null)."""
    out = model.__pydantic_serializer__.to_json(model, by_alias=True)
    if 110 in out and out.partition(b"null")[1]:
        ensure_finite(model)
    return out


def _json_default(obj: Any) -> Any:
    """What orjson cannot encode itself, made JSON-ready as FastAPI's ``jsonable_encoder`` does (models by alias)."""
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json", by_alias=True)
    from .encoders import jsonable_encoder

    return jsonable_encoder(obj)


def _return_annotation(endpoint: Callable[..., Any]) -> Any:
    """The endpoint's return annotation, resolved (None when it has none)."""
    try:
        return typing.get_type_hints(endpoint).get("return")
    except Exception:
        return getattr(endpoint, "__annotations__", {}).get("return")


def _resolve_response_model(endpoint: Callable[..., Any], response_model: Any) -> Any:
    """FastAPI's rule: an explicit ``response_model`` (``None`` turns validation off), else the return
    annotation unless it is a Response class."""
    if isinstance(response_model, DefaultPlaceholder):
        response_model = _return_annotation(endpoint)
        if isinstance(response_model, type) and issubclass(response_model, Response):
            return None
    return response_model


def _response_adapter(response_model: Any) -> TypeAdapter[Any] | None:
    """The validator/serializer of a response model; None when there is nothing to validate."""
    if response_model is None or response_model is type(None) or response_model is Any:
        return None
    if isinstance(response_model, type) and issubclass(response_model, Response):
        return None
    try:
        return TypeAdapter(response_model)
    except PydanticSchemaGenerationError:  # not a type pydantic can validate: FastAPI's error, at declaration
        raise FastAPIError(_INVALID_RESPONSE_MODEL.format(type_=response_model)) from None
    except Exception:
        return None


_INVALID_RESPONSE_MODEL = (
    "Invalid args for response field! Hint: check that {type_} is a valid Pydantic field type. If you are using a "
    "return type annotation that is not a valid Pydantic field (e.g. Union[Response, dict, None]) you can disable "
    "generating the response model from the type annotation with the path operation decorator parameter "
    "response_model=None. Read more: https://fastapi.tiangolo.com/tutorial/response-model/"
)


def generate_unique_id(route: "APIRoute") -> str:
    """FastAPI's default operation id: route name + path, non-word characters as ``_``, + the method."""
    operation_id = re.sub(r"\W", "_", f"{route.name}{route.path_format}")
    return f"{operation_id}_{route.methods[0].lower()}"


def get_value_or_default(first: Any, *extra: Any) -> Any:
    """The first value that is not a ``Default(...)`` marker; else the first marker (FastAPI's helper)."""
    for item in (first, *extra):
        if not isinstance(item, DefaultPlaceholder):
            return item
    return first


def _no_body_status(status_code: int | None) -> bool:
    return status_code is not None and (status_code < 200 or status_code in (204, 205, 304))


def _str_to_string(value: Any) -> str:
    value = str(value)
    assert "/" not in value, "May not contain path separators"
    assert value, "Must not be empty"
    return value


def _int_to_string(value: Any) -> str:
    value = int(value)
    assert value >= 0, "Negative integers are not supported"
    return str(value)


def _float_to_string(value: Any) -> str:
    value = float(value)
    assert not math.isnan(value), "NaN values are not supported"
    assert not math.isinf(value), "Infinite values are not supported"
    assert value >= 0.0, "Negative floats are not supported"
    return ("%0.20f" % value).rstrip("0").rstrip(".")


# Starlette's convertors' to_string: path parameter value -> its text in a URL (url_path_for)
_TO_STRING: dict[str, Callable[[Any], str]] = {
    "str": _str_to_string, "path": str, "int": _int_to_string, "float": _float_to_string, "uuid": str,
}


class BaseRoute:
    path: str
    name: str
    #: what ``URLPath.make_absolute_url`` turns into the scheme: "http" or "websocket"
    protocol = "http"
    #: a ``fastrapi.mounting.Mount``: matched in declaration order, it shadows routes declared after it
    is_mount = False

    @property
    def path_format(self) -> str:
        """The path with its convertors left out: ``/items/{id:int}`` -> ``/items/{id}``."""
        return _PARAM_RE.sub(r"{\1}", self.path)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """Starlette's: this route's path with ``path_params`` filled in; ``NoMatchFound`` unless both the
        name and the set of parameter names match."""
        kinds = {m.group(1): m.group(2) or "str" for m in _PARAM_RE.finditer(self.path)}
        if name != self.name or set(path_params) != set(kinds):
            raise NoMatchFound(name, path_params)
        path = self.path_format
        for key, value in path_params.items():
            path = path.replace("{" + key + "}", _TO_STRING[kinds[key]](value))
        return URLPath(path, protocol=self.protocol)


class APIRoute(BaseRoute):
    """An HTTP route: path, methods, the endpoint, and its precomputed ``handle(request)``.

    Every FastAPI route option is kept as an attribute of FastAPI's name (``summary``, ``tags``,
    ``responses``, ``response_model_include``...); the ones that shape the response are compiled into
    ``serialize`` here, once.
    """

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Iterable[str] | None = None,
        *,
        response_model: Any = Default(None),
        status_code: int | None = None,
        tags: list[Any] | None = None,
        dependencies: Sequence[Any] | None = None,
        summary: str | None = None,
        description: str | None = None,
        response_description: str = "Successful Response",
        responses: dict[int | str, dict[str, Any]] | None = None,
        deprecated: bool | None = None,
        name: str | None = None,
        operation_id: str | None = None,
        response_model_include: Any = None,
        response_model_exclude: Any = None,
        response_model_by_alias: bool = True,
        response_model_exclude_unset: bool = False,
        response_model_exclude_defaults: bool = False,
        response_model_exclude_none: bool = False,
        include_in_schema: bool = True,
        response_class: Any = Default(JSONResponse),
        callbacks: list[Any] | None = None,
        openapi_extra: dict[str, Any] | None = None,
        generate_unique_id_function: Any = Default(generate_unique_id),
        cache_resp: bool = False,
        rate_limit: int | None = None,
        sync_to_threadpool: bool = True,
        request_timeout: float | None = None,
        reject_unknown_multipart_fields: bool = False,
    ) -> None:
        self.path = path
        self.endpoint = endpoint
        self.methods = [m.upper() for m in (methods or ["GET"])]
        # A GET route answers HEAD too (as in Starlette), unless a route declares HEAD explicitly.
        self.implicit_head = "GET" in self.methods and "HEAD" not in self.methods
        if self.implicit_head:
            self.methods.append("HEAD")
        self.name = _endpoint_name(endpoint) if name is None else name
        self.status_code = int(status_code) if status_code is not None else None
        if response_class is None:
            response_class = Default(JSONResponse)
        self.response_class = response_class
        self.tags = list(tags or ())
        self.dependencies = list(dependencies or ())
        self.summary = summary
        self.response_description = response_description
        self.responses = dict(responses or {})
        for value in self.responses.values():
            assert isinstance(value, dict), "An additional response must be a dict"
        self.deprecated = deprecated
        self.operation_id = operation_id
        self.response_model_include = response_model_include
        self.response_model_exclude = response_model_exclude
        self.response_model_by_alias = response_model_by_alias
        self.response_model_exclude_unset = response_model_exclude_unset
        self.response_model_exclude_defaults = response_model_exclude_defaults
        self.response_model_exclude_none = response_model_exclude_none
        self.include_in_schema = include_in_schema
        self.callbacks = callbacks
        self.openapi_extra = openapi_extra
        self.generate_unique_id_function = generate_unique_id_function
        doc = description or inspect.cleandoc(getattr(endpoint, "__doc__", None) or "")
        self.description = doc.split("\f")[0].strip()
        make_id = generate_unique_id_function
        if isinstance(make_id, DefaultPlaceholder):
            make_id = make_id.value
        self.unique_id = operation_id or make_id(self)
        #: a generator path operation streams its items (``fastrapi.streaming``): JSONL, SSE or RAW
        self.stream_kind = stream_kind(endpoint, response_class)
        #: the type each streamed item is validated against (JSON Lines and events), else None
        self.stream_item_type: Any = None
        if self.stream_kind is not None and isinstance(response_model, DefaultPlaceholder):
            annotation = _return_annotation(endpoint)
            if not (isinstance(annotation, type) and issubclass(annotation, Response)):
                response_model, self.stream_item_type = stream_response_model(annotation, self.stream_kind)
        self.response_model = _resolve_response_model(endpoint, response_model)
        if self.response_model:
            assert not _no_body_status(self.status_code), f"Status code {status_code} must not have a response body"
        self.regex, self.convertors = compile_path(path)
        self.plan: Plan = build_plan(endpoint, set(self.convertors))
        for dep in reversed(list(dependencies or ())):
            self.plan.deps.insert(0, (None, Dependant(dep.dependency, dep.use_cache, set(self.convertors),
                                                      getattr(dep, "scopes", None), (), getattr(dep, "scope", None))))
        self.response_adapter = _response_adapter(self.response_model)
        #: False (the original FastrAPI's default): plain ``def`` handlers and dependencies run on the event loop
        self.sync_to_threadpool = sync_to_threadpool
        self.serialize = self._build_serializer() if self.stream_kind is None else build_stream_serializer(self)
        if reject_unknown_multipart_fields:
            _restrict_form_keys(self.plan)
        if type(self).get_route_handler is not APIRoute.get_route_handler:
            # FastAPI's custom route class: each request goes through the handler it builds (no fast path)
            handle = _as_async(self.get_route_handler())
            inline = threaded = None
        else:
            handle = self._build_handle()
            inline = self._build_inline()
            threaded = self._build_threaded() if inline is None else None
        #: for a handler without parameters: the server's fast path calls this with no Request at all
        fast = self._build_fast() if inline is not None and self.plan.empty else None
        #: the handler's own (handle, call_inline, call_fast); ``_install`` puts the route options around them
        self._base = (handle, inline, fast)
        self._threaded = threaded
        #: ``cache_resp=True``: the response computed once (at startup) and served as stored bytes
        self.cache_resp = bool(cache_resp)
        self.stored: Any = None
        if self.cache_resp:
            from .response_cache import check_cacheable

            check_cacheable(self)
        #: ``rate_limit=N``: at most N requests per second per client address (``fastrapi.ratelimit``)
        self.rate_limit = rate_limit
        self.rate_limiter: Any = None
        if rate_limit is not None:
            from .ratelimit import RateLimiter

            self.rate_limiter = RateLimiter(rate_limit)
        #: seconds the handling of a request may take before it is cancelled and answered 408
        self.request_timeout = request_timeout
        if request_timeout is not None and not request_timeout > 0:
            raise ValueError(f"request_timeout must be a positive number of seconds, not {request_timeout!r}")
        self._install()

    def _install(self) -> None:
        """Set ``handle``/``call_inline``/``call_fast`` from the handler's own ones and the route options
        (cached response, request timeout, rate limit). Only the options a route has cost it anything."""
        handle, inline, fast = self._base
        threaded = self._threaded
        if self.cache_resp or self.request_timeout is not None or self.rate_limiter is not None:
            threaded = None  # (these options wrap ``handle``: such a route goes through it)
        if self.cache_resp:
            fast = None  # the server's fast path writes ``stored`` itself
            stored = self.stored
            if stored is None:  # not computed yet (an ASGI server without lifespan): on the first request
                inline = None
                route = self

                async def handle(request: Any) -> Any:
                    return (route.stored or await route.fill_cache(request.app)).response()
            else:
                respond = stored.response

                async def handle(request: Any) -> Any:
                    return respond()

                def inline(request: Any) -> Any:
                    return respond()
        if self.request_timeout is not None:
            from .timeouts import with_timeout

            handle = with_timeout(handle, self.request_timeout)
        limiter = self.rate_limiter
        if limiter is not None:
            from .ratelimit import limited

            fast = None  # the fast path has no client address
            handle, inline = limited(limiter, handle, inline)
        self.handle = handle
        self.call_inline = inline
        self.call_fast = fast
        self.call_threaded = threaded

    async def fill_cache(self, app: Any) -> Any:
        """``cache_resp``: run the handler once and keep its response (startup calls this; else the first
        request). Returns the ``StoredResponse``."""
        if self.stored is None:
            from .response_cache import compute

            stored = await compute(self, app, self._base[0])
            if self.stored is None:
                self.stored = stored
                self._install()
        return self.stored

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        """FastAPI's hook: the function answering one request, ``Request -> Response``.

        A subclass (``route_class=``) overrides it to wrap ``super().get_route_handler()``: to hand the
        handler another Request (``GzipRequest(request.scope, request.receive)``), time it, or turn its
        exceptions into others. The response has the ``response: Response`` parameter's headers and the
        background tasks applied. Routes of classes that do not override it keep their prebuilt ``handle``.
        """
        handle = self._build_handle()
        reads_form = _reads_form(self.plan)
        reads_body = _reads_body(self.plan) and not reads_form

        async def route_handler(request: Request) -> Response:
            if reads_body and (type(request).body is not Request.body or getattr(request, "_body", None) is None):
                request._body = await request.body()  # the request class's own reading (a GzipRequest's...)
            response = finalize_response(request, await handle(request))
            if type(response) is bytes:
                response = encoded_json_response(response)
            if reads_form and request._form is not None and made_from_scope(request):
                # the server closes the uploads of the request it made; these ones are closed here
                response.background = chain(response.background, request._form.close)
            return response

        return route_handler

    def _endpoint_call(self) -> tuple[Callable[..., Any], bool]:
        """The endpoint as a request calls it, and whether that is a coroutine function. A generator path
        operation is called on the loop: that only creates the generator, which the response iterates."""
        endpoint = self.endpoint
        if self.stream_kind is not None:
            async def start_stream(**kwargs: Any) -> Any:
                return endpoint(**kwargs)

            return start_stream, True
        return endpoint, inspect.iscoroutinefunction(endpoint) or inspect.iscoroutinefunction(
            getattr(endpoint, "__call__", None)
        )

    def _build_handle(self) -> Callable[[Any], Any]:
        endpoint, is_async = self._endpoint_call()
        plan = self.plan
        serialize = self.serialize
        run_sync = run_in_threadpool if self.sync_to_threadpool else _call_here
        if plan.has_deps:
            return self._build_handle_with_deps(is_async, serialize, run_sync)
        if plan.empty:
            if is_async:
                async def handle(request: Any) -> Any:
                    return serialize(await endpoint())
            else:
                async def handle(request: Any) -> Any:
                    return serialize(await run_sync(endpoint))
        elif plan.form_params or plan.body_params:
            form = bool(plan.form_params)

            async def handle(request: Any) -> Any:
                if form or request._body is None:  # a form to parse, or a body still arriving
                    await load_body(plan, request)
                kwargs = solve(plan, request)
                if is_async:
                    return serialize(await endpoint(**kwargs))
                return serialize(await run_sync(functools.partial(endpoint, **kwargs)))
        elif is_async:
            async def handle(request: Any) -> Any:
                return serialize(await endpoint(**solve(plan, request)))
        else:
            async def handle(request: Any) -> Any:
                kwargs = solve(plan, request)
                return serialize(await run_sync(functools.partial(endpoint, **kwargs)))
        return handle

    def _build_handle_with_deps(self, is_async: bool, serialize: Callable[[Any], Any],
                                run_sync: Callable[..., Any]) -> Callable[[Any], Any]:
        """``handle`` for a route with ``Depends``: teardown of ``yield`` dependencies runs after the response.

        If the handler (or a dependency) raises, the ``yield`` dependencies see the exception at once,
        before it becomes an error response, so they can roll back or raise something else instead.
        """
        endpoint = self._endpoint_call()[0]
        plan = self.plan
        path_params = set(self.convertors)
        inline_sync = not self.sync_to_threadpool
        if uses_function_scope(plan):
            return self._build_handle_function_scope(is_async, serialize)

        async def handle(request: Any) -> Any:
            stack = AsyncExitStack()
            await stack.__aenter__()
            try:
                app = request.app
                ctx = SolveContext(stack, getattr(app, "dependency_overrides", None), path_params, inline_sync)
                kwargs = await solve_async(plan, request, ctx)
                if is_async:
                    result = await endpoint(**kwargs)
                else:
                    result = await run_sync(functools.partial(endpoint, **kwargs))
                response = serialize(result)
            except BaseException as exc:
                if await stack.__aexit__(type(exc), exc, exc.__traceback__):
                    raise FastAPIError(_RESPONSE_NOT_AWAITED) from exc
                raise
            if type(response) is bytes:  # (``_close_after``, inlined: this is every Depends route's path)
                response = encoded_json_response(response)
            elif isinstance(response, StreamingResponse):
                _teardown_on_abort(response, stack)
            response.background = Teardown(response.background, stack)
            return response

        return handle

    def _build_handle_function_scope(self, is_async: bool, serialize: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``handle`` for a route with a ``Depends(..., scope="function")`` yield dependency: those exit as soon
        as the handler returned (and its result is serialized), before the response is sent."""
        endpoint = self._endpoint_call()[0]
        plan = self.plan
        path_params = set(self.convertors)

        async def handle(request: Any) -> Any:
            stack = AsyncExitStack()
            await stack.__aenter__()
            try:
                function_stack = AsyncExitStack()
                await function_stack.__aenter__()
                try:
                    app = request.app
                    ctx = SolveContext(stack, getattr(app, "dependency_overrides", None), path_params,
                                       not self.sync_to_threadpool, function_stack)
                    kwargs = await solve_async(plan, request, ctx)
                    if is_async:
                        result = await endpoint(**kwargs)
                    else:
                        result = await run_in_threadpool(functools.partial(endpoint, **kwargs))
                    response = serialize(result)
                except BaseException as exc:
                    if await function_stack.__aexit__(type(exc), exc, exc.__traceback__):
                        raise FastAPIError(_RESPONSE_NOT_AWAITED) from exc
                    raise
                await function_stack.aclose()
            except BaseException as exc:
                if await stack.__aexit__(type(exc), exc, exc.__traceback__):
                    raise FastAPIError(_RESPONSE_NOT_AWAITED) from exc
                raise
            return _close_after(response, stack)

        return handle

    def _build_inline(self) -> Callable[[Any], Any] | None:
        """For an ``async def`` handler with no await in its code: run it to completion synchronously.

        Such a coroutine cannot suspend, so driving it with one ``send(None)`` gives its result at once and
        saves the Task and the event-loop round trip. The server runs it in a copy of the context, as a
        Task would; only ``asyncio.current_task()`` differs (None inside such a handler).
        """
        endpoint = self._endpoint_call()[0]
        if self.plan.has_deps or self.plan.form_params:
            return None
        plan = self.plan
        serialize = self.serialize
        empty = plan.empty
        if self._sync_here:
            # sync_to_threadpool=False: a plain ``def`` handler runs on the loop, so it is called right here
            def call_sync(request: Any) -> Any:
                return serialize(endpoint() if empty else endpoint(**solve(plan, request)))

            return call_sync
        if not (inspect.iscoroutinefunction(endpoint) and never_suspends(endpoint)):
            return None

        def call_inline(request: Any) -> Any:
            coro = endpoint() if empty else endpoint(**solve(plan, request))
            try:
                coro.send(None)
            except StopIteration as stop:
                return serialize(stop.value)
            coro.close()
            raise RuntimeError(f"{endpoint.__qualname__} suspended although its code has no await")

        return call_inline

    def _build_threaded(self) -> Callable[[Any, Callable[[Any, BaseException | None], None]], None] | None:
        """For a plain ``def`` handler run in the thread pool: ``call_threaded(request, done)`` solves the
        parameters here (raising a validation error at once) and hands the call to the pool, which calls
        ``done(result, error)`` on the loop when it returns. The server then serializes the result
        (``serialize``): no Task, no coroutine and no future per request, as for ``call_inline``."""
        endpoint, is_async = self._endpoint_call()
        plan = self.plan
        if is_async or not self.sync_to_threadpool or plan.has_deps or plan.form_params:
            return None
        empty = plan.empty
        submit = submit_call
        partial = functools.partial

        def call_threaded(request: Any, done: Callable[[Any, BaseException | None], None]) -> None:
            call = copy_context().run
            job = partial(call, endpoint) if empty else partial(call, endpoint, **solve(plan, request))
            submit(get_running_loop(), job, done)

        return call_threaded

    def _build_fast(self) -> Callable[[], Any]:
        """``call_inline`` for a parameterless handler, with a dict result encoded right here.

        It repeats ``call_inline``'s few lines on purpose: this is the server's fast path, where one more
        Python call per request is measurable.
        """
        endpoint = self._endpoint_call()[0]
        serialize = self.serialize
        # A route that declares nothing about its response: a dict result is encoded right here.
        plain = self.response_adapter is None and self._custom_class is None and self.status_code in (None, 200)
        dumps = orjson.dumps
        if self._sync_here:
            def call_fast_sync() -> Any:
                result = endpoint()
                if plain and type(result) is dict:
                    try:
                        return dumps(result, default=_json_default)
                    except TypeError:
                        return _to_json(result)
                return serialize(result)

            return call_fast_sync

        def call_fast() -> Any:
            coro = endpoint()
            try:
                coro.send(None)
            except StopIteration as stop:
                result = stop.value
                if plain and type(result) is dict:
                    try:
                        out = dumps(result, default=_json_default)
                    except TypeError:
                        return _to_json(result)
                    if 110 in out and out.partition(b"null")[1]:  # (see _to_json)
                        ensure_finite(result, _json_default)
                    return out
                return serialize(result)
            coro.close()
            raise RuntimeError(f"{endpoint.__qualname__} suspended although its code has no await")

        return call_fast

    @property
    def _sync_here(self) -> bool:
        """A plain ``def`` handler that runs on the event loop (``sync_to_threadpool=False``)."""
        return not self.sync_to_threadpool and not self._endpoint_call()[1]

    @property
    def _custom_class(self) -> type[Response] | None:
        """The response class results are wrapped in; None for the default JSON (encoded straight to bytes)."""
        cls = self.response_class
        if isinstance(cls, DefaultPlaceholder):
            cls = cls.value
        return None if cls is None or cls is JSONResponse else cls

    def _dump_options(self) -> dict[str, Any]:
        """The ``response_model_*`` options as pydantic serializer keywords (only those not at their default)."""
        options: dict[str, Any] = {"by_alias": self.response_model_by_alias}
        for key in ("include", "exclude"):
            value = getattr(self, f"response_model_{key}")
            if value is not None:
                options[key] = value
        for key in ("exclude_unset", "exclude_defaults", "exclude_none"):
            if getattr(self, f"response_model_{key}"):
                options[key] = True
        return options

    def _build_serializer(self) -> Callable[[Any], Any]:
        """Result -> Response, or bytes of JSON sent with ``status_code`` (the fast path).

        As FastAPI: with a response model the result is validated, then dumped with the ``response_model_*``
        options; without one it is encoded as it is. A non-JSON response class gets JSON-ready data.
        """
        adapter = self.response_adapter
        custom = self._custom_class
        status_code = self.status_code
        status = status_code or 200
        class_kwargs: dict[str, Any] = {} if status_code is None else {"status_code": status_code}
        dumps = orjson.dumps

        if adapter is None:
            if custom is None and status == 200:
                def serialize(result: Any) -> Any:
                    if type(result) is dict:
                        try:
                            out = dumps(result, default=_json_default)
                        except TypeError:
                            return _to_json(result)
                        if 110 in out and out.partition(b"null")[1]:  # (see _to_json)
                            ensure_finite(result, _json_default)
                        return out
                    if isinstance(result, Response):
                        result.from_handler = True
                        return result
                    if isinstance(result, BaseModel):
                        return _model_json(result)
                    return _to_json(result)
            elif custom is None:
                def serialize(result: Any) -> Any:
                    if isinstance(result, Response):
                        result.from_handler = True
                        return result
                    if isinstance(result, BaseModel):
                        return encoded_json_response(_model_json(result), status)
                    return encoded_json_response(_to_json(result), status)
            else:
                def serialize(result: Any) -> Any:
                    if isinstance(result, Response):
                        result.from_handler = True
                        return result
                    return custom(result if type(result) is str else _json_default(result), **class_kwargs)
            return serialize

        # pydantic-core's validator and serializer directly: TypeAdapter's wrappers cost ~0.2 us each per call
        validate = adapter.validator.validate_python
        to_json = adapter.serializer.to_json
        options = self._dump_options()

        def invalid(exc: Exception) -> ResponseValidationError:
            errors = exc.errors(include_url=False) if hasattr(exc, "errors") else [{"msg": str(exc)}]
            return ResponseValidationError([{**e, "loc": ["response", *e.get("loc", ())]} for e in errors])

        if custom is None and options == {"by_alias": True} and status == 200:
            def serialize(result: Any) -> Any:
                if isinstance(result, Response):
                    result.from_handler = True
                    return result
                try:
                    value = validate(result, from_attributes=True)
                except Exception as exc:
                    raise invalid(exc) from None
                out = to_json(value, by_alias=True)
                if 110 in out and out.partition(b"null")[1]:  # pydantic writes inf/NaN as null too
                    ensure_finite(adapter.serializer.to_python(value, by_alias=True))
                return out

            return serialize

        if custom is None:
            dump_json = functools.partial(to_json, **options)

            def finish(value: Any) -> Any:
                body = dump_json(value)
                if 110 in body and body.partition(b"null")[1]:  # (inf/NaN written as null)
                    ensure_finite(adapter.serializer.to_python(value, **options))
                return body if status == 200 else encoded_json_response(body, status)
        else:
            dump_python = functools.partial(adapter.serializer.to_python, mode="json", **options)

            def finish(value: Any) -> Any:
                return custom(dump_python(value), **class_kwargs)

        def serialize(result: Any) -> Any:
            if isinstance(result, Response):
                result.from_handler = True
                return result
            try:
                value = validate(result, from_attributes=True)
            except Exception as exc:
                raise invalid(exc) from None
            return finish(value)

        return serialize

    def matches(self, path: str) -> dict[str, Any] | None:
        if self.regex is None:
            return {} if path == self.path else None
        m = self.regex.match(path)
        if m is None:
            return None
        params = m.groupdict()
        for key, convert in self.convertors.items():
            if convert is not str:
                params[key] = convert(params[key])
        return params

    def __repr__(self) -> str:
        return f"APIRoute(path={self.path!r}, methods={self.methods!r}, name={self.name!r})"


async def _call_here(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``run_in_threadpool``'s signature, calling on the event loop (``sync_to_threadpool=False``)."""
    return func(*args, **kwargs)


def _restrict_form_keys(plan: Plan) -> None:
    """``reject_unknown_multipart_fields``: the form fields the route's parameters (its dependencies'
    included) declare, set on each plan that parses the form; any other field is answered 400."""
    plans: list[Plan] = []

    def walk(p: Plan) -> None:
        plans.append(p)
        for _, dep in p.deps:
            walk(dep.plan)

    walk(plan)
    keys: set[str] = set()
    for p in plans:
        for param in p.form_params:
            keys.add(param.key)
            if param.form_model:
                keys.update(f.alias or n for n, f in param.annotation.model_fields.items())
    if keys:
        frozen = frozenset(keys)
        for p in plans:
            p.form_keys = frozen


#: FastAPI's error when a ``yield`` dependency swallowed the exception of the handler: there is no response
_RESPONSE_NOT_AWAITED = (
    "Response not awaited. There's a high chance that the application code is raising an exception and a "
    "dependency with yield has a block with a bare except, or a block with except Exception, and is not raising "
    "the exception again. Read more about it in the docs: "
    "https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/#dependencies-with-yield-and-except"
)


def _close_after(response: Any, stack: AsyncExitStack) -> Any:
    """The response with the request's exit stack closed after it is sent (as its background, after any
    background work it already had)."""
    if type(response) is bytes:
        response = encoded_json_response(response)
    elif isinstance(response, StreamingResponse):
        _teardown_on_abort(response, stack)
    response.background = Teardown(response.background, stack)
    return response


def _teardown_on_abort(response: StreamingResponse, stack: AsyncExitStack) -> None:
    """A stream stopped early (the client gone) or failing never gets to its background: the exit of the
    ``yield`` dependencies then runs when the stream is closed instead."""
    response.body_iterator = close_on_abort(response.body_iterator, stack.aclose)


def _as_async(handler: Callable[[Any], Any]) -> Callable[[Any], Awaitable[Any]]:
    """A custom route handler as a coroutine function (a sync one runs in the thread pool, as in Starlette)."""
    if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(getattr(handler, "__call__", None)):
        return handler
    return functools.partial(run_in_threadpool, handler)


def _endpoint_name(endpoint: Callable[..., Any]) -> str:
    """Starlette's default route name: the function's ``__name__``, else its class name."""
    return getattr(endpoint, "__name__", type(endpoint).__name__)


class WebSocketRoute(BaseRoute):
    """A WebSocket route: the handler and its parameter plan (the WebSocket and path/query params).

    ``receive`` / ``send`` declare the message types (``ws.receive_model()`` / ``ws.send_model()`` and the
    AsyncAPI document); ``summary``, ``description``, ``tags``, ``subprotocols`` and ``include_in_schema`` only
    document the route. A route that declares no type carries None and pays nothing per message.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], name: str | None = None,
                 dependencies: Iterable[Any] | None = None, *, receive: Any = None, send: Any = None,
                 summary: str | None = None, description: str | None = None, tags: list[Any] | None = None,
                 include_in_schema: bool = True, subprotocols: Sequence[str] | None = None) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"WebSocket handler {endpoint!r} must be an async function")
        self.path = path
        self.endpoint = endpoint
        self.name = _endpoint_name(endpoint) if name is None else name
        self.dependencies = list(dependencies or ())
        self.receive = receive
        self.send = send
        #: the validators/serializers of the declared types (``fastrapi.ws.messages``), built here once
        self.receive_type: MessageType | None = None if receive is None else MessageType(receive)
        self.send_type: MessageType | None = None if send is None else MessageType(send)
        self.summary = summary
        doc = description or inspect.cleandoc(getattr(endpoint, "__doc__", None) or "")
        self.description = doc.split("\f")[0].strip()
        self.tags = list(tags or ())
        self.include_in_schema = include_in_schema
        self.subprotocols = list(subprotocols or ())
        self.regex, self.convertors = compile_path(path)
        self.plan = build_plan(endpoint, set(self.convertors), websocket=True)
        for dep in reversed(list(dependencies or ())):
            self.plan.deps.insert(0, (None, Dependant(dep.dependency, dep.use_cache, set(self.convertors),
                                                      getattr(dep, "scopes", None), (), getattr(dep, "scope", None))))

    matches = APIRoute.matches
    protocol = "websocket"
    #: set on the stand-in of a route of a mounted app (``fastrapi.mounting``): that app runs it
    mounted: Any = None

    def __repr__(self) -> str:
        return f"WebSocketRoute(path={self.path!r}, name={self.name!r})"


F = TypeVar("F", bound=Callable[..., Any])


class _PrefixError(ValueError, AssertionError):
    """A bad router prefix: a ValueError, and an AssertionError as FastAPI raises."""


def _check_prefix(prefix: str) -> None:
    if not prefix.startswith("/"):
        raise _PrefixError("A path prefix must start with '/'")
    if prefix.endswith("/"):
        raise _PrefixError("A path prefix must not end with '/', as the routes will start with '/'")


class RouteDecorators:
    """``@get``, ``@post``... ``@websocket``, ``add_api_route`` and ``include_router`` for the app and
    ``APIRouter``, combining the options of a route, its router and each ``include_router`` level as FastAPI
    does. Subclasses hold the level's own options and say what registering a route means."""

    prefix: str = ""
    tags: Sequence[Any] = ()
    dependencies: Sequence[Any] = ()
    responses: dict[int | str, dict[str, Any]] = {}
    default_response_class: Any = Default(JSONResponse)
    deprecated: bool | None = None
    include_in_schema: bool = True
    callbacks: Sequence[Any] | None = None
    generate_unique_id_function: Any = Default(generate_unique_id)
    #: the class this level's routes are made of (FastAPI's ``route_class``: an ``APIRoute`` subclass)
    route_class: type[APIRoute] = APIRoute

    def _register_route(self, path: str, endpoint: Callable[..., Any], options: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _register_websocket(self, path: str, endpoint: Callable[..., Any], options: dict[str, Any]) -> Any:
        raise NotImplementedError

    def add_api_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        response_model: Any = Default(None),
        status_code: int | None = None,
        tags: list[Any] | None = None,
        dependencies: Sequence[Any] | None = None,
        summary: str | None = None,
        description: str | None = None,
        response_description: str = "Successful Response",
        responses: dict[int | str, dict[str, Any]] | None = None,
        deprecated: bool | None = None,
        methods: Sequence[str] | None = None,
        operation_id: str | None = None,
        response_model_include: Any = None,
        response_model_exclude: Any = None,
        response_model_by_alias: bool = True,
        response_model_exclude_unset: bool = False,
        response_model_exclude_defaults: bool = False,
        response_model_exclude_none: bool = False,
        include_in_schema: bool = True,
        response_class: Any = Default(JSONResponse),
        name: str | None = None,
        callbacks: list[Any] | None = None,
        openapi_extra: dict[str, Any] | None = None,
        generate_unique_id_function: Any = Default(generate_unique_id),
        cache_resp: bool = False,
        rate_limit: int | None = None,
        route_class_override: type[APIRoute] | None = None,
    ) -> Any:
        """Add a route for ``endpoint`` at this level's prefix + ``path``; this level's tags, dependencies,
        responses, default response class... are combined with the route's as in FastAPI. The route is a
        ``route_class_override``, else this level's ``route_class``.

        The original FastrAPI's route options: ``cache_resp=True`` computes the response once at startup and
        serves it as stored bytes (``fastrapi.response_cache``); ``rate_limit=N`` allows N requests per second
        per client address, then 429 (``fastrapi.ratelimit``)."""
        if response_class is None:
            response_class = Default(JSONResponse)
        options = {
            "methods": methods,
            "response_model": response_model,
            "status_code": status_code,
            "tags": [*self.tags, *(tags or ())],
            "dependencies": [*self.dependencies, *(dependencies or ())],
            "summary": summary,
            "description": description,
            "response_description": response_description,
            "responses": {**self.responses, **(responses or {})},
            "deprecated": deprecated or self.deprecated,
            "operation_id": operation_id,
            "response_model_include": response_model_include,
            "response_model_exclude": response_model_exclude,
            "response_model_by_alias": response_model_by_alias,
            "response_model_exclude_unset": response_model_exclude_unset,
            "response_model_exclude_defaults": response_model_exclude_defaults,
            "response_model_exclude_none": response_model_exclude_none,
            "include_in_schema": include_in_schema and self.include_in_schema,
            "response_class": get_value_or_default(response_class, self.default_response_class),
            "name": name,
            "callbacks": [*(self.callbacks or ()), *(callbacks or ())],
            "openapi_extra": openapi_extra,
            "generate_unique_id_function": get_value_or_default(
                generate_unique_id_function, self.generate_unique_id_function
            ),
            "route_class": route_class_override or self.route_class,
        }
        if cache_resp:
            options["cache_resp"] = True
        if rate_limit is not None:
            if isinstance(rate_limit, bool) or not isinstance(rate_limit, int) or rate_limit < 1:
                raise ValueError(f"rate_limit must be a positive number of requests per second, not {rate_limit!r}")
            options["rate_limit"] = rate_limit
        return self._register_route(self.prefix + path, endpoint, options)

    def frontend(
        self,
        path: str,
        *,
        directory: str | os.PathLike[str],
        fallback: Literal["auto", "index.html", "404.html"] | None = "auto",
        check_dir: bool | Literal["auto"] = "auto",
    ) -> None:
        """Serve a static frontend build (``directory``, e.g. ``dist``) under ``path`` as lowest-priority
        routes: path operations declared before or after it win; a missing file falls back to ``404.html``
        or, for a browser navigation, ``index.html`` (``fallback``). ``check_dir``: fail now when the
        directory (or the named fallback file) is missing; ``"auto"`` only warns when ``FASTAPI_ENV`` is
        ``development``. See ``fastrapi.frontend``."""
        check = resolve_check_dir(directory, check_dir)
        full_path = join_paths(self.prefix, normalize_path(path))
        self._add_frontend(full_path, FrontendFiles(directory=directory, fallback=fallback, check_dir=check), [])

    def _add_frontend(self, path: str, files: Any, dependencies: Sequence[Any]) -> None:
        self._register_frontend(path, files, [*self.dependencies, *dependencies])

    def _register_frontend(self, path: str, files: Any, dependencies: list[Any]) -> None:
        raise NotImplementedError

    def add_api_websocket_route(self, path: str, endpoint: Callable[..., Any], name: str | None = None, *,
                                dependencies: Sequence[Any] | None = None, receive: Any = None, send: Any = None,
                                summary: str | None = None, description: str | None = None,
                                tags: list[Any] | None = None, include_in_schema: bool = True,
                                subprotocols: Sequence[str] | None = None) -> Any:
        """Add a WebSocket route at this level's prefix + ``path``, after this level's dependencies and tags."""
        options = {
            "name": name,
            "dependencies": [*self.dependencies, *(dependencies or ())],
            "receive": receive,
            "send": send,
            "summary": summary,
            "description": description,
            "tags": [*self.tags, *(tags or ())],
            "include_in_schema": include_in_schema and self.include_in_schema,
            "subprotocols": subprotocols,
        }
        return self._register_websocket(self.prefix + path, endpoint, options)

    def include_router(
        self,
        router: "APIRouter",
        *,
        prefix: str = "",
        tags: list[Any] | None = None,
        dependencies: Sequence[Any] | None = None,
        default_response_class: Any = Default(JSONResponse),
        responses: dict[int | str, dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        generate_unique_id_function: Any = Default(generate_unique_id),
    ) -> None:
        """Add every route of ``router`` under ``prefix``. FastAPI's precedence: the include's ``tags``,
        ``dependencies`` and ``callbacks`` come first, the route's ``responses`` win over the include's, and
        the response class is the route's, else the router's, the include's, then this level's default."""
        if self is router:
            raise AssertionError("Cannot include the same APIRouter instance into itself. "
                                 "Did you mean to include a different router?")
        if prefix:
            _check_prefix(prefix)
        else:
            for _, path, endpoint, options in router.specs:
                if not path:
                    name = options.get("name") or _endpoint_name(endpoint)
                    raise FastAPIError(f"Prefix and path cannot be both empty (path operation: {name})")
        for kind, path, endpoint, options in list(router.specs):
            merged_deps = [*(dependencies or ()), *options["dependencies"]]
            if kind == "websocket":
                ws_options = dict(options)
                ws_options["dependencies"] = merged_deps
                ws_options["tags"] = [*(tags or ()), *options["tags"]]
                ws_options["include_in_schema"] = options["include_in_schema"] and include_in_schema
                self.add_api_websocket_route(prefix + path, endpoint, **ws_options)
                continue
            if kind == "frontend":  # ``endpoint`` is the frontend's FrontendFiles
                self._add_frontend(join_paths(prefix, path), endpoint, merged_deps)
                continue
            merged = dict(options)
            merged["route_class_override"] = merged.pop("route_class")  # an included route keeps its class
            merged["dependencies"] = merged_deps
            merged["tags"] = [*(tags or ()), *options["tags"]]
            merged["responses"] = {**(responses or {}), **options["responses"]}
            merged["callbacks"] = [*(callbacks or ()), *(options["callbacks"] or ())]
            merged["deprecated"] = options["deprecated"] or deprecated or self.deprecated
            merged["include_in_schema"] = options["include_in_schema"] and self.include_in_schema and include_in_schema
            merged["response_class"] = get_value_or_default(
                options["response_class"], router.default_response_class, default_response_class,
                self.default_response_class,
            )
            merged["generate_unique_id_function"] = get_value_or_default(
                options["generate_unique_id_function"], router.generate_unique_id_function,
                generate_unique_id_function, self.generate_unique_id_function,
            )
            self.add_api_route(prefix + path, endpoint, **merged)

    def api_route(self, path: str, *, methods: Sequence[str] | None = None, **options: Any) -> Callable[[F], F]:
        """Register the decorated function for ``methods`` (default GET); options as ``add_api_route``."""
        def decorator(func: F) -> F:
            self.add_api_route(path, func, methods=methods, **options)
            return func

        return decorator

    def get(self, path: str, **options: Any) -> Callable[[F], F]:
        """Register a GET route (HEAD is answered too)."""
        return self.api_route(path, methods=["GET"], **options)

    def const_get(self, path: str, **options: Any) -> Callable[[F], F]:
        """The original FastrAPI's ``@app.const_get(path)``: a GET route whose response is computed once, at
        startup, and served as stored bytes; the same as ``@app.get(path, cache_resp=True)``."""
        return self.api_route(path, methods=["GET"], cache_resp=True, **options)

    def nest(self, prefix: str, router: "APIRouter", *, tags: list[Any] | None = None, **options: Any) -> None:
        """The original FastrAPI's (and Axum's) ``nest``: ``include_router(router, prefix=prefix, tags=tags)``.
        The prefix may omit its leading slash or keep a trailing one, as the original joins paths."""
        prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.include_router(router, prefix=prefix, tags=tags, **options)

    def post(self, path: str, **options: Any) -> Callable[[F], F]:
        return self.api_route(path, methods=["POST"], **options)

    def put(self, path: str, **options: Any) -> Callable[[F], F]:
        return self.api_route(path, methods=["PUT"], **options)

    def patch(self, path: str, **options: Any) -> Callable[[F], F]:
        return self.api_route(path, methods=["PATCH"], **options)

    def delete(self, path: str, **options: Any) -> Callable[[F], F]:
        return self.api_route(path, methods=["DELETE"], **options)

    def head(self, path: str, **options: Any) -> Callable[[F], F]:
        return self.api_route(path, methods=["HEAD"], **options)

    def options(self, path: str, **options: Any) -> Callable[[F], F]:
        return self.api_route(path, methods=["OPTIONS"], **options)

    def trace(self, path: str, **options: Any) -> Callable[[F], F]:
        return self.api_route(path, methods=["TRACE"], **options)

    def websocket(self, path: str, name: str | None = None, *, dependencies: Sequence[Any] | None = None,
                  receive: Any = None, send: Any = None, summary: str | None = None,
                  description: str | None = None, tags: list[Any] | None = None, include_in_schema: bool = True,
                  subprotocols: Sequence[str] | None = None) -> Callable[[F], F]:
        """Register a WebSocket handler at ``path``; it gets the WebSocket as its first argument.

        ``receive`` / ``send``: the types of the messages it reads (``ws.receive_model()``) and writes
        (``ws.send_model()``). They, ``summary``, ``description`` (default: the docstring), ``tags`` and
        ``subprotocols`` make up the route's channel in the AsyncAPI document (``/asyncapi.json``)."""

        def decorator(func: F) -> F:
            self.add_api_websocket_route(path, func, name=name, dependencies=dependencies, receive=receive,
                                         send=send, summary=summary, description=description, tags=tags,
                                         include_in_schema=include_in_schema, subprotocols=subprotocols)
            return func

        return decorator

    websocket_route = websocket


class APIRouter(RouteDecorators):
    """A group of routes with a common ``prefix``, ``tags``, ``dependencies``, ``responses``, default response
    class..., added to an app (or another router) with ``include_router``. Each route is recorded with this
    router's options combined in (as FastAPI does when it is declared) and built where it is finally included."""

    def __init__(
        self,
        *,
        prefix: str = "",
        tags: list[Any] | None = None,
        dependencies: Sequence[Any] | None = None,
        default_response_class: Any = Default(JSONResponse),
        responses: dict[int | str, dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        redirect_slashes: bool = True,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        generate_unique_id_function: Any = Default(generate_unique_id),
        route_class: type[APIRoute] = APIRoute,
        **options: Any,
    ) -> None:
        if prefix:
            _check_prefix(prefix)
        self.prefix = prefix
        self.route_class = route_class
        self.tags = list(tags or ())
        self.dependencies = list(dependencies or ())
        self.default_response_class = default_response_class
        self.responses = dict(responses or {})
        self.callbacks = list(callbacks or ())
        #: kept for FastAPI compatibility: the app's own router decides about slash redirects
        self.redirect_slashes = redirect_slashes
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.generate_unique_id_function = generate_unique_id_function
        #: (kind, full path, endpoint, options): the routes as declared, built when included
        self.specs: list[tuple[str, str, Callable[..., Any], dict[str, Any]]] = []
        self._routes: list[BaseRoute] | None = None

    def _register_route(self, path: str, endpoint: Callable[..., Any], options: dict[str, Any]) -> None:
        self.specs.append(("http", path, endpoint, options))
        self._routes = None

    def _register_websocket(self, path: str, endpoint: Callable[..., Any], options: dict[str, Any]) -> None:
        self.specs.append(("websocket", path, endpoint, options))
        self._routes = None

    def _register_frontend(self, path: str, files: Any, dependencies: list[Any]) -> None:
        self.specs.append(("frontend", path, files, {"dependencies": dependencies}))

    @property
    def routes(self) -> list[BaseRoute]:
        """This router's routes as route objects (FastAPI's ``router.routes``), built on first access."""
        if self._routes is None:
            self._routes = [
                build_route(path, endpoint, options) if kind == "http" else WebSocketRoute(path, endpoint, **options)
                for kind, path, endpoint, options in self.specs if kind != "frontend"
            ]
        return self._routes

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """The path of the route ``name`` with ``path_params`` filled in (``NoMatchFound`` if none fits)."""
        return _url_path_for(self.routes, name, path_params)


def build_route(path: str, endpoint: Callable[..., Any], options: dict[str, Any]) -> APIRoute:
    """The route ``add_api_route`` recorded: an instance of its ``route_class`` option (APIRoute by default)."""
    cls = options.get("route_class") or APIRoute
    return cls(path, endpoint, **{k: v for k, v in options.items() if k != "route_class"})


def _url_path_for(routes: Iterable[BaseRoute], name: str, path_params: dict[str, Any]) -> URLPath:
    for route in routes:
        try:
            return route.url_path_for(name, **path_params)
        except NoMatchFound:
            pass
    raise NoMatchFound(name, path_params)


def _redirect_with_slash(request: Any) -> Response:
    """Starlette's ``redirect_slashes``: 307 to the request's URL with its trailing slash added or removed."""
    path = getattr(request, "_full_path", None) or request.path  # a mounted app's request: its full path
    path = path.rstrip("/") if path.endswith("/") else path + "/"
    path = path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    query = request.query_string.decode("utf-8", "replace")
    host = request._host()
    url = (f"{request._url_scheme()}://{host}{path}" if host else path) + (f"?{query}" if query else "")
    return RedirectResponse(url)


class _SlashRedirect:
    """What ``Router.match`` gives for a path that only exists with (or without) a trailing slash."""

    call_fast = None
    call_threaded = None
    serialize = None
    stored = None
    call_inline = staticmethod(_redirect_with_slash)

    @staticmethod
    async def handle(request: Any) -> Response:
        return _redirect_with_slash(request)


_SLASH_REDIRECT: Any = _SlashRedirect()


class Router:
    """Finds the route for a method and path: one dict lookup for static paths, regexes otherwise.

    Templated routes (and mounts, and static paths an earlier templated route also matches) are tried in
    declaration order, the first whose path and method match wins (Starlette's rule). Past ``index_min`` of
    them, only the candidates a segment tree gives for the path are tried, still in declaration order, so
    the cost of a match does not grow with the number of routes.

    When nothing matches, the path is tried again without the app's ``root_path``, then (``redirect_slashes``)
    with its trailing slash added or removed; only this miss path pays for either.
    """

    #: from this many templated routes on, a ``SegmentIndex`` picks the candidates (fewer: all are tried;
    #: trying a regex costs about what a walk of the tree does, see bench/routes.py)
    index_min = 8

    def __init__(self, redirect_slashes: bool = True, root_path: str = "") -> None:
        self.routes: list[BaseRoute] = []
        self.static: dict[str, dict[str, APIRoute]] = {}
        self._dynamic: list[APIRoute] = []
        #: raw target bytes -> method bytes -> route, for routes the server answers without a Request
        self.fast: dict[bytes, dict[bytes, APIRoute]] = {}
        self._ws_static: dict[str, WebSocketRoute] = {}
        self._ws_dynamic: list[WebSocketRoute] = []
        #: the segment trees over ``_dynamic`` / ``_ws_dynamic`` (None while they are short)
        self._index: SegmentIndex | None = None
        self._ws_index: SegmentIndex | None = None
        #: ``app.frontend(...)`` routes (``fastrapi.frontend``): tried last, when nothing else takes a path
        self.frontends: list[Any] = []
        self.redirect_slashes = redirect_slashes
        self.root_path = root_path
        #: the class of the routes the app declares from now on (FastAPI's ``app.router.route_class``)
        self.route_class: type[APIRoute] = APIRoute
        #: the route for requests no other route takes (``app.fallback``); None: 404 / 405 answers
        self.fallback: APIRoute | None = None

    def add_route(self, route: BaseRoute, shadowable: bool = True) -> None:
        """Add a route after those declared so far. ``shadowable=False``: a static route the framework adds
        late (the AsyncAPI pages) is looked up before the app's templated routes, as if declared first."""
        self.routes.append(route)
        if getattr(route, "is_mount", False):  # after every route declared so far, before every later one
            self._add_dynamic(route)
            self._add_ws_dynamic(route)
            return
        if isinstance(route, WebSocketRoute):
            # A static path an earlier mount or templated route also matches is matched after it, in order.
            if route.regex is None and not (shadowable and self._ws_matched(route.path)):
                self._ws_static.setdefault(route.path, route)
            else:
                self._add_ws_dynamic(route)
            return
        assert isinstance(route, APIRoute)
        if route.regex is None and not (shadowable and self._matched(route.path)):
            by_method = self.static.setdefault(route.path, {})
            for m in route.methods:
                current = by_method.get(m)
                if current is None or (m == "HEAD" and current.implicit_head and not route.implicit_head):
                    by_method[m] = route
            self._index_fast(route.path)
        else:
            self._add_dynamic(route)

    def _add_dynamic(self, route: Any) -> None:
        self._dynamic.append(route)
        if self._index is not None:
            self._index.add(route, _index_keys(route))
        elif len(self._dynamic) >= self.index_min:
            self._index = self._build_index(self._dynamic)

    def _add_ws_dynamic(self, route: Any) -> None:
        self._ws_dynamic.append(route)
        if self._ws_index is not None:
            self._ws_index.add(route, _index_keys(route))
        elif len(self._ws_dynamic) >= self.index_min:
            self._ws_index = self._build_index(self._ws_dynamic)

    @staticmethod
    def _build_index(routes: list[Any]) -> SegmentIndex:
        index = SegmentIndex()
        for route in routes:
            index.add(route, _index_keys(route))
        return index

    def _matched(self, path: str) -> bool:
        """Whether a templated route (or mount) declared so far takes ``path``, whatever the method."""
        index = self._index
        return any(r.matches(path) is not None for r in (self._dynamic if index is None else index.candidates(path)))

    def _ws_matched(self, path: str) -> bool:
        index = self._ws_index
        return any(r.matches(path) is not None
                   for r in (self._ws_dynamic if index is None else index.candidates(path)))

    def _index_fast(self, path: str) -> None:
        """(Re)build the raw-bytes index of ``path`` from the static table: only fast-path routes."""
        if not path.isascii() or "%" in path or "?" in path:
            return
        raw = path.encode("ascii")
        entries = {m.encode(): r for m, r in self.static[path].items()
                   if r.call_fast is not None or (r.stored is not None and r.rate_limiter is None)}
        if entries:
            self.fast[raw] = entries
        else:
            self.fast.pop(raw, None)

    def reindex(self, route: APIRoute) -> None:
        """After a route's fast-path eligibility changed (its ``cache_resp`` response was computed)."""
        if route.regex is None and self.static.get(route.path, {}).get(route.methods[0]) is route:
            self._index_fast(route.path)

    def match(self, method: str, path: str, _miss: bool = True) -> tuple[Any, dict[str, Any] | None, list[str] | None]:
        """(route, path_params, None) on a match; (None, None, allowed) for 405; (None, None, None) for 404.

        The route may be the slash redirect (``call_inline(request)`` gives the 307 response).
        """
        by_method = self.static.get(path)
        if by_method is not None:
            route = by_method.get(method)
            if route is not None:
                return route, {}, None
            allowed: list[str] = list(by_method)
        else:
            allowed = []
        fallback: tuple[APIRoute, dict[str, Any]] | None = None
        index = self._index
        for route in self._dynamic if index is None else index.candidates(path):
            params = route.matches(path)
            if params is None:
                continue
            if method in route.methods:
                if method == "HEAD" and route.implicit_head:
                    fallback = fallback or (route, params)  # an explicit HEAD route further on wins
                    continue
                return route, params, None
            allowed.extend(m for m in route.methods if m not in allowed)
        if fallback is not None:
            return fallback[0], fallback[1], None
        if allowed:
            return None, None, allowed
        if not _miss:
            return None, None, None
        if self.redirect_slashes or self.root_path or self.frontends:
            found = self._miss(method, path)
            if found[0] is not None or found[2] is not None or self.fallback is None:
                return found
        if self.fallback is not None and self.match_websocket(path)[0] is None:
            return self.fallback, self.fallback.matches(path) or {}, None
        return None, None, None

    def _miss(self, method: str, path: str) -> tuple[Any, dict[str, Any] | None, list[str] | None]:
        """No route at ``path``: as Starlette, route on the path without ``root_path``, then redirect slashes."""
        route_path = path
        root = self.root_path
        if root and path.startswith(root):
            if path == root:
                route_path = ""
            elif path[len(root)] == "/":
                route_path = path[len(root):]
                found = self.match(method, route_path, False)
                if found[0] is not None or found[2] is not None:
                    return found
        if self.redirect_slashes and route_path != "/":
            other = route_path.rstrip("/") if route_path.endswith("/") else route_path + "/"
            if other in self.static or self._matched(other):
                return _SLASH_REDIRECT, {}, None
        if self.frontends:
            return self._frontend(route_path)
        return None, None, None

    def _frontend(self, route_path: str) -> tuple[Any, dict[str, Any] | None, list[str] | None]:
        """The frontend (the longest path of those the path lies under) that answers ``route_path``."""
        best = None
        for frontend in self.frontends:
            rest = frontend.rest(route_path)
            if rest is not None and (best is None or len(frontend.path) > len(best[0].path)):
                best = (frontend, rest)
        if best is None:
            return None, None, None
        return best[0].bind(best[1]), {}, None

    def add_frontend(self, frontend: Any) -> None:
        """Serve a ``fastrapi.frontend.FrontendRoute`` when no route, mount or slash redirect takes a path."""
        self.frontends.append(frontend)

    def match_websocket(self, path: str) -> tuple[WebSocketRoute | None, dict[str, Any]]:
        route = self._ws_static.get(path)
        if route is not None:
            return route, {}
        index = self._ws_index
        for route in self._ws_dynamic if index is None else index.candidates(path):
            params = route.matches(path)
            if params is not None:
                return route.resolve_websocket(path, params) if route.is_mount else (route, params)
        root = self.root_path
        if root and path.startswith(root + "/"):
            path = path[len(root):]
            route = self._ws_static.get(path)
            if route is not None:
                return route, {}
            for route in self._ws_dynamic if index is None else index.candidates(path):
                params = route.matches(path)
                if params is not None:
                    return route.resolve_websocket(path, params) if route.is_mount else (route, params)
        return None, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """Starlette's: the path of the route ``name`` with ``path_params`` filled in (convertors applied);
        ``NoMatchFound`` when no route has that name and exactly those parameters."""
        return _url_path_for(self.routes, name, path_params)

    def mount(self, path: str, app: Any, name: str | None = None) -> None:
        """Serve ``app`` (StaticFiles, a FastrAPI app, any ASGI app) under ``path`` (Starlette's ``Router.mount``)."""
        from .mounting import Mount

        self.add_route(Mount(path, app=app, name=name))


_SUSPENDING_OPS = frozenset(
    {"GET_AWAITABLE", "BEFORE_ASYNC_WITH", "GET_AITER", "GET_ANEXT", "SEND", "YIELD_VALUE", "YIELD_FROM",
     "END_ASYNC_FOR", "ASYNC_GEN_WRAP", "SETUP_ASYNC_WITH"}
)


def never_suspends(func: Callable[..., Any]) -> bool:
    """True when a coroutine function's own code has no await / async for / async with.

    A coroutine can only suspend at one of those, in its own frame: calls into other code either
    return plainly or hand back an awaitable that would have to be awaited here.
    """
    code = getattr(func, "__code__", None)
    if code is None:
        return False
    return not any(ins.opname in _SUSPENDING_OPS for ins in dis.get_instructions(code))


#: names ``fastapi.routing`` exports that live in modules importing this one: (module, attribute), loaded on use
_LAZY = {
    "Mount": ("mounting", "Mount"),
    **{name: ("asgi_routing", name) for name in (
        "APIWebSocketRoute", "Match", "RouteContext", "get_name", "get_request_handler", "get_route_path",
        "get_websocket_app", "is_async_callable", "iter_route_contexts", "request_response", "run_endpoint_function",
        "serialize_response", "websocket_session", "wrap_app_handling_exceptions")},
    **{name: ("middleware.bodylimit", name) for name in (
        "MAX_BODY_SIZE_SCOPE_KEY", "get_body_limit_error", "get_body_size_limit", "validate_max_body_size",
        "wrap_app_with_body_limit")},
    **{name: ("types", name) for name in ("ASGIApp", "AppType", "DecoratedCallable", "IncEx", "Lifespan", "Receive",
                                          "Scope", "Send")},
    **{name: ("_dependency_modules.utils", name) for name in (
        "SolvedDependency", "get_dependant", "get_parameterless_sub_dependant", "get_stream_item_type",
        "get_typed_return_annotation", "solve_dependencies", "lenient_issubclass")},
    "ModelField": ("openapi.utils", "ModelField"),
    "Undefined": ("utils", "Undefined"),
    "create_model_field": ("utils", "create_model_field"),
    "is_body_allowed_for_status_code": ("utils", "is_body_allowed_for_status_code"),
    "jsonable_encoder": ("encoders", "jsonable_encoder"),
    "EndpointContext": ("exceptions", "EndpointContext"),
    "HTTPException": ("exceptions", "HTTPException"),
    "RequestValidationError": ("exceptions", "RequestValidationError"),
    "WebSocketRequestValidationError": ("exceptions", "WebSocketRequestValidationError"),
    "get_telemetry_data": ("telemetry", "get_telemetry_data"),
    "iterate_in_threadpool": ("concurrency", "iterate_in_threadpool"),
    "URL": ("datastructures", "URL"),
    "Middleware": ("middleware", "Middleware"),
    "Request": ("requests", "Request"),
    "PlainTextResponse": ("responses", "PlainTextResponse"),
    "StreamingResponse": ("responses", "StreamingResponse"),
    "StaticFiles": ("staticfiles", "StaticFiles"),
    "WebSocket": ("websocket", "WebSocket"),
    **{name: ("sse", name) for name in ("EventSourceResponse", "ServerSentEvent", "format_sse_event",
                                        "KEEPALIVE_COMMENT")},
}


def __getattr__(name: str) -> Any:
    """FastAPI's other names in ``fastapi.routing`` (``Mount``, Starlette's helpers, FastAPI's internals), from
    the modules that define them (several import this one, hence loaded on first use)."""
    where = _LAZY.get(name)
    if where is not None:
        import importlib

        value = getattr(importlib.import_module(f"{__package__}.{where[0]}"), where[1], None)
        if value is not None:
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
