#!/usr/bin/env python3
"""FastrAPI real-time benchmark: broadcast fan-out, idle-connection memory and a chat-shaped load, side by
side with FastAPI + uvicorn + the `broadcaster` library (in-memory and Redis backends).

Same conventions as bench/run.py: every server pinned to one core (taskset -c 1), the load client to the
other (taskset -c 0); each (server, scenario) pair gets a freshly started server on a free port of 127.0.0.1
that is always stopped afterwards (SIGTERM to its group, then SIGKILL). The Redis variants get a fresh
redis-server on a free loopback port too (pinned to --redis-cpu, default the load's core).

    python3 bench/realtime.py             # runs bench/setup.sh first, then everything (about 8 min)
    python3 bench/realtime.py --quick     # 3 s per measurement
    python3 bench/realtime.py --only fanout-1k,ours,fastapi

Writes bench/results/realtime.md and bench/results/realtime.json; server logs go to bench/results/logs/.
Uses only the standard library (and helpers of bench/run.py).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (helpers shared with the throughput benchmark)

BENCH = bench.BENCH
VENVS = bench.VENVS
APPS, LOAD, RESULTS, LOGS = bench.APPS, bench.LOAD, bench.RESULTS, bench.LOGS
log = bench.log


class Server:
    def __init__(self, name: str, label: str, venv: str, script: str, redis: bool) -> None:
        self.name, self.label, self.venv, self.script, self.redis = name, label, venv, script, redis

    @property
    def python(self) -> Path:
        return VENVS / self.venv / "bin" / "python"


SERVERS = [
    Server("ours", "FastrAPI (memory)", "ours", "rt_ours.py", False),
    Server("fastapi", "FastAPI+broadcaster (memory)", "fastapi", "rt_fastapi.py", False),
    Server("ours-redis", "FastrAPI (Redis)", "ours", "rt_ours.py", True),
    Server("fastapi-redis", "FastAPI+broadcaster (Redis)", "fastapi", "rt_fastapi.py", True),
    # Ceiling: one uvloop transport.write per delivery and nothing else (fan-out scenarios only)
    Server("bare", "bare uvloop fan-out (ceiling)", "ours", "rt_bare.py", False),
]


class Scenario:
    def __init__(self, name: str, title: str, kind: str, conns: int, unit: str, higher_better: bool,
                 servers: tuple[str, ...] | None = None, extra: tuple[str, ...] = ()) -> None:
        self.name, self.title, self.kind, self.conns = name, title, kind, conns
        self.unit, self.higher_better, self.servers = unit, higher_better, servers
        self.extra = extra  # more arguments for rt_load.py

    def serves(self, server: Server) -> bool:
        return self.servers is None or server.name in self.servers


SCENARIOS = [
    Scenario("fanout-1k", "fan-out, 1,000 subscribers", "fanout", 1000, "deliveries/s", True),
    Scenario("fanout-5k", "fan-out, 5,000 subscribers", "fanout", 5000, "deliveries/s", True),
    Scenario("idle-10k", "10,000 idle connections (handler in receive)", "idle", 10000, "KB/conn", False,
             servers=("ours", "fastapi")),
    Scenario("idle-sub-10k", "10,000 idle subscribers of one channel", "idle", 10000, "KB/conn", False,
             servers=("ours", "fastapi"), extra=("--idle-path", "/sub/idle")),
    Scenario("chat-1k", "chat, 1,000 clients in 10 rooms, 1 msg/s each", "chat", 1000, "p99 ms", False,
             servers=("ours", "fastapi", "ours-redis", "fastapi-redis")),
]

# (scenario, numerator, denominator, minimum): rate(num)/rate(den) >= minimum; for "lower is better" units
# the ratio is den/num (how many times smaller ours is).
TARGETS = [
    ("fanout-1k", "ours", "fastapi", 10.0),
    ("fanout-5k", "ours", "fastapi", 10.0),
    ("fanout-1k", "ours-redis", "fastapi-redis", 10.0),
    ("fanout-5k", "ours-redis", "fastapi-redis", 10.0),
    ("idle-10k", "ours", "fastapi", 4.0),
]


def raise_nofile() -> int:
    """RLIMIT_NOFILE to its hard limit; the servers and the load client inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


