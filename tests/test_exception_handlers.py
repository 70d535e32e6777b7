"""Custom exception handlers: by class (MRO), by status code, overriding the 422 and HTTPException defaults."""
import httpx
import pytest

from fastrapi import FastrAPI

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402


class TeapotError(Exception):
    pass


class SmallTeapot(TeapotError):
    pass


def make_app(fw, responses):
    async def teapot_handler(request, exc):
        return responses.JSONResponse({"teapot": str(exc), "path": request.url.path}, status_code=418)

    app = fw.FastAPI(exception_handlers={TeapotError: teapot_handler})

    @app.exception_handler(fw.exceptions.RequestValidationError)
    async def validation(request, exc):
        return responses.JSONResponse({"invalid": [e["loc"] for e in exc.errors()]}, status_code=400)

    @app.exception_handler(404)
    def not_found(request, exc):
        return responses.PlainTextResponse(f"nothing at {request.url.path}", status_code=404)

    @app.get("/tea")
    async def tea():
        raise SmallTeapot("short and stout")

    @app.get("/num/{n}")
    async def num(n: int):
        if n == 0:
            raise fw.HTTPException(404, "zero")
        return {"n": n}

    return app


CASES = ["/tea", "/num/x", "/num/0", "/num/3", "/missing/path"]


def test_same_as_fastapi(serve):
    import fastapi.responses
    import fastrapi
    import fastrapi.exceptions
    import fastrapi.responses

    with TestClient(make_app(fastapi, fastapi.responses)) as fa:
        expected = [fa.get(u) for u in CASES]
    srv = serve(make_app(fastrapi, fastrapi.responses))
    actual = [httpx.get(srv.url + u) for u in CASES]
    for u, e, a in zip(CASES, expected, actual):
        assert a.status_code == e.status_code, u
        assert a.text == e.text, u


def test_handler_that_fails_gives_a_500(serve):
    app = FastrAPI()

    @app.exception_handler(ValueError)
    def broken(request, exc):
        raise RuntimeError("handler bug")

    @app.get("/v")
    def v():
        raise ValueError("x")

    srv = serve(app)
    r = httpx.get(srv.url + "/v")
    assert r.status_code == 500
    assert httpx.get(srv.url + "/v").status_code == 500  # and the server keeps serving
