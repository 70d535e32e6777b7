"""FastrAPI (this repository) with `def` handlers and dependencies (def_routes.py): the `ours-def` server
(sync functions run in the thread pool, the default) and, with BENCH_INLINE=1, the `ours-inline` server
(`FastrAPI(sync_to_threadpool=False)`: sync functions called on the event loop, as the original FastrAPI
does). HTTP only; BENCH_MIDDLEWARE as in ours_app.py."""
import os

from fastrapi import Depends, FastrAPI, Header, HTTPException, Query

from common import port_from_argv
from def_routes import add_def_routes

app = FastrAPI(sync_to_threadpool=os.environ.get("BENCH_INLINE", "0") != "1")
add_def_routes(app, Depends, Header, HTTPException, Query)

if os.environ.get("BENCH_MIDDLEWARE"):
    from fastrapi.middleware.cors import CORSMiddleware
    from fastrapi.middleware.gzip import GZipMiddleware

    app.add_middleware(GZipMiddleware)
    app.add_middleware(CORSMiddleware, allow_origins=["*"])


if __name__ == "__main__":
    app.serve(host="127.0.0.1", port=port_from_argv())
