#!/usr/bin/env python3
"""FastrAPI benchmark: ours against FastAPI + uvicorn[standard], the published fastrapi 0.2.11
and bare ceiling servers, side by side on this machine, in one run.

Every server runs pinned to one core (taskset -c 1), the load generator to the other
(taskset -c 0); each (server, scenario) pair gets a freshly started server, listening on
127.0.0.1 only, that is always stopped afterwards (SIGTERM, then SIGKILL), also on errors and
timeouts.  A server that does not start is reported as 'failed', one whose process is gone after
the load as 'crashed'; the run goes on either way.

    python3 bench/run.py           # runs bench/setup.sh (venvs under bench/.venvs/, reused when
                                   # present), then everything, 10 s per measurement
    python3 bench/run.py --quick   # 3 s per measurement
    python3 bench/run.py --only ws-16b-text,ours,fastapi

Writes bench/results/latest.md and bench/results/latest.json; server logs go to
bench/results/logs/.  Uses only the standard library (any python3 can run it).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import fnmatch
import http.client
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENVS = Path(os.environ.get("BENCH_VENVS") or BENCH / ".venvs").resolve()
APPS = BENCH / "apps"
LOAD = BENCH / "load"
RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"

# --------------------------------------------------------------------------------------------
# What is measured


class Server:
    def __init__(self, name, label, venv, script, kinds=("http", "ws"), scenarios=None, env=None):
        self.name, self.label, self.venv, self.script = name, label, venv, script
        self.kinds = kinds            # which scenario kinds it serves
        self.scenarios = scenarios    # None: every scenario of its kinds
        self.env = env or {}          # environment of its process (with the scenario's)

    def serves(self, sc):
        return (sc.kind in self.kinds and (self.scenarios is None or sc.name in self.scenarios)
                and (sc.servers is None or self.name in sc.servers))

    @property
    def python(self):
        return VENVS / self.venv / "bin" / "python"


#: the scenarios of the `def` variants (apps/def_routes.py has their routes; no WebSocket: its endpoints
#: are coroutines whatever the HTTP handlers are)
DEF_SCENARIOS = ("get-json", "get-json-cors-gzip", "get-path", "get-query", "post-pydantic", "get-deps",
                 "post-order30", "post-real", "stream-jsonl1000")

SERVERS = [
    Server("ours", "FastrAPI (ours)", "ours", "ours_app.py"),
    # The same HTTP routes with every handler and dependency a plain `def`: in the thread pool (the default),
    # and called on the event loop (FastrAPI(sync_to_threadpool=False), the original FastrAPI's behaviour)
    Server("ours-def", "ours, `def` (thread pool)", "ours", "ours_def_app.py", kinds=("http",),
           scenarios=DEF_SCENARIOS),
    Server("ours-inline", "ours, `def`, sync_to_threadpool=False", "ours", "ours_def_app.py", kinds=("http",),
           scenarios=DEF_SCENARIOS, env={"BENCH_INLINE": "1"}),
    Server("fastapi", "FastAPI+uvicorn", "fastapi", "fastapi_app.py"),
    Server("fastapi-def", "FastAPI+uvicorn, `def`", "fastapi", "fastapi_def_app.py", kinds=("http",),
           scenarios=DEF_SCENARIOS),
    Server("fastrapi-0.2.11", "fastrapi 0.2.11 (PyPI)", "fastrapi", "fastrapi_pub_app.py"),
    # Ceilings.  The canned-response server answers every request with {"Hello":"World"}, so it
    # is only a like-for-like ceiling for the GET JSON hello scenario.
    Server("bare-http", "bare uvloop+httptools", "ours", "bare_http.py", kinds=("http",),
           scenarios=("get-json", "get-cached", "get-json-10k")),
    # bare-picows echoes text frames unchecked; bare-picows-utf8 validates each text message as UTF-8 as
    # RFC 6455 requires (as every framework here does): the like-for-like ceiling for text echo
    Server("bare-picows", "bare picows echo (text unchecked)", "ours", "bare_picows.py", kinds=("ws",)),
    Server("bare-picows-utf8", "bare picows echo, UTF-8 validated", "ours", "bare_picows.py", kinds=("ws",),
           scenarios=("ws-16b-text", "ws-64k-text"), env={"BENCH_PICOWS_UTF8": "1"}),
]


class Scenario:
    def __init__(self, name, title, kind, path, *, method="GET", body=None, expect=None,
                 lua=None, headers=None, conns=64, size=16, binary=False, payload=None, env=None, servers=None,
                 expect_jsonl=None, latency=False, wrk_timeout=5, min_duration=0):
        self.name, self.title, self.kind, self.path = name, title, kind, path
        self.latency = latency        # a latency scenario: paced load (load/latency.py), percentiles reported
        self.wrk_timeout = wrk_timeout  # seconds wrk waits for an answer before counting a timeout
        self.min_duration = min_duration  # measured for at least this long, without a separate warmup run
        self.expect_jsonl = expect_jsonl  # (line count, first item) of a JSON Lines answer
        self.env = env or {}          # environment of the server process (the apps read it)
        self.servers = servers        # None: every server of its kind
        self.method, self.body, self.expect, self.lua = method, body, expect, lua
        self.headers = headers or {}  # extra request headers (probe and wrk -H)
        self.conns, self.size, self.binary = conns, size, binary
        self.payload = payload        # WebSocket: the exact message sent (and expected back), else filler
        if payload is not None:
            self.size = len(payload.encode())

    @property
    def unit(self):
        return "req/s" if self.kind == "http" else "msg/s"


def lua_body(path):
    """The JSON body a wrk script sends (its `wrk.body = '...'` line): one source for wrk and probe."""
    m = re.search(r"^wrk\.body = '(.*)'$", Path(path).read_text(), re.M)
    return m.group(1).encode()


USER = {"name": "Alice", "age": 30, "email": "alice@example.com"}
ORDER_BODY = lua_body(LOAD / "post_orders.lua")
ITEM_BODY = lua_body(LOAD / "post_items.lua")
#: what POST /items answers: ItemOut (api_models.py), computed fields added, internal_note and owner_id left out
ITEM_EXPECT = {"id": 1001, "name": "Widget", "price": 2.5, "quantity": 4, "total": 10.0, "tags": ["blue", "sale"],
               "owner": "alice"}
#: the servers that run the `def` variants beside ours and FastAPI
DEF_VARIANTS = ("ours-def", "ours-inline", "fastapi-def")
DEPS_EXPECT = {"user": "alice", "request_id": "req-42", "page": 3, "size": 25, "offset": 50,
               "db_open": True, "api_version": "v1"}
#: the message of the typed/untyped WebSocket echo scenarios (compact JSON, fields in the model's order)
WS_JSON = '{"type":"say","room":"lobby","nick":"ada","text":"hello, world","seq":42}'
SCENARIOS = [
    Scenario("get-json", "GET /json hello", "http", "/json", expect={"Hello": "World"}),
    # The same route with CORS + GZip middleware in front (BENCH_MIDDLEWARE: the apps add them at start;
    # every other scenario runs without middleware). The body is under GZip's minimum_size, as most API
    # answers: this measures what the two cost per request, not compression.
    Scenario("get-json-cors-gzip", "GET /json hello, CORS + GZip middleware", "http", "/json",
             headers={"Origin": "https://example.com", "Accept-Encoding": "gzip"}, expect={"Hello": "World"},
             env={"BENCH_MIDDLEWARE": "cors,gzip"}, servers=("ours", "fastapi") + DEF_VARIANTS),
    # The same answer from a cache_resp=True route: computed once at startup, written from stored bytes by
    # the server's fast path (no Python code of the route per request). The bare server is its ceiling.
    Scenario("get-cached", "GET /cached hello, cache_resp=True", "http", "/cached", expect={"Hello": "World"},
             servers=("ours", "bare-http")),
    # The same route in an app instrumented for Prometheus (BENCH_METRICS: Instrumentator().instrument(app)):
    # what counting, timing and labelling each request costs next to get-json.
    Scenario("get-json-metrics", "GET /json hello, Prometheus metrics (Instrumentator)", "http", "/json",
             expect={"Hello": "World"}, env={"BENCH_METRICS": "1"}, servers=("ours",)),
    Scenario("get-path", "GET /items/{item_id} path param", "http", "/items/42", expect={"item_id": 42}),
    # The last of 1,000 templated routes /res{i}/{x}, registered only in this scenario's servers (BENCH_ROUTES):
    # what finding a route costs in a large app (a router trying every route in order pays for 999 misses)
    Scenario("get-route1000", "GET /res999/abc, the last of 1,000 templated routes", "http", "/res999/abc",
             expect={"i": 999, "x": "abc"}, env={"BENCH_ROUTES": "1000"}),
    Scenario("get-query", "GET /search?q=&limit= query params", "http", "/search?q=fastrapi&limit=5",
             expect={"q": "fastrapi", "limit": 5}),
    Scenario("post-pydantic", "POST /users pydantic body", "http", "/users", method="POST",
             body=json.dumps(USER, separators=(",", ":")).encode(), expect=USER,
             lua=LOAD / "post_users.lua"),
    Scenario("get-deps", "GET /deps 4 dependencies (yield, async nested, class)", "http",
             "/deps?token=secret-token&page=3&size=25", headers={"X-Request-Id": "req-42"},
             expect=DEPS_EXPECT),
    Scenario("post-order30", "POST /orders 30-field pydantic body", "http", "/orders", method="POST",
             body=ORDER_BODY, expect=json.loads(ORDER_BODY), lua=LOAD / "post_orders.lua"),
    # A generator path operation: 1,000 rows validated as a pydantic model, streamed as JSON Lines
    # (FastAPI >= 0.134). The probe checks the line count and the first row.
    # 8 connections: at 64, FastAPI's streams take longer than wrk's 5 s timeout and none completes.
    Scenario("stream-jsonl1000", "GET /stream 1,000 items as JSON Lines, 8 conns", "http", "/stream",
             expect_jsonl=(1000, {"id": 0, "name": "item-0", "price": 0.0, "in_stock": False}),
             servers=("ours", "fastapi") + DEF_VARIANTS, conns=8),
    # A real handler: a pydantic body, an auth dependency reading a header (401 on a wrong key) and a
    # response model other than the body's (drops a field, adds computed ones): what a fast /hello must
    # also speed up.
    Scenario("post-real", "POST /items body + auth dependency + response_model", "http", "/items",
             method="POST", body=ITEM_BODY, headers={"X-API-Key": "key-alice"}, expect=ITEM_EXPECT,
             lua=LOAD / "post_items.lua"),
    # 10,000 concurrent keep-alive connections from one wrk thread: connecting them is part of the measured
    # time, so at least 10 s and no separate warmup run (its 10,000 closes would overlap the measurement);
    # the report lists how many the server process held open and when it held all. wrk's timeout is 30 s:
    # at a few thousand req/s each connection waits seconds for its turn.
    Scenario("get-json-10k", "GET /json hello, 10,000 connections", "http", "/json", expect={"Hello": "World"},
             conns=10000, wrk_timeout=30, min_duration=10,
             servers=("ours", "fastapi", "fastrapi-0.2.11", "bare-http")),
    Scenario("ws-16b-text", "WS echo 16 B text, 64 conns", "ws", "/ws", conns=64, size=16),
    Scenario("ws-64k-text", "WS echo 64 KiB text, 8 conns", "ws", "/ws", conns=8, size=65536),
    Scenario("ws-16b-binary", "WS echo 16 B binary, 64 conns", "ws", "/wsb", conns=64, size=16, binary=True),
    # Typed messages: the same JSON echoed by an untyped handler (receive_json + send_json) and by a typed one
    # (receive=/send= a model: receive_model + send_model, one validate_json and one to_json per message)
    Scenario("ws-json-untyped", "WS echo JSON, untyped (receive_json/send_json), 64 conns", "ws", "/ws-json",
             payload=WS_JSON, servers=("ours",)),
    Scenario("ws-json-typed", "WS echo JSON, typed (receive_model/send_model), 64 conns", "ws", "/ws-typed",
             payload=WS_JSON, servers=("ours",)),
    # Latency at a fixed rate below saturation (load/latency.py: open loop, measured from each request's
    # scheduled time); --lat-rate / --lat-ws-rate / --lat-conns set the load
    Scenario("lat-get-json", "GET /json at a fixed rate", "http", "/json", expect={"Hello": "World"},
             latency=True, conns=50, servers=("ours", "fastapi")),
    Scenario("lat-ws-16b", "WS echo 16 B text at a fixed rate", "ws", "/ws", size=16, latency=True, conns=50,
             servers=("ours", "fastapi")),
]

# Ratio columns: (column title, numerator server, denominator server or {scenario: server})
RATIOS = [
    ("ours/FastAPI", "ours", "fastapi"),
    ("ours-def/FastAPI-def", "ours-def", "fastapi-def"),
    ("ours-def/ours", "ours-def", "ours"),
    ("ours-inline/ours", "ours-inline", "ours"),
    ("ours/fastrapi-0.2.11", "ours", "fastrapi-0.2.11"),
    ("ours-inline/fastrapi-0.2.11", "ours-inline", "fastrapi-0.2.11"),
    ("ours/bare", "ours", {"get-json": "bare-http", "get-cached": "bare-http", "get-json-10k": "bare-http",
                           "ws-16b-text": "bare-picows", "ws-64k-text": "bare-picows",
                           "ws-16b-binary": "bare-picows"}),
    ("ours/bare-utf8", "ours", {"ws-16b-text": "bare-picows-utf8", "ws-64k-text": "bare-picows-utf8"}),
]
# Targets from the issue: (scenario, numerator, denominator, minimum ratio); scenario HTTP stands for
# every HTTP throughput scenario of the run that both servers served
HTTP = "every HTTP scenario"
TARGETS = [
    (HTTP, "ours-def", "ours", 0.75),
    (HTTP, "ours-inline", "ours", 0.95),
    ("get-json", "ours", "bare-http", 0.8),
    (HTTP, "ours", "fastrapi-0.2.11", 4.0),
    (HTTP, "ours-inline", "fastrapi-0.2.11", 4.0),
    ("ws-16b-text", "ours", "fastapi", 4.0),
    ("ws-16b-text", "ours", "bare-picows", 0.9),
    ("ws-64k-text", "ours", "bare-picows-utf8", 1.0),
]


def expand_targets(scenarios, servers):
    """TARGETS with HTTP spelled out: one (scenario, num, den, min) per scenario both servers ran."""
    S = {s.name: s for s in SERVERS}
    out = []
    for scn, num, den, need in TARGETS:
        if num not in servers or den not in servers:
            continue
        for sc in scenarios:
            if sc.latency or (sc.name != scn and not (scn == HTTP and sc.kind == "http")):
                continue
            if S[num].serves(sc) and S[den].serves(sc):
                out.append((sc.name, num, den, need))
    return out

# --------------------------------------------------------------------------------------------
# Helpers


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def cpu_ticks(pid):
    """utime+stime of a process (all its threads), in clock ticks; None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def machine_ticks():
    """(busy, total) clock ticks of the whole machine since boot, from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(f[:8])          # user nice system idle iowait irq softirq steal
    return total - f[3] - f[4], total


def wait_quiet(max_wait, threshold=10.0):
    """Wait (bounded) until other processes use under `threshold`% of the machine for 1 s.
    Returns the busy share seen last (percent of all cores)."""
    deadline = time.monotonic() + max_wait
    while True:
        b0, t0 = machine_ticks()
        time.sleep(1.0)
        b1, t1 = machine_ticks()
        busy = 100.0 * (b1 - b0) / max(1, t1 - t0)
        if busy < threshold or time.monotonic() >= deadline:
            return busy


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def tail(path, n=12):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    # strip ANSI colours some servers print
    return "\n".join(re.sub(r"\x1b\[[0-9;]*m", "", ln)[:300] for ln in lines[-n:])


class Proc:
    """A process (a server, redis-server) in its own session, so that the whole group can be signalled;
    pinned with taskset when ``cpu`` is given. Also used by bench/realtime.py."""

    def __init__(self, cmd, logpath, cpu, extra_env=None, cwd=APPS):
        self.logpath = logpath
        self.logf = open(logpath, "wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", **(extra_env or {}))
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu)] + cmd      # taskset execs: pid is the program's
        self.p = subprocess.Popen(cmd, cwd=cwd, stdout=self.logf, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env, start_new_session=True)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def returncode(self):
        return self.p.poll()

    def stop(self, grace=5.0):
        if self.p.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.p.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.p.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        else:
            # the server is gone; make sure nothing it started survives it
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.logf.close()


def wait_listening(proc, port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            return f"exited with code {proc.returncode()} before listening"
        if port_open(port):
            return None
        time.sleep(0.1)
    return f"not listening after {timeout:.0f} s"


def http_probe(port, sc, timeout=5.0):
    """One request; None if the answer is what the scenario expects, else what went wrong."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if sc.body is not None else {}
        headers.update(sc.headers)
        conn.request(sc.method, sc.path, body=sc.body, headers=headers)
        r = conn.getresponse()
        data = r.read()
    except Exception as exc:  # noqa: BLE001
        return f"probe request failed: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if sc.expect_jsonl is not None:
        count, first = sc.expect_jsonl
        lines = data.splitlines()
        try:
            ok = len(lines) == count and json.loads(lines[0]) == first
        except (ValueError, IndexError):
            ok = False
        if r.status != 200 or not ok or r.getheader("content-type") != "application/jsonl":
            return (f"probe: HTTP {r.status}, {len(lines)} lines starting {data[:120]!r} "
                    f"(expected 200 application/jsonl, {count} lines starting {json.dumps(first)})")
        return None
    try:
        got = json.loads(data)
    except ValueError:
        got = data[:200]
    if r.status != 200 or got != sc.expect:
        return f"probe: HTTP {r.status}, body {data[:200]!r} (expected 200 {json.dumps(sc.expect)})"
    return None


