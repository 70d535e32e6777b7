"""FastAPI + uvicorn[standard] with `def` handlers and dependencies (def_routes.py): the `fastapi-def`
server. FastAPI runs each sync handler and dependency in its thread pool (anyio). HTTP only;
BENCH_MIDDLEWARE as in fastapi_app.py."""
import os

import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Query

from common import port_from_argv
from def_routes import add_def_routes

app = FastAPI()
add_def_routes(app, Depends, Header, HTTPException, Query)

if os.environ.get("BENCH_MIDDLEWARE"):
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.middleware.gzip import GZipMiddleware

    app.add_middleware(GZipMiddleware)
    app.add_middleware(CORSMiddleware, allow_origins=["*"])


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=port_from_argv(), log_level="warning", access_log=False)
