"""Security schemes, Security()/SecurityScopes: the same apps on our server and through FastAPI's TestClient
must answer alike (status, body, WWW-Authenticate), for missing, malformed and good credentials."""
import base64
import itertools
from typing import Annotated, Optional

import httpx
import pytest

import fastrapi
import fastrapi.security

fastapi = pytest.importorskip("fastapi")
import fastapi.security  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402


def b64(text: str) -> str:
    return base64.b64encode(text.encode("latin-1")).decode()


def summary(r):
    return r.status_code, r.json(), r.headers.get("www-authenticate")


def compare(make, cases, serve, setup=None):
    """Run ``cases`` ((method, url, headers, form)) against ``make(fw)`` on both frameworks; return ours."""
    fa_app = make(fastapi)
    if setup:
        setup(fa_app, fastapi)
    with TestClient(fa_app) as fa:
        expected = [summary(fa.request(m, u, headers=h, data=d)) for m, u, h, d in cases]
    app = make(fastrapi)
    if setup:
        setup(app, fastrapi)
    srv = serve(app)
    with httpx.Client(base_url=srv.url) as client:
        actual = [summary(client.request(m, u, headers=h, data=d)) for m, u, h, d in cases]
    for case, got, want in zip(cases, actual, expected):
        assert got == want, case
    return actual


# -- every scheme: missing, malformed, good credentials, auto_error=False ---------------------------------------

def make_schemes_app(fw):
    sec = fw.security
    app = fw.FastAPI()
    schemes = {
        "key-header": sec.APIKeyHeader(name="x-key"),
        "key-query": sec.APIKeyQuery(name="api_key"),
        "key-cookie": sec.APIKeyCookie(name="session"),
        "basic": sec.HTTPBasic(),
        "basic-realm": sec.HTTPBasic(realm="simple"),
        "bearer": sec.HTTPBearer(),
        "digest": sec.HTTPDigest(),
        "httpbase": sec.http.HTTPBase(scheme="custom"),
        "oauth2": sec.OAuth2(),
        "oauth2-password": sec.OAuth2PasswordBearer(tokenUrl="token"),
        "oauth2-code": sec.OAuth2AuthorizationCodeBearer(authorizationUrl="auth", tokenUrl="token"),
        "oidc": sec.OpenIdConnect(openIdConnectUrl="/.well-known/openid-configuration"),
    }
    optional = {
        "key-header": sec.APIKeyHeader(name="x-key", auto_error=False),
        "key-query": sec.APIKeyQuery(name="api_key", auto_error=False),
        "key-cookie": sec.APIKeyCookie(name="session", auto_error=False),
        "basic": sec.HTTPBasic(auto_error=False),
        "bearer": sec.HTTPBearer(auto_error=False),
        "digest": sec.HTTPDigest(auto_error=False),
        "oauth2": sec.OAuth2(auto_error=False),
        "oauth2-password": sec.OAuth2PasswordBearer(tokenUrl="token", auto_error=False),
        "oauth2-code": sec.OAuth2AuthorizationCodeBearer(authorizationUrl="a", tokenUrl="t", auto_error=False),
        "oidc": sec.OpenIdConnect(openIdConnectUrl="/oidc", auto_error=False),
    }

    def add(path, scheme):
        async def endpoint(value=fw.Depends(scheme)):
            return {"value": value.model_dump() if hasattr(value, "model_dump") else value}

        app.get(path)(endpoint)

    for name, scheme in schemes.items():
        add(f"/{name}", scheme)
    for name, scheme in optional.items():
        add(f"/opt/{name}", scheme)
    return app


AUTH_VALUES = [
    None, "", "Basic", "Basic !!!", f"Basic {b64('nocolon')}", f"Basic {b64('alice:s3cr:et')}",
    f"basic {b64('bob:')}", f"Basic {b64('é:x')}", "Bearer", "Bearer tok123", "bearer  tok 456", "Token abc",
    "Digest username=\"a\", realm=\"r\"", "Custom xyz",
]


def auth_cases(path):
    return [("GET", path, {} if v is None else {"authorization": v}, None) for v in AUTH_VALUES]


@pytest.mark.parametrize("name", ["basic", "basic-realm", "bearer", "digest", "httpbase", "oauth2",
                                  "oauth2-password", "oauth2-code", "oidc"])
