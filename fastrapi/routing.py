"""Routes and the router: static paths in one dict lookup, templated paths as compiled regexes.

Each route builds its ``handle`` coroutine function once, at registration: a handler with no parameters
and a plain return runs ``await endpoint()`` plus one ``orjson.dumps`` and nothing else per request.
"""
from __future__ import annotations

import dis
import functools
from contextlib import AsyncExitStack
import inspect
import re
import typing
import uuid
from typing import Any, Callable, Iterable, Sequence, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter

from .concurrency import run_in_threadpool
from .dependencies import Dependant, Plan, SolveContext, build_plan, solve, solve_async
from .exceptions import ResponseValidationError
from .responses import Response, encoded_json_response

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


def _json_default(obj: Any) -> Any:
    from .encoders import jsonable_encoder

    return jsonable_encoder(obj)


def _response_adapter(endpoint: Callable[..., Any], response_model: Any) -> TypeAdapter[Any] | None:
    """The validator of the handler's response model (explicit, or its return annotation)."""
    if response_model is None:
        try:
            response_model = typing.get_type_hints(endpoint).get("return")
        except Exception:
            response_model = getattr(endpoint, "__annotations__", {}).get("return")
    if response_model is None or response_model is type(None) or response_model is Any:
        return None
    if isinstance(response_model, type) and issubclass(response_model, Response):
        return None
    try:
        return TypeAdapter(response_model)
    except Exception:
        return None


class BaseRoute:
    path: str
    name: str