Proc = bench.Proc


def start_redis(args, tag: str) -> tuple[Proc | None, int, str | None]:
    """A fresh redis-server on a free loopback port, no persistence. (proc, port, error)."""
    exe = shutil.which(args.redis_server)
    if exe is None:
        return None, 0, f"{args.redis_server} not found (apt-get install redis-server)"
    port = bench.free_port()
    cmd = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning"]
    proc = Proc(cmd, LOGS / f"redis{tag}.log", args.redis_cpu, cwd=Path("/tmp"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not proc.alive():
            return proc, port, f"redis-server exited with code {proc.returncode()}"
        if bench.port_open(port):
            return proc, port, None
        time.sleep(0.05)
    return proc, port, "redis-server not listening after 10 s"


def load_cmd(args, sc: Scenario, port: int, pid: int, redis_pid: int | None) -> list[str]:
    conns = max(1, round(sc.conns * args.scale))
    cmd = [str(VENVS / "load" / "bin" / "python"), str(LOAD / "rt_load.py"), sc.kind, f"ws://127.0.0.1:{port}",
           "--conns", str(conns), "--duration", str(args.duration), "--warmup", str(args.warmup),
           "--pid", str(pid)]
    if redis_pid:
        cmd += ["--redis-pid", str(redis_pid)]
    if sc.kind == "fanout":
        cmd += ["--window", str(args.window)]
    if sc.kind == "chat":
        cmd += ["--rooms", "10"]
    cmd += list(sc.extra)
    if args.client_cpu is not None:
        cmd = ["taskset", "-c", str(args.client_cpu)] + cmd
    return cmd


def measure(server: Server, sc: Scenario, args, tag: str) -> dict:
    """Start Redis (if needed) and the server, run the load client, stop everything. A result dict."""
    res: dict = {"server": server.name, "scenario": sc.name, "status": "failed", "rate": None}
    if not server.python.exists() or not (VENVS / server.venv / ".ok").exists():
        res["error"] = f"venv {VENVS / server.venv} missing or incomplete: run bench/setup.sh"
        return res
    if not (VENVS / "load" / ".ok").exists():
        res["error"] = "venv bench/.venvs/load missing: run bench/setup.sh"
        return res
    if args.idle_wait > 0:
        busy = bench.wait_quiet(args.idle_wait)
        if busy >= 10.0:
            res["busy_before"] = round(busy, 1)
    LOGS.mkdir(parents=True, exist_ok=True)
    redis = proc = None
    try:
        env = {}
        redis_pid = None
        if server.redis:
            redis, rport, err = start_redis(args, f"-{server.name}-{sc.name}{tag}")
            if err:
                res["error"] = err
                return res
            env["BENCH_BROADCAST_URL"] = f"redis://127.0.0.1:{rport}" + (
                f"?{args.redis_options}" if args.redis_options else "")
            redis_pid = redis.pid
        if server.venv == "ours" and os.environ.get("BENCH_OURS_PYTHONPATH"):
            env["PYTHONPATH"] = os.environ["BENCH_OURS_PYTHONPATH"]  # e.g. a worktree instead of the install
        port = bench.free_port()
        logpath = LOGS / f"rt-{server.name}-{sc.name}{tag}.log"
        proc = Proc([str(server.python), str(APPS / server.script), str(port)], logpath, args.server_cpu, env)
        err = bench.wait_listening(proc, port, args.start_timeout)
        if err:
            res["error"] = err
            res["log_tail"] = bench.tail(logpath)
            return res
        cmd = load_cmd(args, sc, port, proc.pid, redis_pid)
        limit = args.duration + args.warmup + sc.conns / 50 + 120
        t0, c0, s0 = time.monotonic(), bench.children_cpu(), bench.cpu_ticks(proc.pid)
        try:
            cp = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
            load = None
            for line in reversed(cp.stdout.splitlines()):
                if line.startswith("{"):
                    load = json.loads(line)
                    break
            if load is None:
                load = {"ok": False, "rate": 0.0,
                        "error": f"load client gave no result (exit {cp.returncode}): {cp.stderr.strip()[-300:]}"}
        except subprocess.TimeoutExpired:
            load = {"ok": False, "rate": 0.0, "error": f"load client did not finish in {limit:.0f} s"}
        wall, s1 = time.monotonic() - t0, bench.cpu_ticks(proc.pid)
        res["load"] = load
        res["wall_s"] = round(wall, 1)
        if s0 is not None and s1 is not None:
            res["server_cpu_total"] = round(100 * (s1 - s0) / os.sysconf("SC_CLK_TCK") / wall, 1)
        res["client_cpu_total"] = round(100 * (bench.children_cpu() - c0) / wall, 1)
        cpu = load.get("cpu") or {}
        res["server_cpu"], res["client_cpu"], res["other_cpu"] = cpu.get("server"), cpu.get("client"), cpu.get("other")
        res["redis_cpu"] = cpu.get("redis")
        time.sleep(0.2)
        if not proc.alive():
            res["status"] = "crashed"
            res["error"] = f"server exited with code {proc.returncode()} during the load" + (
                f" ({load.get('error')})" if load.get("error") else "")
            res["log_tail"] = bench.tail(logpath)
            return res
        res["rate"] = load.get("rate") or 0.0
        res["status"] = "ok" if load.get("ok") else "error"
        if load.get("error"):
            res["error"] = load["error"]
            res["log_tail"] = bench.tail(logpath)
        return res
    except Exception as exc:  # noqa: BLE001 - never let one pair stop the run
        res["status"] = "error"
        res["error"] = f"runner: {type(exc).__name__}: {exc}"
        return res
    finally:
        if proc is not None:
            proc.stop()
        if redis is not None:
            redis.stop()


# --------------------------------------------------------------------------------------------- report
NOISY = 25.0


def noisy(r: dict) -> bool:
    return (r.get("other_cpu") or 0) > NOISY or "busy_before" in r


def client_bound(r: dict) -> bool:
    """The load client, not the server, set the pace (fan-out): client near 100 %, server clearly under."""
    return (r.get("client_cpu") or 0) > 90 and (r.get("server_cpu") or 100) < 85


def fmt(r: dict | None, sc: Scenario) -> str:
    if r is None:
        return "-"
    st = r["status"]
    load = r.get("load") or {}
    mark = (" ~" if noisy(r) else "") + (" (c)" if sc.kind == "fanout" and client_bound(r) else "")
    if sc.kind == "chat":
        if st not in ("ok", "error") or not load.get("expected"):
            return st
        p50, p99 = load.get("p50_ms"), load.get("p99_ms")
        txt = f"{_ms(p99)} (p50 {_ms(p50)})"
        if load.get("missing"):
            txt += f", {load.get('delivered_pct')}% delivered"
        return txt + mark + (" (!)" if st == "error" else "")
    if st == "ok":
        return (f"{r['rate']:,.0f}" if sc.kind == "fanout" else f"{r['rate']:.2f}") + mark
    if st == "error" and r.get("rate"):
        return (f"{r['rate']:,.0f}" if sc.kind == "fanout" else f"{r['rate']:.2f}") + " (!)"
    return st


def _ms(v) -> str:
    if v is None:
        return "-"
    if v == "inf":
        return "> drain"
    return f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"


def ratio(results: dict, sc: Scenario, num: str, den: str) -> float | None:
    a, b = results.get((num, sc.name)), results.get((den, sc.name))
    if not a or not b or a["status"] != "ok" or b["status"] != "ok" or not a["rate"] or not b["rate"]:
        return None
    return a["rate"] / b["rate"] if sc.higher_better else b["rate"] / a["rate"]


def render(results: dict, scenarios: list[Scenario], servers: list[str], args, env: dict, load0: str,
           elapsed: float) -> str:
    S = {s.name: s for s in SERVERS}
    lines = [
        "# FastrAPI real-time benchmark",
        "",
        f"{env['date']} · {env.get('cpu', '?')} · {env['host_cpus']} cores · servers on CPU {args.server_cpu}, "
        f"load on CPU {args.client_cpu}, redis-server on CPU {args.redis_cpu} · {args.duration:g} s per "
        f"measurement (+{args.warmup:g} s warmup) · fan-out window {args.window} · connections x{args.scale:g} · "
        f"repeat {args.repeat} (median) · git {env.get('git') or 'none'} · load average at start {load0}",
        "",
        "fan-out: deliveries/s (messages received by all subscribers together; higher is better); "
        "idle: server RSS per idle WebSocket, KB (lower is better); chat: p99 delivery latency (p50 in "
        "brackets; lower is better). `~` measured while other processes used the machine, `(c)` the load "
        "client rather than the server set the pace, `(!)` with errors.",
        "",
    ]
    head = ["scenario", "unit"] + [S[s].label for s in servers] + ["ours/FastAPI", "ours/FastAPI (Redis)", "ours/bare"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for sc in scenarios:
        row = [sc.title, sc.unit]
        for s in servers:
            row.append(fmt(results.get((s, sc.name)), sc) if sc.serves(S[s]) else "")
        for num, den in (("ours", "fastapi"), ("ours-redis", "fastapi-redis"), ("ours", "bare")):
            r = ratio(results, sc, num, den)
            row.append(f"{r:.2f}x" if r is not None else "")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Ratios: fan-out rate(ours)/rate(other); idle and chat: FastAPI's figure / ours (how many "
              "times smaller ours is). The bare ceiling does one uvloop `transport.write` per delivery and "
              "nothing else: what any server writing each subscriber's frame separately pays at least.", ""]
    lines += ["## Targets (ratios measured in this run)", "",
              "| scenario | ratio | target | measured | verdict |", "|---|---|---|---|---|"]
    scn_names = {sc.name: sc for sc in scenarios}
    for scn, num, den, need in TARGETS:
        if scn not in scn_names or num not in servers or den not in servers:
            continue
        r = ratio(results, scn_names[scn], num, den)
        what = f"{num} / {den}" if scn_names[scn].higher_better else f"{den} / {num}"
        verdict = "n/a" if r is None else ("PASS" if r >= need else "FAIL")
        lines.append(f"| {scn} | {what} | >= {need:g}x | {'-' if r is None else f'{r:.2f}x'} | {verdict} |")

    details = []
    for (s, scn), r in sorted(results.items()):
        load = r.get("load") or {}
        sc = scn_names[scn]
        bits = []
        if sc.kind == "fanout" and load.get("deliveries"):
            bits.append(f"{load['messages_per_s']:,.0f} messages/s to {load['conns']} subscribers, "
                        f"{load['deliveries']:,} deliveries in {load['seconds']} s")
        if sc.kind == "idle" and load.get("rss_after"):
            bits.append(f"VmRSS {load['rss_before'] / 2**20:.1f} MiB with {load['warm']} connections -> "
                        f"{load['rss_after'] / 2**20:.1f} MiB with {load['warm'] + load['conns']}: "
                        f"{load['bytes_per_conn']:,} B per connection; {load.get('connects_per_s')} connects/s")
        if sc.kind == "chat" and load.get("expected"):
            bits.append(f"{load['delivered']:,}/{load['expected']:,} deliveries "
                        f"(offered {load['offered_per_s']:,.0f}/s); "
                        f"p50 {_ms(load['p50_ms'])}, p90 {_ms(load['p90_ms'])}, p99 {_ms(load['p99_ms'])}, "
                        f"p99.9 {_ms(load['p999_ms'])}, max {_ms(load['max_ms'])}")
        if r.get("server_cpu") is not None:
            cpu = f"CPU during the measured period: server {r['server_cpu']:.0f}%, load {r['client_cpu']:.0f}%"
            if r.get("redis_cpu") is not None:
                cpu += f", redis {r['redis_cpu']:.0f}%"
            bits.append(cpu + f", other {max(0.0, r.get('other_cpu') or 0):.0f}%")
        if bits:
            details.append(f"- {s} / {scn}: " + "; ".join(bits))
    if details:
        lines += ["", "## Details", ""] + details
    notes = []
    for (s, scn), r in sorted(results.items()):
        if r["status"] != "ok" or r.get("error"):
            notes.append(f"- **{s} / {scn}: {r['status']}** — {r.get('error') or ''}".rstrip(" —"))
        if r["status"] == "ok" and noisy(r):
            why = []
            if "busy_before" in r:
                why.append(f"machine {r['busy_before']:.0f}% busy before the start")
            if (r.get("other_cpu") or 0) > NOISY:
                why.append(f"other processes used {r['other_cpu']:.0f}% of a core during it")
            notes.append(f"- ~ {s} / {scn}: measured on a busy machine ({'; '.join(why)}): not reliable")
        if r["status"] == "ok" and scn_names[scn].kind == "fanout" and client_bound(r):
            notes.append(f"- (c) {s} / {scn}: the load client was at {r['client_cpu']:.0f}% and the server at "
                         f"{r['server_cpu']:.0f}%: the server's capacity is higher than this rate")
    if notes:
        lines += ["", "## Failures and warnings", ""] + notes
    lines += ["", "Versions: " + json.dumps(env["versions"]), f"Total time {elapsed:.0f} s."]
    return "\n".join(lines) + "\n"


def versions() -> dict:
    """Package versions from the venvs' .ok stamps (pip freeze)."""
    want = {"ours": ("uvloop", "httptools", "orjson", "redis", "hiredis"),
            "fastapi": ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "websockets", "broadcaster",
                        "redis", "hiredis", "anyio"),
            "load": ("uvloop",)}
    out: dict = {}
    for venv, pkgs in want.items():
        ok = VENVS / venv / ".ok"
        if not ok.exists():
            out[venv] = "missing"
            continue
        lines = ok.read_text().splitlines()
        v = {"python": lines[0].split()[-1] if lines else "?"}
        for ln in lines[1:]:
            name = ln.split("==", 1)[0].lower().replace("_", "-")
            if name in pkgs and "==" in ln:
                v[name] = ln.split("==", 1)[1]
        out[venv] = v
    try:
        out["redis-server"] = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                                             timeout=5).stdout.split()[2].removeprefix("v=")
    except Exception:  # noqa: BLE001
        out["redis-server"] = None
    return out