def test_authorization_header_schemes(serve, name):
    actual = compare(make_schemes_app, auth_cases(f"/{name}"), serve)
    assert actual[0][0] == 401 and actual[0][1] == {"detail": "Not authenticated"}


@pytest.mark.parametrize("name", ["basic", "bearer", "digest", "oauth2", "oauth2-password", "oauth2-code", "oidc"])
def test_authorization_header_schemes_optional(serve, name):
    actual = compare(make_schemes_app, auth_cases(f"/opt/{name}"), serve)
    assert actual[0] == (200, {"value": None}, None)


def test_basic_good_and_bad(serve):
    actual = compare(make_schemes_app, auth_cases("/basic-realm"), serve)
    by_value = dict(zip(AUTH_VALUES, actual))
    assert by_value[None] == (401, {"detail": "Not authenticated"}, 'Basic realm="simple"')
    assert by_value[f"Basic {b64('alice:s3cr:et')}"] == (
        200, {"value": {"username": "alice", "password": "s3cr:et"}}, None)
    assert by_value["Basic !!!"][0] == 401


def test_bearer_good(serve):
    actual = compare(make_schemes_app, auth_cases("/bearer"), serve)
    by_value = dict(zip(AUTH_VALUES, actual))
    assert by_value["Bearer tok123"] == (200, {"value": {"scheme": "Bearer", "credentials": "tok123"}}, None)
    assert by_value["Token abc"] == (401, {"detail": "Not authenticated"}, "Bearer")


API_KEY_CASES = [
    ("GET", "/key-header", {}, None),
    ("GET", "/key-header", {"x-key": ""}, None),
    ("GET", "/key-header", {"x-key": "k1"}, None),
    ("GET", "/key-header", {"X-KEY": "k2"}, None),
    ("GET", "/key-query", {}, None),
    ("GET", "/key-query?api_key=", {}, None),
    ("GET", "/key-query?api_key=q1", {}, None),
    ("GET", "/key-query?other=1", {}, None),
    ("GET", "/key-cookie", {}, None),
    ("GET", "/key-cookie", {"cookie": "other=1"}, None),
    ("GET", "/key-cookie", {"cookie": "session=c1; other=2"}, None),
    ("GET", "/opt/key-header", {}, None),
    ("GET", "/opt/key-header", {"x-key": "k3"}, None),
    ("GET", "/opt/key-query", {}, None),
    ("GET", "/opt/key-query?api_key=q2", {}, None),
    ("GET", "/opt/key-cookie", {}, None),
    ("GET", "/opt/key-cookie", {"cookie": "session=c2"}, None),
]


def test_api_keys(serve):
    actual = compare(make_schemes_app, API_KEY_CASES, serve)
    assert actual[0] == (401, {"detail": "Not authenticated"}, "APIKey")
    assert actual[2] == (200, {"value": "k1"}, None)
    assert actual[6] == (200, {"value": "q1"}, None)
    assert actual[10] == (200, {"value": "c1"}, None)
    assert actual[11] == (200, {"value": None}, None)


def test_scheme_models_match_fastapi():
    def describe(sec):
        schemes = [
            sec.APIKeyHeader(name="x-key", scheme_name="K", description="d"), sec.APIKeyQuery(name="k"),
            sec.APIKeyCookie(name="c"), sec.HTTPBasic(realm="r"), sec.HTTPBearer(bearerFormat="JWT"),
            sec.HTTPDigest(description="dd"), sec.http.HTTPBase(scheme="custom"),
            sec.OAuth2(flows={"password": {"tokenUrl": "t", "scopes": {"a": "A"}}}),
            sec.OAuth2PasswordBearer("token", scopes={"me": "Me"}, refreshUrl="r"),
            sec.OAuth2AuthorizationCodeBearer("auth", "token", scopes={"x": "X"}),
            sec.OpenIdConnect(openIdConnectUrl="/oidc", scheme_name="O"),
        ]
        return [(s.scheme_name, s.auto_error, s.model.model_dump(mode="json", by_alias=True, exclude_none=True))
                for s in schemes]

    assert describe(fastrapi.security) == describe(fastapi.security)
    ss = fastrapi.security.SecurityScopes(["a", "b"])
    assert (ss.scopes, ss.scope_str) == (["a", "b"], "a b")
    assert fastrapi.security.SecurityScopes().scopes == []
    assert fastrapi.SecurityScopes is fastrapi.security.SecurityScopes


