#!/usr/bin/env python3
"""Soak test: mixed HTTP + WebSocket load at about 80 % of capacity for a long time; memory, fds and latency
must stay flat.  Not part of CI.

The server (``bench/apps/ours_app.py``, this repository's code) runs pinned to CPU 1, this load generator to
CPU 0.  First the capacity is measured (every connection as fast as it can for ``--calibrate`` seconds), then
the load is paced at ``--load`` (0.8) of it.  Every ``--interval`` seconds one row: requests and messages
answered per second, p50/p99 latency, the server's RSS and open file descriptors, errors.

    python3 bench/soak.py                  # 10 minutes
    python3 bench/soak.py --seconds 60     # a smoke run

The load mix, per 100 operations: 60 ``GET /json`` and 15 ``POST /users`` on keep-alive connections, 20 echoed
WebSocket messages on open WebSockets, 3 requests on a new connection (``Connection: close``) and 2 WebSocket
sessions opened, used once and closed (connection churn).  Needs only the standard library (uvloop if present).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

GET = b"GET /json HTTP/1.1\r\nHost: soak\r\n\r\n"
GET_BODY = b'{"Hello":"World"}'
USER = b'{"name":"soak","age":42,"email":"soak@example.com"}'
POST = b"POST /users HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(USER), USER)
GET_CLOSE = b"GET /json HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n"
MIX = ["get"] * 60 + ["post"] * 15 + ["ws"] * 20 + ["new-http"] * 3 + ["new-ws"] * 2


def interleave(mix: list[str]) -> list[str]:
    """The same operations spread evenly over the cycle (not 60 GETs in a row)."""
    kinds = sorted(set(mix), key=mix.index)
    counts = {k: mix.count(k) for k in kinds}
    slots = sorted((i / counts[k], k) for k in kinds for i in range(counts[k]))
    return [k for _, k in slots]


CYCLE = interleave(MIX)


# ---------------------------------------------------------------------- a minimal client
class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> "Conn":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    def close(self) -> None:
        self.writer.close()

    async def http(self, request: bytes, expect: bytes | None) -> None:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200 "):
            raise RuntimeError(f"unexpected answer {head[:60]!r}")
        i = head.lower().index(b"content-length: ") + 16
        body = await self.reader.readexactly(int(head[i:head.index(b"\r\n", i)]))
        if expect is not None and body != expect:
            raise RuntimeError(f"unexpected body {body[:60]!r}")

    async def upgrade(self) -> None:
        key = base64.b64encode(os.urandom(16))
        self.writer.write(b"GET /ws HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101 "):
            raise RuntimeError(f"handshake refused: {head[:60]!r}")

    async def echo(self, text: bytes) -> None:
        # a masked text frame (mask 0: the payload goes as is; the server unmasks all the same)
        self.writer.write(struct.pack("!BB", 0x81, 0x80 | len(text)) + b"\0\0\0\0" + text)
        while True:
            b0, b1 = await self.reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.reader.readexactly(2))[0]
            payload = await self.reader.readexactly(n)
            if b0 != 0x89:
                break
            self.writer.write(struct.pack("!BB", 0x8A, 0x80 | n) + b"\0\0\0\0" + payload)  # the server's keepalive
        if b0 != 0x81 or payload != text:
            raise RuntimeError(f"bad echo {b0:#x} {payload[:40]!r}")

    async def ws_close(self) -> None:
        self.writer.write(b"\x88\x82\0\0\0\0\x03\xe8")
        await self.reader.readexactly(4)


# ---------------------------------------------------------------------- load
class Stats:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {"http": [], "ws": []}
        self.done = 0
        self.errors = 0
        self.first_error: str | None = None

    def take(self) -> tuple[int, dict[str, list[float]], int]:
        done, lat, errors = self.done, self.latencies, self.errors
        self.done, self.latencies, self.errors = 0, {"http": [], "ws": []}, 0
        return done, lat, errors


async def worker(port: int, stats: Stats, n: int, interval: list[float], stop_at: float) -> None:
    """One keep-alive HTTP connection and one WebSocket; an operation every ``interval[0]`` seconds (0: flat out)."""
    http = await Conn.open(port)
    ws = await Conn.open(port)
    await ws.upgrade()
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    i = n * 7
    try:
        while loop.time() < stop_at:
            if interval[0]:
                next_at = max(next_at + interval[0], loop.time() - 1.0)  # at most 1 s of backlog
                delay = next_at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            kind = CYCLE[i % len(CYCLE)]
            i += 1
            start = time.perf_counter()
            try:
                if kind == "get":
                    await http.http(GET, GET_BODY)
                elif kind == "post":
                    await http.http(POST, USER)
                elif kind == "ws":
                    await ws.echo(b"soak message %d" % i)
                elif kind == "new-http":
                    c = await Conn.open(port)
                    try:
                        await c.http(GET_CLOSE, GET_BODY)
                    finally:
                        c.close()
                else:
                    c = await Conn.open(port)
                    try:
                        await c.upgrade()
                        await c.echo(b"hello")
                        await c.ws_close()
                    finally:
                        c.close()
            except (OSError, RuntimeError, asyncio.IncompleteReadError, ValueError) as exc:
                stats.errors += 1
                stats.first_error = stats.first_error or f"{kind}: {exc!r}"
                http.close()
                ws.close()
                await asyncio.sleep(0.1)
                http = await Conn.open(port)
                ws = await Conn.open(port)
                await ws.upgrade()
                continue
            stats.latencies["ws" if kind in ("ws", "new-ws") else "http"].append(time.perf_counter() - start)
            stats.done += 1
    finally:
        http.close()
        ws.close()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


def proc_rss_fds(pid: int) -> tuple[float, int]:
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return rss / 1024, len(os.listdir(f"/proc/{pid}/fd"))


async def run(args: argparse.Namespace, port: int, pid: int) -> int:
    stats = Stats()
    loop = asyncio.get_running_loop()
    interval = [0.0]

    # 1. capacity: every connection flat out
    stop_at = loop.time() + args.calibrate
    tasks = [asyncio.create_task(worker(port, stats, n, interval, stop_at)) for n in range(args.connections)]
    await asyncio.sleep(1.0)
    stats.take()
    t0 = loop.time()
    await asyncio.gather(*tasks)
    capacity = stats.take()[0] / (loop.time() - t0)
    rate = capacity * args.load
    interval[0] = args.connections / rate
    print(f"capacity {capacity:,.0f} ops/s (client and server together); pacing at {args.load:.0%}: {rate:,.0f} ops/s"
          f" over {args.connections} connections + their WebSockets", flush=True)
    print(f"{'time':>6} {'ops/s':>8} {'http p50':>9} {'http p99':>9} {'ws p50':>7} {'ws p99':>7} "
          f"{'RSS MiB':>8} {'fds':>5} {'errors':>6}", flush=True)

    # 2. the soak, one row per interval
    start = loop.time()
    stop_at = start + args.seconds
    tasks = [asyncio.create_task(worker(port, stats, n, interval, stop_at)) for n in range(args.connections)]
    rows = []
    last = start
    failed = 0
    while loop.time() < stop_at - 0.5:
        await asyncio.sleep(min(args.interval, stop_at - loop.time()))
        now = loop.time()
        done, lat, errors = stats.take()
        failed += errors
        try:
            rss, fds = proc_rss_fds(pid)
        except OSError:
            print("the server process is gone", flush=True)
            return 1
        rows.append((rss, fds, pct(lat["http"], 0.99)))
        print(f"{now - start:6.0f} {done / (now - last):8,.0f} {pct(lat['http'], 0.5):7.2f}ms {pct(lat['http'], 0.99):7.2f}ms "
              f"{pct(lat['ws'], 0.5):5.2f}ms {pct(lat['ws'], 0.99):5.2f}ms {rss:8.1f} {fds:5d} {errors:6d}", flush=True)
        last = now
    await asyncio.gather(*tasks)
    if stats.first_error:
        print(f"first error: {stats.first_error}")
    if len(rows) >= 2:
        print(f"drift first -> last row: RSS {rows[-1][0] - rows[0][0]:+.1f} MiB, fds {rows[-1][1] - rows[0][1]:+d}, "
              f"http p99 {rows[0][2]:.2f} -> {rows[-1][2]:.2f} ms")
    return 1 if failed else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600, help="length of the soak (default 600)")
    parser.add_argument("--interval", type=float, default=30, help="seconds per printed row (default 30)")
    parser.add_argument("--calibrate", type=float, default=5, help="seconds of flat-out load to measure capacity")
    parser.add_argument("--load", type=float, default=0.8, help="fraction of the capacity to pace at (default 0.8)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive HTTP connections (and as many WebSockets)")
    parser.add_argument("--server-cpu", default="1", help="CPU for the server (taskset), 'none' to not pin")
    parser.add_argument("--client-cpu", default="0", help="CPU for this load generator, 'none' to not pin")
    args = parser.parse_args()

    port = free_port()
    cmd = [sys.executable, str(BENCH / "apps" / "ours_app.py"), str(port)]
    if args.server_cpu != "none":
        cmd = ["taskset", "-c", args.server_cpu, *cmd]
    if args.client_cpu != "none":
        os.sched_setaffinity(0, {int(args.client_cpu)})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    server = subprocess.Popen(cmd, cwd=BENCH / "apps", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    print("the server did not start", file=sys.stderr)
                    return 2
                time.sleep(0.1)
        try:
            import uvloop
            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        return runner(run(args, port, server.pid))
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(5)


if __name__ == "__main__":
    sys.exit(main())
