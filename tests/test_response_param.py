"""A `response: Response` parameter sets status, headers and cookies of the response built from the return value."""
import httpx
import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402


def make_app(fw, Response, JSONResponse):
    app = fw.FastAPI()

    @app.post("/login")
    def login(response: Response, user: str = "bob"):
        response.set_cookie("session", f"s-{user}", httponly=True)
        response.headers["x-user"] = user
        response.status_code = 201
        return {"user": user}

    @app.get("/direct")
    async def direct(response: Response):
        response.headers["x-ignored"] = "1"
        return JSONResponse({"direct": True}, status_code=202)

    @app.get("/plain")
    async def plain(response: Response):
        return {"status": "default"}

    return app


CASES = [("POST", "/login?user=amy"), ("GET", "/direct"), ("GET", "/plain")]


def summary(r):
    return r.status_code, r.json(), r.headers.get("x-user"), r.headers.get("x-ignored"), r.headers.get("set-cookie")


def test_same_as_fastapi(serve):
    import fastapi.responses
    import fastrapi
    import fastrapi.responses

    with TestClient(make_app(fastapi, fastapi.Response, fastapi.responses.JSONResponse)) as fa:
        expected = [summary(fa.request(m, u)) for m, u in CASES]
    srv = serve(make_app(fastrapi, fastrapi.Response, fastrapi.responses.JSONResponse))
    actual = [summary(httpx.request(m, srv.url + u)) for m, u in CASES]
    assert actual == expected
    assert actual[0][0] == 201 and "session=s-amy" in actual[0][4]