class APIRoute(BaseRoute):
    """An HTTP route: path, methods, the endpoint, and its precomputed ``handle(request)``."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Iterable[str],
        *,
        status_code: int | None = None,
        response_model: Any = None,
        response_class: type[Response] | None = None,
        name: str | None = None,
        dependencies: Iterable[Any] | None = None,
    ) -> None:
        self.path = path
        self.endpoint = endpoint
        self.methods = [m.upper() for m in methods]
        # A GET route answers HEAD too (as in Starlette), unless a route declares HEAD explicitly.
        self.implicit_head = "GET" in self.methods and "HEAD" not in self.methods
        if self.implicit_head:
            self.methods.append("HEAD")
        self.name = name or getattr(endpoint, "__name__", "route")
        self.status_code = status_code or 200
        self.response_class = response_class
        self.regex, self.convertors = compile_path(path)
        self.plan: Plan = build_plan(endpoint, set(self.convertors))
        for dep in reversed(list(dependencies or ())):
            self.plan.deps.insert(0, (None, Dependant(dep.dependency, dep.use_cache, set(self.convertors))))
        self.response_adapter = _response_adapter(endpoint, response_model)
        self.serialize = self._build_serializer()
        self.handle = self._build_handle()
        self.call_inline = self._build_inline()
        #: for a handler without parameters: the server's fast path calls this with no Request at all
        self.call_fast = self._build_fast() if self.call_inline is not None and self.plan.empty else None

    def _build_handle(self) -> Callable[[Any], Any]:
        endpoint = self.endpoint
        plan = self.plan
        is_async = inspect.iscoroutinefunction(endpoint) or inspect.iscoroutinefunction(
            getattr(endpoint, "__call__", None)
        )
        serialize = self.serialize
        if plan.has_deps:
            return self._build_handle_with_deps(is_async, serialize)
        if plan.empty:
            if is_async:
                async def handle(request: Any) -> Any:
                    return serialize(await endpoint())
            else:
                async def handle(request: Any) -> Any:
                    return serialize(await run_in_threadpool(endpoint))
        elif is_async:
            async def handle(request: Any) -> Any:
                return serialize(await endpoint(**solve(plan, request)))
        else:
            async def handle(request: Any) -> Any:
                kwargs = solve(plan, request)
                return serialize(await run_in_threadpool(functools.partial(endpoint, **kwargs)))
        return handle

    def _build_handle_with_deps(self, is_async: bool, serialize: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``handle`` for a route with ``Depends``: teardown of ``yield`` dependencies runs after the response.

        If the handler (or a dependency) raises, the ``yield`` dependencies see the exception at once,
        before it becomes an error response, so they can roll back or raise something else instead.
        """
        endpoint = self.endpoint
        plan = self.plan
        path_params = set(self.convertors)

        async def handle(request: Any) -> Any:
            stack = AsyncExitStack()
            await stack.__aenter__()
            try:
                app = request.app
                ctx = SolveContext(stack, getattr(app, "dependency_overrides", None), path_params)
                kwargs = await solve_async(plan, request, ctx)
                if is_async:
                    result = await endpoint(**kwargs)
                else:
                    result = await run_in_threadpool(functools.partial(endpoint, **kwargs))
                response = serialize(result)
            except BaseException as exc:
                await stack.__aexit__(type(exc), exc, exc.__traceback__)
                raise
            if type(response) is bytes:
                response = encoded_json_response(response)
            earlier = response.background

            async def background() -> None:
                try:
                    if earlier is not None:
                        await earlier()
                finally:
                    await stack.aclose()

            response.background = background
            return response

        return handle

    def _build_inline(self) -> Callable[[Any], Any] | None:
        """For an ``async def`` handler with no await in its code: run it to completion synchronously.

        Such a coroutine cannot suspend, so driving it with one ``send(None)`` gives its result at once and
        saves the Task and the event-loop round trip. The server runs it in a copy of the context, as a
        Task would; only ``asyncio.current_task()`` differs (None inside such a handler).
        """
        endpoint = self.endpoint
        if self.plan.has_deps or not (inspect.iscoroutinefunction(endpoint) and never_suspends(endpoint)):
            return None
        plan = self.plan
        serialize = self.serialize
        empty = plan.empty

        def call_inline(request: Any) -> Any:
            coro = endpoint() if empty else endpoint(**solve(plan, request))
            try:
                coro.send(None)
            except StopIteration as stop:
                return serialize(stop.value)
            coro.close()
            raise RuntimeError(f"{endpoint.__qualname__} suspended although its code has no await")

        return call_inline

    def _build_fast(self) -> Callable[[], Any]:
        """``call_inline`` for a parameterless handler, with a dict result encoded right here.

        It repeats ``call_inline``'s few lines on purpose: this is the server's fast path, where one more
        Python call per request is measurable.
        """
        endpoint = self.endpoint
        serialize = self.serialize
        plain = self.response_adapter is None and self.response_class is None and self.status_code == 200
        dumps = orjson.dumps

        def call_fast() -> Any:
            coro = endpoint()
            try:
                coro.send(None)
            except StopIteration as stop:
                result = stop.value
                if plain and type(result) is dict:
                    return dumps(result, default=_json_default)
                return serialize(result)
            coro.close()
            raise RuntimeError(f"{endpoint.__qualname__} suspended although its code has no await")

        return call_fast

    def _build_serializer(self) -> Callable[[Any], Any]:
        """Result -> Response, or bytes of JSON sent with ``status_code`` (the fast path)."""
        adapter = self.response_adapter
        response_class = self.response_class
        status_code = self.status_code
        dumps = orjson.dumps

        def finish(body: bytes) -> Any:
            if response_class is None and status_code == 200:
                return body
            return encoded_json_response(body, status_code, cls=response_class)

        if adapter is None:
            if response_class is None and status_code == 200:
                def serialize(result: Any) -> Any:
                    if type(result) is dict:
                        return dumps(result, default=_json_default)
                    if isinstance(result, Response):
                        result.from_handler = True
                        return result
                    if isinstance(result, BaseModel):
                        return result.__pydantic_serializer__.to_json(result)
                    return dumps(result, default=_json_default)
            else:
                def serialize(result: Any) -> Any:
                    if isinstance(result, Response):
                        result.from_handler = True
                        return result
                    if response_class is not None and not _is_json_class(response_class):
                        return response_class(result, status_code=status_code)
                    if isinstance(result, BaseModel):
                        return finish(result.__pydantic_serializer__.to_json(result))
                    return finish(dumps(result, default=_json_default))
            return serialize

        validate = adapter.validate_python
        dump_json = adapter.dump_json

        def serialize(result: Any) -> Any:
            if isinstance(result, Response):
                result.from_handler = True
                return result
            try:
                value = validate(result, from_attributes=True)
            except Exception as exc:
                errors = exc.errors(include_url=False) if hasattr(exc, "errors") else [{"msg": str(exc)}]
                raise ResponseValidationError(
                    [{**e, "loc": ["response", *e.get("loc", ())]} for e in errors]
                ) from None
            if response_class is not None and not _is_json_class(response_class):
                return response_class(value, status_code=status_code)
            return finish(dump_json(value))

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