# -- SecurityScopes along nested Security dependencies, and the per-request cache ---------------------------------

def make_scopes_app(fw):
    app = fw.FastAPI()
    counter = itertools.count()
    SecurityScopes = fw.security.SecurityScopes

    def leaf(ss: SecurityScopes):
        return ss.scopes

    def mid(ss: SecurityScopes, low=fw.Security(leaf, scopes=["c", "a"])):
        return {"mid": ss.scopes, "leaf": low}

    @app.get("/nested")
    def nested(ss: SecurityScopes, m=fw.Security(mid, scopes=["a", "b"])):
        return {"route": ss.scopes, **m}

    def l3(ss: SecurityScopes):
        return ss.scope_str

    def l2(ss: SecurityScopes, v=fw.Security(l3, scopes=["c", "c"])):
        return {"l2": ss.scopes, "l3": v}

    def l1(ss: SecurityScopes, v=fw.Depends(l2), w=fw.Security(l2, scopes=["a", "b"])):
        return {"l1": ss.scopes, "plain": v, "scoped": w}

    @app.get("/chain")
    async def chain(v=fw.Security(l1, scopes=["a"])):
        return v

    def counted(ss: SecurityScopes):
        return {"scopes": ss.scopes, "n": next(counter)}

    def plain():
        return next(counter)

    def uses_plain(ss: SecurityScopes, p=fw.Depends(plain)):
        return {"scopes": ss.scopes, "plain": p}

    def no_scopes():
        return next(counter)

    @app.get("/cache")
    def cache(a=fw.Security(counted, scopes=["x"]), b=fw.Security(counted, scopes=["y"]),
              c=fw.Security(counted, scopes=["x"]), d=fw.Depends(counted), e=fw.Security(counted, scopes=["x", "x"]),
              f=fw.Security(uses_plain, scopes=["p"]), g=fw.Security(uses_plain, scopes=["q"]),
              h=fw.Security(no_scopes, scopes=["z"]), i=fw.Depends(no_scopes),
              j=fw.Security(counted, scopes=["x"], use_cache=False)):
        return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": g, "h": h, "i": i, "j": j}

    return app


def test_security_scopes(serve):
    cases = [("GET", "/nested", {}, None), ("GET", "/chain", {}, None), ("GET", "/cache", {}, None),
             ("GET", "/cache", {}, None)]
    actual = compare(make_scopes_app, cases, serve)
    assert actual[0][1] == {"route": [], "mid": ["a", "b"], "leaf": ["a", "b", "c"]}
    chain = actual[1][1]
    assert chain["l1"] == ["a"] and chain["plain"] == {"l2": ["a"], "l3": "a c"}
    assert chain["scoped"] == {"l2": ["a", "b"], "l3": "a a b c"}
    body = actual[2][1]
    assert body["a"] == body["c"] == body["e"] and body["a"] != body["b"] and body["a"] != body["d"]
    assert body["f"]["plain"] == body["g"]["plain"] and body["f"]["scopes"] != body["g"]["scopes"]
    assert body["h"] != body["i"] and body["j"]["n"] != body["a"]["n"]


# -- the FastAPI docs' OAuth2 scopes example (tokens are "user:scope,scope" instead of JWTs) ----------------------

USERS = {
    "johndoe": {"username": "johndoe", "password": "secret", "disabled": False},
    "alice": {"username": "alice", "password": "wonderland", "disabled": True},
}