WRK_RPS = re.compile(r"Requests/sec:\s*([\d.]+)")
WRK_TOTAL = re.compile(r"(\d+) requests in")
WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
WRK_SOCKERR = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def socket_fds(pid):
    """How many sockets the process holds open (its connections, the listening socket...); None if gone."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    n = 0
    for fd in fds:
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


def run_wrk(port, sc, seconds, cpu, conns=64, watch_pid=None):
    """wrk against the server; with watch_pid, the most sockets that process held open during the run
    (sampled every half second: once accepted, every connection is one socket of the server) is added as
    'server_sockets', and the time from wrk's start until it held all `conns` as 'all_held_after'."""
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", f"{sc.wrk_timeout}s"]
    if sc.lua:
        cmd += ["-s", str(sc.lua)]
    for k, v in sc.headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(f"http://127.0.0.1:{port}{sc.path}")
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    wrk = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = all_after = None
    try:
        if watch_pid is not None:
            # a sample every 0.5 s until wrk ends (reading 10,000 fd links takes a few ms)
            t0 = time.monotonic()
            while wrk.poll() is None and time.monotonic() < t0 + seconds - 0.25:
                time.sleep(0.5)
                n = socket_fds(watch_pid)
                if n is not None:
                    seen = max(seen or 0, n)
                    if all_after is None and n >= conns:
                        all_after = round(time.monotonic() - t0, 1)
        out = wrk.communicate(timeout=seconds + sc.wrk_timeout + 30)[0]
    except subprocess.TimeoutExpired:
        wrk.kill()
        wrk.communicate()
        return {"ok": False, "rate": 0.0, "error": "wrk did not finish in time"}
    m = WRK_RPS.search(out)
    if not m:
        return {"ok": False, "rate": 0.0, "error": "no result from wrk: " + out.strip()[-300:]}
    res = {"ok": True, "rate": float(m.group(1)), "error": None}
    if watch_pid is not None:
        res["server_sockets"], res["all_held_after"] = seen, all_after
    total = int(WRK_TOTAL.search(out).group(1)) if WRK_TOTAL.search(out) else 0
    non2xx = int(WRK_NON2XX.search(out).group(1)) if WRK_NON2XX.search(out) else 0
    se = WRK_SOCKERR.search(out)
    sockerr = dict(zip(("connect", "read", "write", "timeout"), map(int, se.groups()))) if se else {}
    res.update(requests=total, non2xx=non2xx, socket_errors=sockerr)
    problems = []
    if non2xx:
        problems.append(f"{non2xx} non-2xx responses")
    if sum(sockerr.values()):
        problems.append("socket errors " + ", ".join(f"{k} {v}" for k, v in sockerr.items() if v))
    if total == 0:
        problems.append("no request completed")
    if watch_pid is not None and (seen or 0) < conns:
        # not an error of the run (wrk counts none), but what this scenario is about: say it
        res["error"] = (f"the server process held at most {seen or 0:,} sockets of the {conns:,} connections "
                        "wrk opened (sampled)")
    if problems:
        res["error"] = "; ".join(problems + ([res["error"]] if res.get("error") else []))
        # a few read errors at the very end (connections cut at shutdown) are harmless
        res["ok"] = total > 0 and (non2xx + sum(sockerr.values())) <= max(10, total // 1000)
    return res


def run_ws_load(port, sc, seconds, warmup, cpu):
    cmd = [str(VENVS / "load" / "bin" / "python"), str(LOAD / "ws_load.py"),
           f"ws://127.0.0.1:{port}{sc.path}", "--conns", str(sc.conns), "--size", str(sc.size),
           "--duration", str(seconds), "--warmup", str(warmup)]
    if sc.binary:
        cmd.append("--binary")
    if sc.payload is not None:
        cmd += ["--payload", sc.payload]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    limit = seconds + warmup + 5 * (sc.conns // 16 + 1) + 30
    return run_client(cmd, limit, "load client")


def run_latency(port, sc, args, cpu):
    """load/latency.py against the server: a paced (open-loop) load, latency percentiles."""
    scheme = "ws" if sc.kind == "ws" else "http"
    rate = args.lat_ws_rate if sc.kind == "ws" else args.lat_rate
    cmd = [str(VENVS / "load" / "bin" / "python"), str(LOAD / "latency.py"), f"{scheme}://127.0.0.1:{port}{sc.path}",
           "--rate", str(rate), "--conns", str(args.lat_conns or sc.conns),
           "--duration", str(args.duration), "--warmup", str(args.warmup)]
    if sc.kind == "ws":
        cmd += ["--size", str(sc.size)]
    else:
        cmd += ["--expect", json.dumps(sc.expect)]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    limit = args.duration + args.warmup + 60
    return run_client(cmd, limit, "latency client")


def run_client(cmd, limit, what):
    """Run a load client (bounded by ``limit`` seconds) and return the JSON object it printed last."""
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"ok": False, "rate": 0.0, "error": f"{what} did not finish in {limit:.0f} s"}
    for line in reversed(cp.stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                break
    return {"ok": False, "rate": 0.0,
            "error": f"{what} gave no result (exit {cp.returncode}): {cp.stderr.strip()[-300:]}"}


def measure(server, sc, args, tag):
    """Start the server, probe, load, stop.  Returns a result dict with a 'status'."""
    res = {"server": server.name, "scenario": sc.name, "status": "failed", "rate": None}
    if not server.python.exists() or not (VENVS / server.venv / ".ok").exists():
        res["error"] = f"venv bench/.venvs/{server.venv} missing or incomplete: run bench/setup.sh"
        return res
    if (sc.kind == "ws" or sc.latency) and not (VENVS / "load" / ".ok").exists():
        res["error"] = "venv bench/.venvs/load missing: run bench/setup.sh"
        return res
    if args.idle_wait > 0:
        busy = wait_quiet(args.idle_wait)
        if busy >= 10.0:
            res["busy_before"] = round(busy, 1)
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    logpath = LOGS / f"{server.name}-{sc.name}{tag}.log"
    proc = Proc([str(server.python), str(APPS / server.script), str(port)], logpath, args.server_cpu,
                {**server.env, **sc.env})
    try:
        err = wait_listening(proc, port, args.start_timeout)
        if err:
            res["error"] = err
            res["log_tail"] = tail(logpath)
            return res
        if sc.kind == "http":
            err = http_probe(port, sc)
            if err:
                if not proc.alive():
                    res["status"] = "crashed"
                    err += f"; server exited with code {proc.returncode()}"
                else:
                    res["status"] = "bad-response"
                res["error"] = err
                res["log_tail"] = tail(logpath)
                return res
            if args.warmup > 0 and not sc.latency and not sc.min_duration:
                run_wrk(port, sc, args.warmup, args.client_cpu, sc.conns)
        t0, c0, s0, m0 = time.monotonic(), children_cpu(), cpu_ticks(proc.pid), machine_ticks()[0]
        if sc.latency:
            load = run_latency(port, sc, args, args.client_cpu)
        elif sc.kind == "http":
            load = run_wrk(port, sc, max(args.duration, sc.min_duration), args.client_cpu, sc.conns,
                           watch_pid=proc.pid if sc.conns >= 1000 else None)
        else:
            load = run_ws_load(port, sc, args.duration, args.warmup, args.client_cpu)
        wall, s1, m1 = time.monotonic() - t0, cpu_ticks(proc.pid), machine_ticks()[0]
        hz = os.sysconf("SC_CLK_TCK")
        client_s = children_cpu() - c0
        res["client_cpu"] = round(100 * client_s / wall, 1) if wall > 0 else None
        if s0 is not None and s1 is not None and wall > 0:
            server_s = (s1 - s0) / hz
            res["server_cpu"] = round(100 * server_s / wall, 1)
            # CPU used by anything else on the machine meanwhile (other jobs, and kernel work on
            # the loopback that is not charged to either process), in percent of one core.
            res["other_cpu"] = round(100 * ((m1 - m0) / hz - server_s - client_s) / wall, 1)
        res["load"] = load
        time.sleep(0.2)  # let a dying server finish dying
        if not proc.alive():
            res["status"] = "crashed"
            res["error"] = f"server process exited with code {proc.returncode()} during the load" + (
                f" ({load.get('error')})" if load.get("error") else "")
            res["log_tail"] = tail(logpath)
            return res
        res["rate"] = load.get("rate") or 0.0
        res["status"] = "ok" if load.get("ok") else "error"
        if load.get("error"):
            res["error"] = load["error"]
            res["log_tail"] = tail(logpath)
        return res
    except Exception as exc:  # noqa: BLE001 - never let one pair stop the run
        res["status"] = "error"
        res["error"] = f"runner: {type(exc).__name__}: {exc}"
        return res
    finally:
        proc.stop()


# --------------------------------------------------------------------------------------------
# Reporting


NOISY = 25.0


def noisy(r):
    return (r.get("other_cpu") or 0) > NOISY or "busy_before" in r


def fmt_rate(r):
    if r is None:
        return "-"
    st = r["status"]
    if st == "ok":
        return f"{r['rate']:,.0f}" + (" ~" if noisy(r) else "")
    if st == "error" and r.get("rate"):
        return f"{r['rate']:,.0f} (!)"
    return st


def ratio(results, sc, num, den):
    a, b = results.get((num, sc)), results.get((den, sc))
    if not a or not b or a["status"] != "ok" or b["status"] != "ok" or not b["rate"]:
        return None
    return a["rate"] / b["rate"]


def environment():
    info = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "host_cpus": os.cpu_count(), "kernel": platform.release()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        info["git"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True, timeout=5).stdout.strip() or None
    except Exception:  # noqa: BLE001
        info["git"] = None
    versions = {}
    for venv, pkgs in (("ours", ("fastrapi", "uvloop", "httptools", "orjson", "pydantic", "websockets", "picows")),
                       ("fastapi", ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "websockets", "pydantic")),
                       ("fastrapi", ("fastrapi", "pydantic")), ("load", ("picows", "uvloop", "aiofastnet"))):
        ok = VENVS / venv / ".ok"
        if not ok.exists():
            versions[venv] = "missing"
            continue
        lines = ok.read_text().splitlines()
        v = {"python": lines[0].split()[-1] if lines else "?"}
        for ln in lines[1:]:
            name = re.split(r"[=@ ]", ln, 1)[0].lower().replace("_", "-")
            if name in pkgs:
                v[name] = ln.split("==", 1)[1] if "==" in ln else "editable"
            elif ln.startswith("-e ") or "Editable" in ln:
                v.setdefault("fastrapi", "editable (this repo)")
        versions[venv] = v
    info["versions"] = versions
    try:
        wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5)
        info["wrk"] = (wrk.stdout + wrk.stderr).strip().splitlines()[0]
    except Exception:  # noqa: BLE001
        info["wrk"] = None
    return info