def _is_json_class(cls: type) -> bool:
    from .responses import JSONResponse

    return issubclass(cls, JSONResponse)


class WebSocketRoute(BaseRoute):
    """A WebSocket route: the handler and its parameter plan (the WebSocket and path/query params)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], name: str | None = None,
                 dependencies: Iterable[Any] | None = None) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"WebSocket handler {endpoint!r} must be an async function")
        self.path = path
        self.endpoint = endpoint
        self.name = name or getattr(endpoint, "__name__", "websocket")
        self.regex, self.convertors = compile_path(path)
        self.plan = build_plan(endpoint, set(self.convertors), websocket=True)
        for dep in reversed(list(dependencies or ())):
            self.plan.deps.insert(0, (None, Dependant(dep.dependency, dep.use_cache, set(self.convertors))))

    matches = APIRoute.matches

    def __repr__(self) -> str:
        return f"WebSocketRoute(path={self.path!r}, name={self.name!r})"


F = TypeVar("F", bound=Callable[..., Any])


class RouteDecorators:
    """``@get``, ``@post``... and ``@websocket`` for anything with ``add_api_route`` / ``add_api_websocket_route``
    (the app and ``APIRouter``)."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **options: Any) -> Any:
        raise NotImplementedError

    def add_api_websocket_route(self, path: str, endpoint: Callable[..., Any], name: str | None = None,
                                dependencies: Sequence[Any] | None = None) -> Any:
        raise NotImplementedError

    def api_route(self, path: str, *, methods: Sequence[str] | None = None, **options: Any) -> Callable[[F], F]:
        def decorator(func: F) -> F:
            self.add_api_route(path, func, methods=methods, **options)
            return func

        return decorator

    def get(self, path: str, **options: Any) -> Callable[[F], F]:
        """Register a GET route (HEAD is answered too)."""
        return self.api_route(path, methods=["GET"], **options)

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

    def websocket(self, path: str, name: str | None = None, *, dependencies: Sequence[Any] | None = None) -> Callable[[F], F]:
        """Register a WebSocket handler at ``path``; it gets the WebSocket as its first argument."""

        def decorator(func: F) -> F:
            self.add_api_websocket_route(path, func, name=name, dependencies=dependencies)
            return func

        return decorator

    websocket_route = websocket



