"""Middleware: Starlette's ``Middleware(cls, *args, **kwargs)`` record and the built-in middleware classes.

``app.add_middleware(cls, **options)`` or ``FastrAPI(middleware=[Middleware(cls, **options)])``; the last
added runs first, as in Starlette. The built-in classes (``fastrapi.middleware.cors``, ``gzip``,
``trustedhost``, ``sessions``, ``httpsredirect``) and ``BaseHTTPMiddleware`` subclasses run natively:
``(request) -> Response`` callables chained once, when the server starts. Any other class is taken as ASGI
middleware (Sentry, OpenTelemetry, Prometheus instrumentators...) and runs through an ASGI bridge
(``fastrapi.middleware.asgi``). An app without middleware pays nothing for any of this.
"""
from __future__ import annotations

from typing import Any, Iterator

__all__ = [
    "BaseHTTPMiddleware", "CORSMiddleware", "GZipMiddleware", "HTTPSRedirectMiddleware", "Middleware",
    "SessionMiddleware", "TrustedHostMiddleware", "as_middleware",
]

#: the built-in classes, importable from here as the published FastrAPI documents
#: (``from fastrapi.middleware import CORSMiddleware``); loaded on first use
_LAZY = {
    "BaseHTTPMiddleware": "base", "CORSMiddleware": "cors", "GZipMiddleware": "gzip",
    "HTTPSRedirectMiddleware": "httpsredirect", "SessionMiddleware": "sessions",
    "TrustedHostMiddleware": "trustedhost",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fastrapi.middleware' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


class Middleware:
    """One middleware declaration: the class and the arguments it is built with (``cls(app, *args, **kwargs)``)."""

    __slots__ = ("cls", "args", "kwargs")

    def __init__(self, cls: Any, *args: Any, **kwargs: Any) -> None:
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def __iter__(self) -> Iterator[Any]:
        return iter((self.cls, self.args, self.kwargs))

    def __repr__(self) -> str:
        parts = [getattr(self.cls, "__name__", "")]
        parts += [f"{value!r}" for value in self.args]
        parts += [f"{key}={value!r}" for key, value in self.kwargs.items()]
        return f"{type(self).__name__}({', '.join(parts)})"


def as_middleware(entry: Any) -> Middleware:
    """One entry of ``FastrAPI(middleware=[...])`` as a ``Middleware`` record: a record as it is, a class as
    ``Middleware(cls)``, and a built-in class configured without an app (``GZipMiddleware(minimum_size=500)``)
    as ``Middleware(type(entry), **its options)``."""
    if isinstance(entry, Middleware):
        return entry
    from .base import NativeMiddleware

    if isinstance(entry, NativeMiddleware):
        if getattr(entry, "app", None) is not None:
            raise TypeError(f"{type(entry).__name__} was built around an app; declare it without one "
                            f"({type(entry).__name__}(option=...)) or as Middleware({type(entry).__name__}, ...)")
        args, kwargs = getattr(entry, "_options", ((), {}))
        kwargs = {key: value for key, value in kwargs.items() if key != "app"}
        if args and args[0] is None:
            args = args[1:]
        return Middleware(type(entry), *args, **kwargs)
    if isinstance(entry, type):
        return Middleware(entry)
    if all(hasattr(entry, name) for name in ("cls", "args", "kwargs")):  # starlette.middleware.Middleware
        return Middleware(entry.cls, *entry.args, **entry.kwargs)
    raise TypeError(f"not middleware: {entry!r}. Pass Middleware(cls, **options), a middleware class, or a "
                    "built-in middleware configured without an app, e.g. CORSMiddleware(allow_origins=['*'])")