def fmt_us(v):
    if v is None:
        return "-"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"


def render_latency(results, scenarios, servers, args):
    """The latency scenarios: one row per server, percentiles from the scheduled send time."""
    S = {s.name: s for s in SERVERS}
    rows = []
    for sc in scenarios:
        if not sc.latency:
            continue
        for s in servers:
            r = results.get((s, sc.name))
            if not S[s].serves(sc) or r is None:
                continue
            ld = r.get("load") or {}
            if r["status"] != "ok" and not ld.get("p50_us"):
                rows.append(f"| {sc.title} | {S[s].label} | {ld.get('offered_rate', '-')} | {fmt_rate(r)} |"
                            " - | - | - | - | - | - |")
                continue
            rows.append(
                f"| {sc.title} | {S[s].label} | {ld.get('offered_rate', 0):,.0f} | {fmt_rate(r)} | "
                + " | ".join(fmt_us(ld.get(k)) for k in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us"))
                + f" | {fmt_us(ld.get('send_lag_p99_us'))}, {ld.get('queued', 0)} queued |")
    if not rows:
        return []
    return ["", "## Latency at a fixed rate", "",
            f"`load/latency.py`: requests (messages) scheduled at a fixed rate over {args.lat_conns or 50} "
            "keep-alive connections (open loop), each sent on an idle connection or queued until one is; latency "
            "from the *scheduled* time to the checked answer, so a stall counts against every request it delays. "
            "The last column is the load client's own lateness (p99 of send time - scheduled time) and how many "
            "requests found no idle connection: large values there mean the client or the offered rate, "
            "not the server, set the latency.", "",
            "| scenario | server | offered/s | answered/s | p50 | p90 | p99 | p99.9 | max | client lag p99, queued |",
            "|---|---|---|---|---|---|---|---|---|---|"] + rows


def render_many_conns(results, scenarios, servers):
    """The scenarios with thousands of connections: how many the server process held open."""
    S = {s.name: s for s in SERVERS}
    rows = []
    for sc in scenarios:
        if sc.latency or sc.kind != "http" or sc.conns < 1000:
            continue
        for s in servers:
            r = results.get((s, sc.name))
            if not S[s].serves(sc) or r is None:
                continue
            ld = r.get("load") or {}
            errs = dict(ld.get("socket_errors") or {})
            if ld.get("non2xx"):
                errs["non-2xx"] = ld["non2xx"]
            err = ", ".join(f"{k} {v:,}" for k, v in errs.items() if v) or "none"
            seen, after = ld.get("server_sockets"), ld.get("all_held_after")
            rows.append(f"| {sc.title} | {S[s].label} | {fmt_rate(r)} | {ld.get('requests', 0):,} | {err} | "
                        f"{'-' if seen is None else f'{seen:,}'} | {'never' if after is None else f'{after:g} s'} |")
    if not rows:
        return []
    return ["", "## Many connections", "",
            "wrk opens every connection at its start (part of the measured time, at least 10 s) and keeps each "
            "alive; 'sockets' is the most sockets the server process held open (sampled every 0.5 s: its "
            "connections, the listening socket and a few of its own), 'all held' when it first held as many as "
            "wrk opened.", "",
            "| scenario | server | req/s | requests | errors (wrk) | sockets in the server | all held after |",
            "|---|---|---|---|---|---|---|"] + rows


def render(results, scenarios, servers, args, env, started_load, elapsed):
    S = {s.name: s for s in SERVERS}
    cols = [s for s in servers]
    lines = [
        "# FastrAPI benchmark",
        "",
        f"{env['date']} · {env.get('cpu', '?')} · {env['host_cpus']} cores · server on CPU "
        f"{args.server_cpu}, load on CPU {args.client_cpu} · {args.duration:g} s per measurement "
        f"(+{args.warmup:g} s warmup) · repeat {args.repeat} (median) · git {env.get('git') or 'none'} · "
        f"load average at start {started_load}",
        "",
        "HTTP: `wrk -t1 -c64` (other connection counts where the scenario says); WebSocket: picows client, "
        "one message in flight per connection. Rates in requests/s (HTTP) or echoed messages/s (WebSocket). "
        "`def` columns: the same routes with every handler and dependency a plain `def`. "
        "`~` marks a rate measured while other processes were using the machine; `(!)` one with errors.",
        "",
    ]
    def den_of(den, sc):
        return den.get(sc.name) if isinstance(den, dict) else den

    # One table for HTTP, one for WebSocket: each with the servers and ratio columns that have a value in it
    for kind in ("http", "ws"):
        group = [sc for sc in scenarios if sc.kind == kind and not sc.latency]
        gcols = [s for s in cols if any(S[s].serves(sc) for sc in group)]
        if not group or not gcols:
            continue
        ratios = [(t, num, den) for t, num, den in RATIOS if num in gcols and any(
            den_of(den, sc) in gcols and S[den_of(den, sc)].serves(sc) and S[num].serves(sc) for sc in group)]
        head = ["scenario"] + [S[s].label for s in gcols] + [t for t, *_ in ratios]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for sc in group:
            row = [sc.title]
            for s in gcols:
                row.append(fmt_rate(results.get((s, sc.name))) if S[s].serves(sc) else "")
            for _, num, den in ratios:
                d = den_of(den, sc)
                r = ratio(results, sc.name, num, d) if d else None
                row.append(f"{r:.2f}x" if r is not None else "")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    lines += render_latency(results, scenarios, servers, args)
    lines += render_many_conns(results, scenarios, servers)
    lines += ["", "## Targets (ratios measured in this run)", "",
              "| scenario | ratio | target | measured | verdict |", "|---|---|---|---|---|"]
    for scn, num, den, need in expand_targets(scenarios, servers):
        r = ratio(results, scn, num, den)
        verdict = "n/a" if r is None else ("PASS" if r >= need else "FAIL")
        lines.append(f"| {scn} | {num} / {den} | >= {need:g}x | "
                     f"{'-' if r is None else f'{r:.2f}x'} | {verdict} |")
    notes = []
    for (s, scn), r in sorted(results.items()):
        if r["status"] != "ok" or r.get("error"):
            notes.append(f"- **{s} / {scn}: {r['status']}** — {r.get('error') or ''}".rstrip(" —"))
    for (s, scn), r in sorted(results.items()):
        if r["status"] == "ok" and noisy(r):
            why = []
            if "busy_before" in r:
                why.append(f"machine {r['busy_before']:.0f}% busy before the start")
            if (r.get("other_cpu") or 0) > NOISY:
                why.append(f"other processes used {r['other_cpu']:.0f}% of a core during it")
            notes.append(f"- ~ {s} / {scn}: measured on a busy machine ({'; '.join(why)}): not reliable")
    if notes:
        lines += ["", "## Failures and warnings", ""] + notes
    cpu = []
    for (s, scn), r in sorted(results.items()):
        if r.get("server_cpu") is not None:
            cpu.append(f"{s}/{scn}: server {r['server_cpu']:.0f}%, load {r.get('client_cpu') or 0:.0f}%, "
                       f"other {max(0.0, r.get('other_cpu') or 0):.0f}%")
    if cpu:
        lines += ["", "<details><summary>CPU use during the load, percent of one core (a server well under "
                  "100% means the load generator or the round trip set the pace; 'other' is everything "
                  "else on the machine, including loopback kernel work)</summary>", "",
                  "; ".join(cpu), "", "</details>"]
    lines += ["", "Versions: " + json.dumps(env["versions"]), f"wrk: {env.get('wrk')}",
              f"Total time {elapsed:.0f} s."]
    return "\n".join(lines) + "\n"


def combine(runs):
    """Median over repeats of the ok runs; the first failure when none was ok.  Latency runs: the run
    with the median p99."""
    ok = [r for r in runs if r["status"] == "ok"]
    if not ok:
        return runs[0]
    if (ok[0].get("load") or {}).get("p99_us") is not None:
        ok.sort(key=lambda r: r["load"]["p99_us"])
    best = dict(ok[len(ok) // 2])
    best["rate"] = statistics.median(r["rate"] for r in ok)
    best["runs"] = [r["rate"] for r in runs if r["status"] == "ok"]
    if len(ok) < len(runs):
        best["error"] = f"{len(runs) - len(ok)} of {len(runs)} repeats not ok: " + "; ".join(
            f"{r['status']}: {r.get('error')}" for r in runs if r["status"] != "ok")
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds measured per pair (default 10)")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring (default 2)")
    ap.add_argument("--quick", action="store_true", help="3 s per measurement, 1 s warmup")
    ap.add_argument("--repeat", type=int, default=1, help="measure each pair N times, report the median")
    ap.add_argument("--only", default="",
                    help="comma-separated scenario and/or server names (globs allowed), e.g. "
                         "'ws-*,ours,fastapi'; scenarios: " + ", ".join(s.name for s in SCENARIOS) +
                         "; servers: " + ", ".join(s.name for s in SERVERS))
    ap.add_argument("--server-cpu", default="1", help="CPU list for the servers (taskset), default 1")
    ap.add_argument("--client-cpu", default="0", help="CPU list for the load generator, default 0")
    ap.add_argument("--start-timeout", type=float, default=20.0, help="seconds a server has to start listening")
    ap.add_argument("--idle-wait", type=float, default=30.0,
                    help="before each measurement wait up to this many seconds for the machine to be "
                         "quiet (other processes under 10%% CPU); 0 disables (default 30)")
    ap.add_argument("--noisy-threshold", type=float, default=25.0,
                    help="flag a measurement when other CPU use during it exceeds this percent of "
                         "one core (default 25)")
    ap.add_argument("--noisy-retries", type=int, default=2,
                    help="measure a pair again (up to N times) when it ran on a busy machine; the "
                         "least disturbed measurement is kept (default 2)")
    ap.add_argument("--no-setup", action="store_true",
                    help="do not run bench/setup.sh first (it builds missing venvs, reuses the others "
                         "and refreshes the editable install of this repository)")
    ap.add_argument("--lat-rate", type=float, default=1000.0,
                    help="lat-get-json: requests per second offered (default 1000: well below what FastAPI + "
                         "uvicorn sustains, about 5k/s on a fast machine and 1.5k/s on a slow one)")
    ap.add_argument("--lat-ws-rate", type=float, default=1000.0,
                    help="lat-ws-16b: messages per second offered (default 1000)")
    ap.add_argument("--lat-conns", type=int, default=50, help="connections of the latency scenarios (default 50)")
    ap.add_argument("--out", default=str(RESULTS / "latest"), help="output path without extension")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.warmup = 3.0, 1.0
    global NOISY
    NOISY = args.noisy_threshold
    if args.server_cpu.lower() == "none":
        args.server_cpu = None
    if args.client_cpu.lower() == "none":
        args.client_cpu = None

    scenarios, servers = list(SCENARIOS), [s.name for s in SERVERS]
    tokens = [t.strip() for t in args.only.split(",") if t.strip()]
    if tokens:
        sc_tok = [t for t in tokens if any(fnmatch.fnmatch(s.name, t) for s in SCENARIOS)]
        sv_tok = [t for t in tokens if any(fnmatch.fnmatch(s.name, t) for s in SERVERS)]
        unknown = [t for t in tokens if t not in sc_tok and t not in sv_tok]
        if unknown:
            ap.error(f"--only: unknown name(s) {unknown}")
        if sc_tok:
            scenarios = [s for s in SCENARIOS if any(fnmatch.fnmatch(s.name, t) for t in sc_tok)]
        if sv_tok:
            servers = [s.name for s in SERVERS if any(fnmatch.fnmatch(s.name, t) for t in sv_tok)]
    S = {s.name: s for s in SERVERS}
    servers = [s for s in servers if any(S[s].serves(sc) for sc in scenarios)]
    scenarios = [sc for sc in scenarios if any(S[s].serves(sc) for s in servers)]
    if not scenarios or not servers:
        ap.error("nothing to run with that --only")
    if subprocess.run(["which", "wrk"], capture_output=True).returncode and any(s.kind == "http" for s in scenarios):
        log("warning: wrk not found: HTTP scenarios will fail")
    for cpus in (args.server_cpu, args.client_cpu):
        if cpus is not None and subprocess.run(["taskset", "-c", cpus, "true"], capture_output=True).returncode:
            ap.error(f"cannot pin to CPU {cpus} (see --server-cpu/--client-cpu, or 'none')")

    if not args.no_setup:
        needed = sorted({S[s].venv for s in servers} | ({"load"} if any(sc.kind == "ws" for sc in scenarios) else set()))
        log(f"bench/setup.sh {' '.join(needed)} (venvs are reused; --no-setup skips this)")
        try:
            subprocess.run(["bash", str(BENCH / "setup.sh"), *needed], timeout=1800)
        except subprocess.TimeoutExpired:
            log("setup.sh did not finish in 30 min; going on with what is there")
    # get-json-10k: 10,000 connections need more than 10,000 descriptors in the server and in wrk (both
    # inherit this process's limit)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = max((sc.conns for sc in scenarios if sc.kind == "http"), default=0) + 100
    if hard < need:
        log(f"warning: RLIMIT_NOFILE hard limit is {hard}, {need} needed for {need - 100} connections "
            "(raise it: ulimit -Hn)")
    if any(sc.latency for sc in scenarios):
        log(f"latency scenarios: {args.lat_rate:g} req/s (HTTP), {args.lat_ws_rate:g} msg/s (WebSocket) over "
            f"{args.lat_conns} connections")
    env = environment()
    load0 = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    pairs = [(sc, S[s]) for sc in scenarios for s in servers if S[s].serves(sc)]
    total = sum(max(args.duration, sc.min_duration) + (0 if sc.min_duration else args.warmup) + 3 for sc, _ in pairs)
    log(f"{len(pairs)} measurements x {args.repeat}, about {total * args.repeat / 60:.1f} min")
    t_start = time.monotonic()
    runs: dict[tuple[str, str], list] = {}
    for rep in range(args.repeat):
        for sc, server in pairs:
            tag = f"-{rep + 1}" if args.repeat > 1 else ""
            r = measure(server, sc, args, tag)
            last = r
            for _ in range(args.noisy_retries):
                if last["status"] != "ok" or not noisy(last):
                    break
                log(f"{sc.name:14} {server.name:16} {last['rate']:,.0f} {sc.unit} measured on a busy machine "
                    f"(other {last.get('other_cpu')}%): measuring again")
                last = measure(server, sc, args, tag)
                if last["status"] == "ok" and (not noisy(last) or
                                               (last.get("other_cpu") or 0) < (r.get("other_cpu") or 0)):
                    r = last
            runs.setdefault((server.name, sc.name), []).append(r)
            rate = f"{r['rate']:,.0f} {sc.unit}" if r["rate"] is not None else ""
            log(f"{sc.name:14} {server.name:16} {r['status']:12} {rate}"
                + (f"  [{r['error'][:160]}]" if r.get("error") else ""))
    results = {k: combine(v) for k, v in runs.items()}
    elapsed = time.monotonic() - t_start

    md = render(results, scenarios, servers, args, env, load0, elapsed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(md)
    payload = {"environment": env, "load_average_at_start": load0,
               "settings": {k: getattr(args, k) for k in ("duration", "warmup", "repeat", "server_cpu", "client_cpu",
                                                          "lat_rate", "lat_ws_rate", "lat_conns")},
               "scenarios": {sc.name: {"title": sc.title, "kind": sc.kind, "path": sc.path, "unit": sc.unit,
                                       "conns": sc.conns, "latency": sc.latency,
                                       "size": sc.size if sc.kind == "ws" else None} for sc in scenarios},
               "results": [dict(v) for v in results.values()],
               "ratios": {f"{sc.name}:{num}/{d}": ratio(results, sc.name, num, d)
                          for sc in scenarios for _, num, den in RATIOS
                          for d in [den.get(sc.name) if isinstance(den, dict) else den] if d},
               "targets": [{"scenario": scn, "num": num, "den": den, "min": need,
                            "ratio": ratio(results, scn, num, den)}
                           for scn, num, den, need in expand_targets(scenarios, servers)]}
    out.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n")
    print(md)
    log(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