class APIRouter(RouteDecorators):
    """A group of routes with a common ``prefix``, ``tags`` and ``dependencies``, added to an app (or another
    router) with ``include_router``. Routes are recorded here and built when included, so the prefixes and
    dependencies of every level combine."""

    def __init__(
        self,
        *,
        prefix: str = "",
        tags: Sequence[str] | None = None,
        dependencies: Sequence[Any] | None = None,
        responses: dict[Any, Any] | None = None,
        **options: Any,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError("a router prefix must start with '/' and not end with '/'")
        self.prefix = prefix
        self.tags = list(tags or ())
        self.dependencies = list(dependencies or ())
        self.responses = dict(responses or {})
        self.specs: list[tuple[str, str, Callable[..., Any], dict[str, Any]]] = []

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        self.specs.append(("http", path, endpoint, options))

    def add_api_websocket_route(self, path: str, endpoint: Callable[..., Any], name: str | None = None,
                                dependencies: Sequence[Any] | None = None) -> None:
        self.specs.append(("websocket", path, endpoint, {"name": name, "dependencies": list(dependencies or ())}))

    def include_router(self, router: "APIRouter", *, prefix: str = "", tags: Sequence[str] | None = None,
                       dependencies: Sequence[Any] | None = None) -> None:
        """Nest ``router`` in this one: its routes get ``prefix`` and its dependencies after ``dependencies``."""
        for kind, path, endpoint, options in router.route_specs(prefix, tags, dependencies):
            self.specs.append((kind, path, endpoint, options))

    def route_specs(self, prefix: str = "", tags: Sequence[str] | None = None,
                    dependencies: Sequence[Any] | None = None) -> list[tuple[str, str, Callable[..., Any], dict[str, Any]]]:
        """This router's routes as (kind, full path, endpoint, options) under an including ``prefix``."""
        out = []
        for kind, path, endpoint, options in self.specs:
            opts = dict(options)
            opts["dependencies"] = [*(dependencies or ()), *self.dependencies, *(options.get("dependencies") or ())]
            if kind == "http":
                opts["tags"] = [*(tags or ()), *self.tags, *(options.get("tags") or ())]
            out.append((kind, prefix + self.prefix + path, endpoint, opts))
        return out


class Router:
    """Finds the route for a method and path: one dict lookup for static paths, regexes otherwise."""

    def __init__(self) -> None:
        self.routes: list[BaseRoute] = []
        self.static: dict[str, dict[str, APIRoute]] = {}
        self._dynamic: list[APIRoute] = []
        #: raw target bytes -> method bytes -> route, for routes the server answers without a Request
        self.fast: dict[bytes, dict[bytes, APIRoute]] = {}
        self._ws_static: dict[str, WebSocketRoute] = {}
        self._ws_dynamic: list[WebSocketRoute] = []

    def add_route(self, route: BaseRoute) -> None:
        self.routes.append(route)
        if isinstance(route, WebSocketRoute):
            if route.regex is None:
                self._ws_static.setdefault(route.path, route)
            else:
                self._ws_dynamic.append(route)
            return
        assert isinstance(route, APIRoute)
        if route.regex is None:
            by_method = self.static.setdefault(route.path, {})
            for m in route.methods:
                current = by_method.get(m)
                if current is None or (m == "HEAD" and current.implicit_head and not route.implicit_head):
                    by_method[m] = route
            self._index_fast(route.path)
        else:
            self._dynamic.append(route)

    def _index_fast(self, path: str) -> None:
        """(Re)build the raw-bytes index of ``path`` from the static table: only fast-path routes."""
        if not path.isascii() or "%" in path or "?" in path:
            return
        raw = path.encode("ascii")
        entries = {m.encode(): r for m, r in self.static[path].items() if r.call_fast is not None}
        if entries:
            self.fast[raw] = entries
        else:
            self.fast.pop(raw, None)

    def match(self, method: str, path: str) -> tuple[APIRoute | None, dict[str, Any] | None, list[str] | None]:
        """(route, path_params, None) on a match; (None, None, allowed) for 405; (None, None, None) for 404."""
        by_method = self.static.get(path)
        if by_method is not None:
            route = by_method.get(method)
            if route is not None:
                return route, {}, None
            allowed: list[str] = list(by_method)
        else:
            allowed = []
        fallback: tuple[APIRoute, dict[str, Any]] | None = None
        for route in self._dynamic:
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
        return None, None, (allowed or None)

    def match_websocket(self, path: str) -> tuple[WebSocketRoute | None, dict[str, Any]]:
        route = self._ws_static.get(path)
        if route is not None:
            return route, {}
        for route in self._ws_dynamic:
            params = route.matches(path)
            if params is not None:
                return route, params
        return None, {}

    def url_path_for(self, name: str, **params: Any) -> str:
        for route in self.routes:
            if route.name == name:
                path = route.path
                for m in _PARAM_RE.finditer(route.path):
                    if m.group(1) not in params:
                        break
                    path = path.replace(m.group(0), str(params[m.group(1)]))
                else:
                    return path
        raise LookupError(f"No route exactly matches {name!r} with parameters {sorted(params)}")


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