def combine(runs: list[dict], sc: Scenario) -> dict:
    """The median run of the ok ones (by rate); the first failure when none was ok."""
    ok = sorted((r for r in runs if r["status"] == "ok"), key=lambda r: r["rate"])
    if not ok:
        return runs[0]
    best = dict(ok[len(ok) // 2])
    best["rate"] = statistics.median(r["rate"] for r in ok)
    best["runs"] = [r["rate"] for r in ok]
    if len(ok) < len(runs):
        best["error"] = f"{len(runs) - len(ok)} of {len(runs)} repeats not ok: " + "; ".join(
            f"{r['status']}: {r.get('error')}" for r in runs if r["status"] != "ok")
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds measured per pair (default 10)")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring (default 2)")
    ap.add_argument("--quick", action="store_true", help="3 s per measurement, 1 s warmup")
    ap.add_argument("--repeat", type=int, default=1, help="measure each pair N times, report the median")
    ap.add_argument("--only", default="", help="comma-separated scenario and/or server names (globs allowed); "
                    "scenarios: " + ", ".join(s.name for s in SCENARIOS) + "; servers: " +
                    ", ".join(s.name for s in SERVERS))
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply every connection count (e.g. 0.1 for a smoke test; default 1)")
    ap.add_argument("--window", type=int, default=16,
                    help="fan-out: messages published but not yet received by every subscriber (default 16)")
    ap.add_argument("--server-cpu", default="1", help="CPU list for the servers (taskset), default 1")
    ap.add_argument("--client-cpu", default="0", help="CPU list for the load client, default 0")
    ap.add_argument("--redis-cpu", default="0", help="CPU list for redis-server, default 0 (the load's core)")
    ap.add_argument("--redis-server", default="redis-server", help="redis-server executable")
    ap.add_argument("--redis-options", default="",
                    help="query string added to the Redis URL both servers get, e.g. 'max_connections=2000' "
                         "(redis-py's async pool allows 100 connections and then raises)")
    ap.add_argument("--start-timeout", type=float, default=20.0)
    ap.add_argument("--idle-wait", type=float, default=30.0,
                    help="wait up to this many seconds for a quiet machine before each measurement (0: don't)")
    ap.add_argument("--noisy-threshold", type=float, default=25.0,
                    help="flag a measurement when other CPU use exceeded this percent of one core (default 25)")
    ap.add_argument("--noisy-retries", type=int, default=1,
                    help="measure a pair again (up to N times) when it ran on a busy machine (default 1)")
    ap.add_argument("--no-setup", action="store_true", help="do not run bench/setup.sh first")
    ap.add_argument("--out", default=str(RESULTS / "realtime"), help="output path without extension")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.warmup = 3.0, 1.0
    global NOISY
    NOISY = args.noisy_threshold
    for k in ("server_cpu", "client_cpu", "redis_cpu"):
        if getattr(args, k).lower() == "none":
            setattr(args, k, None)

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
    pairs = [(sc, S[s]) for sc in scenarios for s in servers if sc.serves(S[s])]
    if not pairs:
        ap.error("nothing to run with that --only")
    for cpus in (args.server_cpu, args.client_cpu, args.redis_cpu):
        if cpus is not None and subprocess.run(["taskset", "-c", cpus, "true"], capture_output=True).returncode:
            ap.error(f"cannot pin to CPU {cpus} (see --server-cpu/--client-cpu/--redis-cpu, or 'none')")
    nofile = raise_nofile()
    need = max(round(sc.conns * args.scale) for sc, _ in pairs) + 300
    if nofile < need:
        log(f"warning: RLIMIT_NOFILE hard limit is {nofile}, {need} needed: raise it (ulimit -Hn) or use --scale")

    if not args.no_setup:
        needed = sorted({sv.venv for _, sv in pairs} | {"load"})
        log(f"bench/setup.sh {' '.join(needed)} (venvs are reused; --no-setup skips this)")
        try:
            subprocess.run(["bash", str(BENCH / "setup.sh"), *needed], timeout=1800)
        except subprocess.TimeoutExpired:
            log("setup.sh did not finish in 30 min; going on with what is there")
    env = bench.environment()
    env["versions"] = versions()
    load0 = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    log(f"{len(pairs)} measurements x {args.repeat}")
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
                log(f"{sc.name:10} {server.name:14} measured on a busy machine (other {last.get('other_cpu')}%): "
                    "measuring again")
                last = measure(server, sc, args, tag)
                if last["status"] == "ok" and (last.get("other_cpu") or 0) < (r.get("other_cpu") or 0):
                    r = last
            runs.setdefault((server.name, sc.name), []).append(r)
            log(f"{sc.name:10} {server.name:14} {r['status']:8} {fmt(r, sc)} {sc.unit}"
                + (f"  [{r['error'][:200]}]" if r.get("error") else ""))
    SC = {sc.name: sc for sc in SCENARIOS}
    results = {k: combine(v, SC[k[1]]) for k, v in runs.items()}
    elapsed = time.monotonic() - t_start

    md = render(results, scenarios, [s for s in servers if any(sc.serves(S[s]) for sc in scenarios)],
                args, env, load0, elapsed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(md)
    payload = {"environment": env, "load_average_at_start": load0,
               "settings": {k: getattr(args, k) for k in ("duration", "warmup", "repeat", "scale", "window",
                                                          "server_cpu", "client_cpu", "redis_cpu")},
               "scenarios": {sc.name: {"title": sc.title, "kind": sc.kind, "conns": round(sc.conns * args.scale),
                                       "unit": sc.unit, "higher_better": sc.higher_better} for sc in scenarios},
               "results": [dict(v) for v in results.values()],
               "targets": [{"scenario": scn, "num": num, "den": den, "min": need,
                            "ratio": ratio(results, SC[scn], num, den)} for scn, num, den, need in TARGETS
                           if scn in {s.name for s in scenarios}]}
    out.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n")
    print(md)
    log(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
