"""Route matching cost against the number of routes: ``Router.match`` timed directly (no server).

For N templated routes ``/res{i}/{x}`` (i = 0..N-1) it times a match of the first, the middle and the last
route, and a miss (a path no route takes: 404), in microseconds per call, and the same for WebSocket routes
(``Router.match_websocket``). A second table times a small app (3 routes: one static, two templated).

    PYTHONPATH=. python3 bench/routes.py               # 1, 10, 100, 1000, 10000 routes
    PYTHONPATH=. python3 bench/routes.py --counts 8,16,32 --number 20000
    PYTHONPATH=. python3 bench/routes.py --threshold   # the linear scan against the tree, for few routes

The numbers are the CPU time of best-of-``--repeat`` timeit runs; still, run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import time
import timeit

from fastrapi.routing import APIRoute, Router, WebSocketRoute


def _handler(i: int):  # noqa: ANN202 - a distinct endpoint per route, as an app's loop would register
    async def res(x: str) -> dict:
        return {"i": i, "x": x}

    return res


def _ws_handler():  # noqa: ANN202
    async def ws(websocket, x: str) -> None:  # noqa: ANN001
        return None

    return ws


def build(n: int, index_min: int | None = None) -> Router:
    router = Router()
    if index_min is not None:
        router.index_min = index_min
    for i in range(n):
        router.add_route(APIRoute(f"/res{i}/{{x}}", _handler(i), ["GET"]))
        router.add_route(WebSocketRoute(f"/res{i}/{{x}}", _ws_handler()))
    return router


def best(stmt, number: int, repeat: int) -> float:  # noqa: ANN001
    """Microseconds of CPU time per call, best of ``repeat`` runs of ``number`` calls (CPU time rather than
    wall time: other processes on the machine disturb it less)."""
    return min(timeit.repeat(stmt, number=number, repeat=repeat, timer=time.process_time)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="1,10,100,1000,10000")
    parser.add_argument("--number", type=int, default=0, help="calls per timing (default: scaled to N)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threshold", action="store_true",
                        help="time the linear scan and the segment tree side by side for few routes")
    args = parser.parse_args()
    if args.threshold:
        threshold(args)
        return
    counts = [int(c) for c in args.counts.split(",")]

    print("| routes | kind | first | middle | last | miss (404) |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in counts:
        router = build(n)
        paths = {"first": "/res0/abc", "middle": f"/res{n // 2}/abc", "last": f"/res{n - 1}/abc",
                 "miss": "/nothing/here"}
        for i, (name, p) in enumerate(paths.items()):
            if name != "miss":  # each path reaches its own route
                assert router.match("GET", p)[0].path == f"/res{p.split('/')[1][3:]}/{{x}}", (n, p)
            else:
                assert router.match("GET", p) == (None, None, None)
        number = args.number or max(20, min(50_000, 1_000_000 // n))
        match, match_ws = router.match, router.match_websocket
        http = [best(lambda p=p: match("GET", p), number, args.repeat) for p in paths.values()]
        ws = [best(lambda p=p: match_ws(p), number, args.repeat) for p in paths.values()]
        print(f"| {n} | HTTP | " + " | ".join(f"{t:.2f} µs" for t in http) + " |")
        print(f"| {n} | WebSocket | " + " | ".join(f"{t:.2f} µs" for t in ws) + " |")

    # a small app: the per-request cost a typical app pays
    router = Router()
    router.add_route(APIRoute("/hello", _handler(0), ["GET"]))
    router.add_route(APIRoute("/items/{item_id:int}", _handler(1), ["GET"]))
    router.add_route(APIRoute("/users/{name}", _handler(2), ["GET", "POST"]))
    match = router.match
    number = args.number or 200_000
    cases = {"static /hello": ("GET", "/hello"), "/items/42": ("GET", "/items/42"),
             "/users/bob": ("GET", "/users/bob"), "405 DELETE /users/bob": ("DELETE", "/users/bob"),
             "404 /nope": ("GET", "/nope")}
    print()
    print("| 3-route app | µs per match |")
    print("|---|---:|")
    for name, (method, p) in cases.items():
        print(f"| {name} | {best(lambda m=method, p=p: match(m, p), number, args.repeat):.3f} |")


def threshold(args: argparse.Namespace) -> None:
    """Where the tree starts to pay: the same routes matched by a linear scan and through the tree."""
    print("| routes | first: scan / tree | last: scan / tree | miss (404): scan / tree |")
    print("|---:|---:|---:|---:|")
    for n in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32):
        times = []
        for p in ("/res0/abc", f"/res{n - 1}/abc", "/nothing/here"):
            pair = []
            for index_min in (1 << 30, 0):
                match = build(n, index_min).match
                pair.append(best(lambda p=p: match("GET", p), args.number or 50_000, args.repeat))
            times.append(f"{pair[0]:.2f} / {pair[1]:.2f} µs")
        print(f"| {n} | " + " | ".join(times) + " |")


if __name__ == "__main__":
    main()
