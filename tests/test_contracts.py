"""The server's written contracts (fastrapi/server/contracts.py) are what the application and router provide."""
from __future__ import annotations

import inspect

from fastrapi import FastAPI, FastrAPI
from fastrapi.server.contracts import AppContract, RouteContract, RouterContract


def _app() -> FastrAPI:
    app = FastrAPI()

    @app.get("/")
    async def root():
        return {}

    @app.get("/items/{i}")
    async def item(i: int):
        return {"i": i}

    return app


def test_app_and_router_satisfy_the_contracts():
    for app in (_app(), FastAPI()):
        assert isinstance(app, AppContract)
        assert isinstance(app.router, RouterContract)


def test_routes_satisfy_the_route_contract():
    app = _app()
    route, params, _ = app.router.match("GET", "/items/3")
    assert params == {"i": "3"} or params == {"i": 3}
    assert isinstance(route, RouteContract)
    assert route.call_fast is None  # it takes a parameter
    fast_route = app.router.fast[b"/"][b"GET"]
    assert isinstance(fast_route, RouteContract) and fast_route.call_fast is not None


def test_contract_methods_match_the_implementation_signatures():
    """Each method the contract names exists on FastrAPI with the parameters the server passes."""
    for name in ("handle_exception", "error_response", "run_websocket", "lifespan_context"):
        contract = inspect.signature(getattr(AppContract, name))
        impl = inspect.signature(getattr(FastrAPI, name))
        assert list(contract.parameters)[: len(contract.parameters)] == list(impl.parameters)[: len(contract.parameters)], name


def test_the_server_does_not_import_the_layers_above():
    import ast
    from pathlib import Path

    server_dir = Path(__import__("fastrapi.server", fromlist=["x"]).__file__).parent
    for path in server_dir.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module in ("applications", "routing"):
                raise AssertionError(f"{path.name} imports fastrapi.{node.module}")
