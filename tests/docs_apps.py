"""Run an app from FastAPI's documentation as it is, and ported to FastrAPI (its ``fastapi`` imports switched to
``fastrapi``, nothing else changed), for the parity tests."""
from typing import Any


def docs_app(source: str, fw: str) -> dict[str, Any]:
    """Execute ``source`` (written for ``fastapi``) for ``fw`` ("fastapi" or "fastrapi"); its namespace."""
    if fw == "fastrapi":
        source = source.replace("from fastapi", "from fastrapi").replace("import fastapi", "import fastrapi")
    namespace: dict[str, Any] = {"__name__": f"docs_{fw}"}
    exec(compile(source, f"<docs example, {fw}>", "exec"), namespace)
    return namespace


def both(source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The namespaces of ``source`` run on FastAPI and on FastrAPI."""
    return docs_app(source, "fastapi"), docs_app(source, "fastrapi")