def make_oauth_app(fw, strict=False):
    sec = fw.security
    app = fw.FastAPI()
    oauth2_scheme = sec.OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Read me", "items": "Read items"})
    app.state_scheme = oauth2_scheme
    form_class = sec.OAuth2PasswordRequestFormStrict if strict else sec.OAuth2PasswordRequestForm

    async def get_current_user(security_scopes: sec.SecurityScopes, token: Annotated[str, fw.Depends(oauth2_scheme)]):
        if security_scopes.scopes:
            authenticate_value = f'Bearer scope="{security_scopes.scope_str}"'
        else:
            authenticate_value = "Bearer"
        credentials_exception = fw.HTTPException(status_code=401, detail="Could not validate credentials",
                                                 headers={"WWW-Authenticate": authenticate_value})
        username, _, scopes = token.partition(":")
        user = USERS.get(username)
        if user is None:
            raise credentials_exception
        token_scopes = scopes.split(",") if scopes else []
        for scope in security_scopes.scopes:
            if scope not in token_scopes:
                raise fw.HTTPException(status_code=401, detail="Not enough permissions",
                                       headers={"WWW-Authenticate": authenticate_value})
        return {"username": username, "disabled": user["disabled"], "scopes": token_scopes}

    app.get_current_user = get_current_user

    async def get_current_active_user(current_user: Annotated[dict, fw.Security(get_current_user, scopes=["me"])]):
        if current_user["disabled"]:
            raise fw.HTTPException(status_code=400, detail="Inactive user")
        return current_user

    @app.post("/token")
    async def login(form_data: Annotated[form_class, fw.Depends()]):
        user = USERS.get(form_data.username)
        if not user or user["password"] != form_data.password:
            raise fw.HTTPException(status_code=400, detail="Incorrect username or password")
        return {"access_token": f"{form_data.username}:{','.join(form_data.scopes)}", "token_type": "bearer",
                "grant_type": form_data.grant_type, "client_id": form_data.client_id}

    @app.get("/users/me/")
    async def read_users_me(current_user: Annotated[dict, fw.Depends(get_current_active_user)]):
        return current_user

    @app.get("/users/me/items/")
    async def read_own_items(current_user: Annotated[dict, fw.Security(get_current_active_user, scopes=["items"])]):
        return [{"item_id": "Foo", "owner": current_user["username"]}]

    @app.get("/status/")
    async def read_system_status(current_user: Annotated[dict, fw.Depends(get_current_user)]):
        return {"status": "ok"}

    return app


def bearer(token):
    return {"authorization": f"Bearer {token}"}


OAUTH_CASES = [
    ("POST", "/token", {}, {"username": "johndoe", "password": "secret", "scope": "me items"}),
    ("POST", "/token", {}, {"username": "johndoe", "password": "nope"}),
    ("POST", "/token", {}, {"username": "johndoe"}),
    ("POST", "/token", {}, {"username": "johndoe", "password": "secret", "grant_type": "password",
                            "client_id": "cli"}),
    ("POST", "/token", {}, {"username": "johndoe", "password": "secret", "grant_type": "implicit"}),
    ("GET", "/users/me/", {}, None),
    ("GET", "/users/me/", {"authorization": "Basic abc"}, None),
    ("GET", "/users/me/", bearer("nobody:me"), None),
    ("GET", "/users/me/", bearer("johndoe:"), None),
    ("GET", "/users/me/", bearer("johndoe:me"), None),
    ("GET", "/users/me/items/", bearer("johndoe:me"), None),
    ("GET", "/users/me/items/", bearer("johndoe:items"), None),
    ("GET", "/users/me/items/", bearer("johndoe:me,items"), None),
    ("GET", "/users/me/items/", bearer("alice:me,items"), None),
    ("GET", "/status/", bearer("johndoe:"), None),
    ("GET", "/status/", {}, None),
]


def test_oauth2_scopes_example(serve):
    actual = compare(make_oauth_app, OAUTH_CASES, serve)
    assert actual[0][:2] == (200, {"access_token": "johndoe:me,items", "token_type": "bearer", "grant_type": None,
                                   "client_id": None})
    assert actual[2][0] == 422 and actual[4][0] == 422
    assert actual[5] == (401, {"detail": "Not authenticated"}, "Bearer")
    assert actual[8] == (401, {"detail": "Not enough permissions"}, 'Bearer scope="me"')
    assert actual[10] == (401, {"detail": "Not enough permissions"}, 'Bearer scope="items me"')
    assert actual[12] == (200, [{"item_id": "Foo", "owner": "johndoe"}], None)
    assert actual[13] == (400, {"detail": "Inactive user"}, None)
    assert actual[14] == (200, {"status": "ok"}, None)


def test_password_form_strict(serve):
    cases = [
        ("POST", "/token", {}, {"username": "johndoe", "password": "secret", "scope": "me"}),
        ("POST", "/token", {}, {"username": "johndoe", "password": "secret", "grant_type": "password"}),
        ("POST", "/token", {}, {"username": "johndoe", "password": "secret", "grant_type": "other"}),
    ]
    actual = compare(lambda fw: make_oauth_app(fw, strict=True), cases, serve)
    assert [a[0] for a in actual] == [422, 200, 422]


