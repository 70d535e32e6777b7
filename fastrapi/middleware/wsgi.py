"""``WSGIMiddleware``: serve a WSGI app (Flask, Django...) from an ASGI/FastrAPI app, ``app.mount("/v1",
WSGIMiddleware(flask_app))`` (FastAPI's ``fastapi.middleware.wsgi``, from Starlette). The request body is read
whole, the WSGI app runs in the thread pool, and its response is sent as it produced it."""
from __future__ import annotations

import io
import sys
from typing import Any, Callable

from ..concurrency import run_in_threadpool


def build_environ(scope: Any, body: bytes) -> dict[str, Any]:
    """The PEP 3333 environ of an ASGI ``http`` scope."""
    script_name = scope.get("root_path", "").encode("utf8").decode("latin1")
    path_info = scope["path"].encode("utf8").decode("latin1")
    if path_info.startswith(script_name):
        path_info = path_info[len(script_name):]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope.get("query_string", b"").decode("ascii"),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stdout,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    server = scope.get("server") or ("localhost", 80)
    environ["SERVER_NAME"], environ["SERVER_PORT"] = server[0], str(server[1])
    if scope.get("client"):
        environ["REMOTE_ADDR"] = scope["client"][0]
    for name, value in scope.get("headers", ()):
        key = name.decode("latin1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = f"HTTP_{key}"
        text = value.decode("latin1")
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    return environ


class WSGIMiddleware:
    """An ASGI app running the WSGI ``app`` for each HTTP request."""

    def __init__(self, app: Callable[..., Any], workers: int = 10) -> None:
        self.app = app
        self.workers = workers  # (Starlette's argument; the shared thread pool runs the calls)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http", "WSGIMiddleware serves HTTP only"
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        status, headers, chunks = await run_in_threadpool(self._run, build_environ(scope, body))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"".join(chunks)})

    def _run(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], list[bytes]]:
        started: list[Any] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, response_headers]
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        result = self.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        raw = [(k.strip().lower().encode("latin1"), v.strip().encode("latin1")) for k, v in headers]
        return int(status.split(" ", 1)[0]), raw, chunks
