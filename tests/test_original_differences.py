"""Where the original FastrAPI and FastAPI disagree, FastrAPI answers as FastAPI does: each row of
docs/migrating-from-fastrapi.md, FastrAPI's side and the one-line change the page gives for the original's
behaviour, against a running server."""
import httpx
import pytest
from pydantic import BaseModel

from fastrapi import BackgroundTasks, FastrAPI, Request, RequestValidationError
from fastrapi.responses import JSONResponse, PlainTextResponse, Response


class User(BaseModel):
    name: str
    age: int


def test_none_is_200_null_and_status_code_204_gives_the_empty_answer(serve):
    app = FastrAPI()
    app.get("/none")(lambda: None)
    app.get("/none-204", status_code=204)(lambda: None)
    srv = serve(app)
    r = httpx.get(srv.url + "/none")
    assert (r.status_code, r.headers["content-type"], r.content) == (200, "application/json", b"null")
    r = httpx.get(srv.url + "/none-204")
    assert (r.status_code, r.content) == (204, b"")


def test_str_annotation_is_json_and_plaintext_response_class_gives_text(serve):
    app = FastrAPI()

    @app.get("/str")
    def as_json() -> str:
        return "hi"

    @app.get("/text", response_class=PlainTextResponse)
    def as_text() -> str:
        return "hi"

    srv = serve(app)
    r = httpx.get(srv.url + "/str")
    assert (r.headers["content-type"], r.content) == ("application/json", b'"hi"')
    r = httpx.get(srv.url + "/text")
    assert (r.headers["content-type"], r.content) == ("text/plain; charset=utf-8", b"hi")


def test_not_found_and_method_not_allowed_and_the_empty_404_fallback(serve):
    app = FastrAPI()
    app.get("/only-get")(lambda: 1)
    srv = serve(app)
    r = httpx.get(srv.url + "/nothing")
    assert (r.status_code, r.json()) == (404, {"detail": "Not Found"})
    r = httpx.post(srv.url + "/only-get")
    assert (r.status_code, r.headers["allow"], r.json()) == (405, "GET, HEAD", {"detail": "Method Not Allowed"})
    quiet = FastrAPI()
    quiet.get("/only-get")(lambda: 1)
    quiet.fallback(lambda: Response(status_code=404))
    srv = serve(quiet)
    r = httpx.get(srv.url + "/nothing")
    assert (r.status_code, r.content) == (404, b"")


def test_422_body_is_a_list_and_a_handler_gives_a_string_back(serve):
    app = FastrAPI()
    @app.get("/n")
    def n(n: int):
        return {"n": n}

    @app.post("/users")
    def users(user: User):
        return user

    srv = serve(app)
    detail = httpx.get(srv.url + "/n?n=x").json()["detail"]
    assert isinstance(detail, list) and detail[0]["loc"] == ["query", "n"] and detail[0]["type"] == "int_parsing"
    locs = [e["loc"] for e in httpx.post(srv.url + "/users", json={"name": 1}).json()["detail"]]
    assert locs == [["body", "name"], ["body", "age"]]

    @app.exception_handler(RequestValidationError)
    async def as_string(request, exc):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    body = httpx.get(srv.url + "/n?n=x").json()
    assert isinstance(body["detail"], str) and "validation error" in body["detail"]


def test_trailing_slash_redirects_and_a_second_decorator_serves_both(serve):
    app = FastrAPI()
    app.get("/items")(lambda: {"items": []})

    @app.get("/both")
    @app.get("/both/", include_in_schema=False)
    def both():
        return {"both": True}

    srv = serve(app)
    r = httpx.get(srv.url + "/items/")
    assert r.status_code == 307 and r.headers["location"] == srv.url + "/items"
    assert httpx.get(srv.url + "/items/", follow_redirects=True).json() == {"items": []}
    assert httpx.get(srv.url + "/both").json() == httpx.get(srv.url + "/both/").json() == {"both": True}
    assert list(app.openapi()["paths"]) == ["/items", "/both"]


def test_bare_request_parameter_is_a_query_parameter(serve):
    app = FastrAPI()
    app.get("/bare")(lambda request: {"got": request})

    @app.get("/annotated")
    def annotated(request: Request):
        return {"path": request.url.path}

    srv = serve(app)
    assert httpx.get(srv.url + "/bare").status_code == 422
    assert httpx.get(srv.url + "/annotated").json() == {"path": "/annotated"}


def test_add_task_takes_the_arguments_spread(serve):
    app = FastrAPI()
    calls = []

    def task(*args):
        calls.append(args)

    @app.get("/list")
    def as_list(background_tasks: BackgroundTasks):
        background_tasks.add_task(task, [1, 2])  # the original's spelling: one argument here, the list
        return {}

    @app.get("/spread")
    def spread(background_tasks: BackgroundTasks):
        background_tasks.add_task(task, *[1, 2])  # the one-line change
        return {}

    srv = serve(app)
    httpx.get(srv.url + "/list")
    httpx.get(srv.url + "/spread")
    import time

    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls == [([1, 2],), (1, 2)]


def test_openapi_is_3_1_at_both_urls_and_the_version_string_can_change(serve):
    app = FastrAPI()
    app.get("/x")(lambda: 1)
    srv = serve(app)
    assert httpx.get(srv.url + "/openapi.json").json()["openapi"] == "3.1.0"
    assert httpx.get(srv.url + "/api-docs/openapi.json").json()["openapi"] == "3.1.0"
    old = FastrAPI()
    old.openapi_version = "3.0.3"
    old.get("/x")(lambda: 1)
    assert old.openapi()["openapi"] == "3.0.3"


def test_routes_added_after_the_server_started_are_served(serve):
    app = FastrAPI()

    @app.get("/add")
    def add():
        app.get("/late")(lambda: {"late": True})
        return {"added": True}

    srv = serve(app)
    assert httpx.get(srv.url + "/late").status_code == 404
    assert httpx.get(srv.url + "/add").json() == {"added": True}
    assert httpx.get(srv.url + "/late").json() == {"late": True}


def test_middleware_dict_joins_repeated_headers(serve):
    app = FastrAPI()
    seen = []

    @app.middleware("http")
    def record(request):
        seen.append(request["headers"]["x-v"])

    app.get("/")(lambda: 1)
    srv = serve(app)
    httpx.get(srv.url + "/", headers=[("x-v", "a"), ("x-v", "b")])
    assert seen == ["a, b"] and seen[0].rsplit(", ", 1)[-1] == "b"