def test_overrides_on_security(serve):
    def setup(app, fw):
        SecurityScopes = fw.security.SecurityScopes

        def fake_user(security_scopes: SecurityScopes):
            return {"username": "fake", "disabled": False, "scopes": security_scopes.scopes}

        app.dependency_overrides[app.get_current_user] = fake_user

    cases = [("GET", "/users/me/", {}, None), ("GET", "/users/me/items/", {}, None), ("GET", "/status/", {}, None)]
    actual = compare(make_oauth_app, cases, serve, setup)
    assert actual[0] == (200, {"username": "fake", "disabled": False, "scopes": ["me"]}, None)
    assert actual[1] == (200, [{"item_id": "Foo", "owner": "fake"}], None)

    def setup_scheme(app, fw):
        app.dependency_overrides[app.state_scheme] = lambda: "johndoe:me,items"

    cases = [("GET", "/users/me/items/", {}, None), ("GET", "/users/me/", {"authorization": "Bearer x:y"}, None)]
    actual = compare(make_oauth_app, cases, serve, setup_scheme)
    assert actual[0] == (200, [{"item_id": "Foo", "owner": "johndoe"}], None)
    assert actual[1][1]["username"] == "johndoe"


# -- Security in router-level and app-level dependencies ----------------------------------------------------------

def make_levels_app(fw):
    SecurityScopes = fw.security.SecurityScopes
    key_scheme = fw.security.APIKeyHeader(name="x-key")

    def require(request: fw.Request, security_scopes: SecurityScopes, key: str = fw.Depends(key_scheme)):
        seen = getattr(request.state, "seen", [])
        request.state.seen = [*seen, security_scopes.scopes]
        if key != "root" and key not in security_scopes.scopes:
            raise fw.HTTPException(status_code=403, detail=f"key {key} lacks {security_scopes.scope_str}")

    app = fw.FastAPI(dependencies=[fw.Security(require, scopes=["app"])])
    router = fw.APIRouter(prefix="/admin", dependencies=[fw.Security(require, scopes=["admin", "app"])])

    @router.get("/panel")
    async def panel(request: fw.Request):
        return {"seen": request.state.seen}

    @router.get("/route", dependencies=[fw.Security(require, scopes=["route"])])
    async def route_level(request: fw.Request):
        return {"seen": request.state.seen}

    @app.get("/home")
    async def home(request: fw.Request):
        return {"seen": request.state.seen}

    app.include_router(router, dependencies=[fw.Security(require, scopes=["inc", "app"])])
    return app


def test_router_and_app_level(serve):
    cases = [
        ("GET", "/home", {}, None),
        ("GET", "/home", {"x-key": "app"}, None),
        ("GET", "/home", {"x-key": "other"}, None),
        ("GET", "/admin/panel", {"x-key": "app"}, None),
        ("GET", "/admin/route", {"x-key": "app"}, None),
        ("GET", "/admin/route", {"x-key": "root"}, None),
    ]
    actual = compare(make_levels_app, cases, serve)
    assert actual[0] == (401, {"detail": "Not authenticated"}, "APIKey")
    assert actual[1] == (200, {"seen": [["app"]]}, None)
    assert actual[2] == (403, {"detail": "key other lacks app"}, None)
    assert actual[3] == (200, {"seen": [["app"], ["inc", "app"], ["admin", "app"]]}, None)
    assert actual[4] == (403, {"detail": "key app lacks route"}, None)
    assert actual[5] == (200, {"seen": [["app"], ["inc", "app"], ["admin", "app"], ["route"]]}, None)


def test_optional_auth_either_scheme(serve):
    """auto_error=False lets a handler accept one of several credentials."""
    def make(fw):
        app = fw.FastAPI()
        key = fw.security.APIKeyQuery(name="key", auto_error=False)
        token = fw.security.HTTPBearer(auto_error=False)

        @app.get("/who")
        async def who(k: Optional[str] = fw.Security(key), t=fw.Security(token)):
            if k:
                return {"via": "key", "who": k}
            if t:
                return {"via": "bearer", "who": t.credentials}
            raise fw.HTTPException(status_code=401, detail="no credentials", headers={"WWW-Authenticate": "Bearer"})

        return app

    cases = [("GET", "/who", {}, None), ("GET", "/who?key=k1", {}, None), ("GET", "/who", bearer("b1"), None)]
    actual = compare(make, cases, serve)
    assert [a[1].get("via") for a in actual] == [None, "key", "bearer"]
