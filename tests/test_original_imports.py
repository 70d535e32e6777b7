"""The original FastrAPI's import paths work unchanged: ``from fastrapi import StaticFiles`` (directory positional),
the security classes at top level, ``fastrapi.request``, ``fastrapi.exceptions.FastrAPIError`` /
``FastrAPIDeprecationWarning``, ``fastrapi.params.Unset`` / ``Undefined``; each used in an app on a real server."""
import warnings
from typing import Annotated

import httpx
import pytest

from fastrapi import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    Depends,
    FastrAPI,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    OAuth2PasswordBearer,
    Query,
    StaticFiles,
    WebSocket,
)
from fastrapi.exceptions import FastAPIError, FastrAPIDeprecationWarning, FastrAPIError
from fastrapi.params import Undefined, Unset
from fastrapi.request import HTTPConnection, Request


def test_static_files_from_the_top_level_with_a_positional_directory(serve, tmp_path):
    (tmp_path / "index.html").write_text("<h1>home</h1>")
    (tmp_path / "app.js").write_text("console.log(1)")
    app = FastrAPI()
    app.mount("/static", StaticFiles(str(tmp_path), html=True), name="static")  # the original's examples/
    app.mount("/kw", StaticFiles(directory=tmp_path), name="kw")
    srv = serve(app)
    r = httpx.get(srv.url + "/static/")
    assert r.status_code == 200 and r.text == "<h1>home</h1>"
    assert httpx.get(srv.url + "/static/app.js").text == "console.log(1)"
    assert httpx.get(srv.url + "/kw/app.js").status_code == 200
    with pytest.raises(RuntimeError, match="does not exist"):
        StaticFiles(str(tmp_path / "missing"))


def test_security_classes_at_top_level(serve):
    import fastrapi.security as security

    for cls in (OAuth2PasswordBearer, HTTPBearer, HTTPBasic, APIKeyHeader, APIKeyQuery, APIKeyCookie,
                HTTPBasicCredentials, HTTPAuthorizationCredentials):
        assert getattr(security, cls.__name__) is cls
    app = FastrAPI()
    oauth2 = OAuth2PasswordBearer(tokenUrl="token")
    bearer = HTTPBearer()
    basic = HTTPBasic()
    key_header = APIKeyHeader(name="x-key")
    key_query = APIKeyQuery(name="key")
    key_cookie = APIKeyCookie(name="key")

    @app.get("/oauth2")
    def o(token: str = Depends(oauth2)):
        return {"token": token}

    @app.get("/bearer")
    def b(creds: HTTPAuthorizationCredentials = Depends(bearer)):
        return {"scheme": creds.scheme, "credentials": creds.credentials}

    @app.get("/basic")
    def ba(creds: HTTPBasicCredentials = Depends(basic)):
        return {"user": creds.username, "password": creds.password}

    @app.get("/keys")
    def k(h: str = Depends(key_header), q: str = Depends(key_query), c: str = Depends(key_cookie)):
        return [h, q, c]

    srv = serve(app)
    url = srv.url
    assert httpx.get(url + "/oauth2", headers={"Authorization": "Bearer t1"}).json() == {"token": "t1"}
    assert httpx.get(url + "/oauth2").status_code == 401
    assert httpx.get(url + "/bearer", headers={"Authorization": "Bearer t2"}).json() == \
        {"scheme": "Bearer", "credentials": "t2"}
    assert httpx.get(url + "/basic", auth=("ann", "pw")).json() == {"user": "ann", "password": "pw"}
    r = httpx.get(url + "/keys?key=q", headers={"x-key": "h", "cookie": "key=c"})
    assert r.json() == ["h", "q", "c"]
    assert httpx.get(url + "/keys?key=q").status_code == 401


def test_request_module_and_http_connection(serve):
    import fastrapi
    import fastrapi.requests

    assert Request is fastrapi.Request is fastrapi.requests.Request
    assert issubclass(Request, HTTPConnection) and issubclass(WebSocket, HTTPConnection)
    app = FastrAPI()

    def client_host(conn: HTTPConnection) -> str:  # a dependency for HTTP and WebSocket routes alike
        return f"{type(conn).__name__}:{conn.url.path}"

    @app.get("/who")
    def who(host: Annotated[str, Depends(client_host)], request: Request):
        return {"dep": host, "same": isinstance(request, HTTPConnection)}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, host: Annotated[str, Depends(client_host)]):
        await websocket.accept()
        await websocket.send_text(host)
        await websocket.close()

    srv = serve(app)
    assert httpx.get(srv.url + "/who").json() == {"dep": "Request:/who", "same": True}
    from websockets.sync.client import connect

    with connect(srv.ws_url + "/ws", open_timeout=5) as conn:
        assert conn.recv(timeout=5) == "WebSocket:/ws"


def test_exceptions_of_the_original():
    assert FastrAPIError is FastAPIError and issubclass(FastrAPIError, RuntimeError)
    assert issubclass(FastrAPIDeprecationWarning, UserWarning)
    app = FastrAPI()
    from fastrapi import APIRouter

    router = APIRouter()
    router.get("")(lambda: None)
    with pytest.raises(FastrAPIError, match="Prefix and path cannot be both empty"):
        app.include_router(router)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("old", FastrAPIDeprecationWarning)
    assert caught[0].category is FastrAPIDeprecationWarning


def test_params_unset_and_undefined(serve):
    from pydantic_core import PydanticUndefined

    assert Undefined is PydanticUndefined
    app = FastrAPI()

    @app.get("/required")
    def required(q: int = Query(Undefined)):  # no default: required, as Query(...)
        return {"q": q}

    @app.get("/unset")
    def unset(q: int = Query(3, title=Unset)):  # an option left "not given"
        return {"q": q}

    srv = serve(app)
    assert httpx.get(srv.url + "/required").status_code == 422
    assert httpx.get(srv.url + "/required?q=2").json() == {"q": 2}
    assert httpx.get(srv.url + "/unset").json() == {"q": 3}
    params = {p["name"]: p for p in app.openapi()["paths"]["/unset"]["get"]["parameters"]}
    assert params["q"]["schema"] == {"type": "integer", "default": 3, "title": "Q"}
