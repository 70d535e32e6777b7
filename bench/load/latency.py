"""Latency at a fixed request rate (open loop): HTTP/1.1 keep-alive GETs or WebSocket echoes, uvloop.

Requests are *scheduled* at fixed intervals (rate R: request i is due at t0 + i/R) whatever the server
does, and sent over N connections, one request in flight per connection: a due request goes out on an
idle connection, or waits in a FIFO until one is idle.  Latency is measured from the *scheduled* time to
the complete, checked answer, so a slow answer that holds up later requests counts against all of them
(no coordinated omission, as in wrk2).  Between due times the sender spins on the event loop (uvloop's
timers have 1 ms resolution, far coarser than the answers measured): the client's core is busy, which is
why it runs on its own core.

HTTP: raw asyncio.Protocol, the request written as bytes, the answer parsed just enough (status line,
Content-Length) and its body compared with --expect.  WebSocket: picows (Cython), text messages of
--size bytes compared byte for byte with what was sent.

Prints one JSON object: {"ok", "offered_rate", "rate", "count", "p50_us", "p90_us", "p99_us",
"p999_us", "max_us", "send_lag_p99_us", "queued", "max_queue", "error", ...}.  Everything is bounded:
connecting, the run, the drain (--drain seconds for answers still due), and a hard deadline.

    python latency.py http://127.0.0.1:8000/json --rate 1000 --conns 50 --expect '{"Hello":"World"}'
    python latency.py ws://127.0.0.1:8000/ws --rate 1000 --conns 50 --size 16
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections import deque
from urllib.parse import urlsplit

import uvloop

now_ns = time.monotonic_ns


class Run:
    """The schedule, the idle connections, the waiting requests and the samples of one run."""

    def __init__(self, rate: float, window: tuple[int, int]):
        self.interval = 1e9 / rate
        # connections with nothing in flight, used in turn (FIFO): each connection carries 1/N of the load,
        # none sits idle long enough for the server's keep-alive timeout to close it
        self.idle: deque = deque()
        self.waiting: deque = deque()   # due times of requests that found no idle connection
        self.window = window            # (start, end) of the measured period, ns: by due time
        self.samples: list[int] = []    # latency (ns) of the requests due in the window
        self.lags: list[int] = []       # actual send - due time (ns), requests sent at once, in the window
        self.queued = 0                 # requests of the window that waited for a connection
        self.max_queue = 0
        self.sent = 0
        self.done = 0
        self.errors: list[str] = []
        self.bad = 0                    # wrong answers
        self.lost = 0                   # connections lost during the run
        self.stopping = False

    def error(self, msg: str) -> None:
        if len(self.errors) < 5 and msg not in self.errors:
            self.errors.append(msg)

    def due(self, t: int) -> None:
        """A request is due at t: send it on an idle connection or queue it."""
        if self.idle:
            conn = self.idle.popleft()
            sent = now_ns()
            conn.send(t)
            if self.window[0] <= t < self.window[1]:
                self.lags.append(sent - t)
        else:
            self.waiting.append(t)
            if self.window[0] <= t < self.window[1]:
                self.queued += 1
            if len(self.waiting) > self.max_queue:
                self.max_queue = len(self.waiting)

    def complete(self, conn, t: int, ok: bool) -> None:
        """conn's answer to the request due at t arrived (checked: ok)."""
        end = now_ns()
        self.done += 1
        if not ok:
            self.bad += 1
        elif self.window[0] <= t < self.window[1]:
            self.samples.append(end - t)
        if self.waiting:
            conn.send(self.waiting.popleft())
        else:
            self.idle.append(conn)


# --- HTTP ------------------------------------------------------------------------------------------------

class HttpConn(asyncio.Protocol):
    def __init__(self, run: Run, request: bytes, expect):
        self.run, self.request, self.expect = run, request, expect
        self.transport = None
        self.buf = b""
        self.t = None           # due time of the request in flight
        self.good_body = None   # the last body that matched (compared as bytes first)
        self.gone = False
        self.connected = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.connected.set_result(None)

    def send(self, t: int) -> None:
        self.t = t
        self.run.sent += 1
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = buf[:head_end].lower()
            i = head.find(b"\r\ncontent-length:")
            if i < 0:
                self.run.error("answer without Content-Length: " + repr(buf[:200]))
                self.transport.abort()
                return
            j = head.find(b"\r\n", i + 2)
            length = int(head[i + 17: j if j >= 0 else len(head)])
            end = head_end + 4 + length
            if len(buf) < end:
                break
            body = buf[head_end + 4: end]
            ok = buf.startswith(b"HTTP/1.1 200 ") and (body == self.good_body or self.check(body))
            if not ok:
                self.run.error(f"unexpected answer: {buf[:end][:200]!r}")
            buf = buf[end:]
            t, self.t = self.t, None
            if t is None:
                self.run.error("an answer nobody asked for")
                continue
            self.run.complete(self, t, ok)
        self.buf = buf

    def check(self, body: bytes) -> bool:
        try:
            ok = json.loads(body) == self.expect
        except ValueError:
            return False
        if ok:
            self.good_body = body
        return ok

    def connection_lost(self, exc):
        self.gone = True
        if not self.run.stopping:
            self.run.lost += 1
            self.run.error(f"connection lost: {exc}")


async def connect_http(url, run: Run, expect, timeout: float) -> HttpConn:
    u = urlsplit(url)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    request = f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n".encode()
    loop = asyncio.get_running_loop()
    _, conn = await asyncio.wait_for(
        loop.create_connection(lambda: HttpConn(run, request, expect), u.hostname, u.port), timeout)
    return conn


# --- WebSocket --------------------------------------------------------------------------------------------

def ws_client_class():
    from picows import WSListener, WSMsgType

    TEXT, CLOSE = WSMsgType.TEXT, WSMsgType.CLOSE

    class WsConn(WSListener):
        def __init__(self, run: Run, payload: bytes):
            self.run, self.payload = run, payload
            self.transport = None
            self.t = None
            self.gone = False

        def on_ws_connected(self, transport):
            self.transport = transport

        def send(self, t: int) -> None:
            self.t = t
            self.run.sent += 1
            self.transport.send(TEXT, self.payload)

        def on_ws_frame(self, transport, frame):
            mt = frame.msg_type
            if mt is TEXT:
                ok = frame.fin and frame.get_payload_as_bytes() == self.payload
                if not ok:
                    self.run.error("echo differs from what was sent (or is fragmented)")
                t, self.t = self.t, None
                if t is None:
                    self.run.error("an echo nobody asked for")
                    return
                self.run.complete(self, t, ok)
            elif mt is CLOSE:
                if not self.run.stopping:
                    self.run.error(f"server closed the connection: {frame.get_close_code()}")
                transport.send_close(frame.get_close_code())
                transport.disconnect()

        def on_ws_disconnected(self, transport):
            self.gone = True
            if not self.run.stopping:
                self.run.lost += 1
                self.run.error("connection lost")

    return WsConn


async def connect_ws(url, run: Run, payload: bytes, timeout: float, cls):
    from picows import ws_connect

    conn = cls(run, payload)
    transport, _ = await asyncio.wait_for(
        ws_connect(lambda: conn, url, websocket_handshake_timeout=timeout), timeout)
    conn.transport = transport
    return conn


# --- the run ---------------------------------------------------------------------------------------------

def pct(sorted_ns: list[int], q: float) -> float | None:
    """Nearest-rank percentile, in microseconds."""
    if not sorted_ns:
        return None
    k = max(0, min(len(sorted_ns) - 1, math.ceil(q * len(sorted_ns)) - 1))
    return round(sorted_ns[k] / 1000, 1)


async def pace(run: Run, t0: int, until: int) -> None:
    """Declare requests due at t0, t0 + interval, ... < until, each at (or right after) its time."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    interval = run.interval
    i = 0

    def tick():
        nonlocal i
        now = now_ns()
        while True:
            t = t0 + int(i * interval)
            if t > now or t >= until:
                break
            run.due(t)
            i += 1
        t = t0 + int(i * interval)
        if t >= until:
            done.set_result(None)
            return
        wait = t - now_ns()
        if wait > 2_000_000:                  # far off: sleep on a timer, wake 1 ms early
            loop.call_later((wait - 1_000_000) / 1e9, tick)
        else:                                 # near: spin through the loop (I/O is served in between)
            loop.call_soon(tick)

    loop.call_soon(tick)
    await done


async def main_async(args) -> dict:
    u = urlsplit(args.url)
    result = {"url": args.url, "offered_rate": args.rate, "conns": args.conns, "ok": False, "rate": 0.0,
              "count": 0, "error": None}
    warm, dur = int(args.warmup * 1e9), int(args.duration * 1e9)
    run = Run(args.rate, (0, 0))
    conns = []
    try:
        if u.scheme == "ws":
            cls = ws_client_class()
            payload = (b"0123456789abcdef" * (args.size // 16 + 1))[: args.size]
            result["size"] = args.size
            make = lambda: connect_ws(args.url, run, payload, args.connect_timeout, cls)  # noqa: E731
        else:
            expect = json.loads(args.expect) if args.expect is not None else None
            make = lambda: connect_http(args.url, run, expect, args.connect_timeout)  # noqa: E731
        for i in range(0, args.conns, 16):
            conns += await asyncio.gather(*(make() for _ in range(min(16, args.conns - i))))
    except Exception as exc:  # noqa: BLE001
        result["error"] = f"connect failed after {len(conns)} connections: {type(exc).__name__}: {exc}"
        return result
    run.idle = deque(conns)
    t0 = now_ns() + 1_000_000
    run.window = (t0 + warm, t0 + warm + dur)
    await pace(run, t0, t0 + warm + dur)
    # the answers still due, bounded
    deadline = time.monotonic() + args.drain
    while (run.waiting or len(run.idle) < len(conns)) and time.monotonic() < deadline:
        if all(c.gone for c in conns):
            break
        await asyncio.sleep(0.005)
    run.stopping = True
    unanswered = len(run.waiting) + sum(1 for c in conns if c.t is not None)
    for c in conns:
        if not c.gone:
            try:
                if u.scheme == "ws":
                    c.transport.disconnect(False)
                else:
                    c.transport.close()
            except Exception:  # noqa: BLE001
                pass

    samples = sorted(run.samples)
    lags = sorted(run.lags)
    expected = int(dur / run.interval)
    result.update(
        rate=round(len(samples) / args.duration, 1), count=len(samples), expected=expected,
        p50_us=pct(samples, 0.50), p90_us=pct(samples, 0.90), p99_us=pct(samples, 0.99),
        p999_us=pct(samples, 0.999), max_us=round(samples[-1] / 1000, 1) if samples else None,
        mean_us=round(sum(samples) / len(samples) / 1000, 1) if samples else None,
        send_lag_p50_us=pct(lags, 0.50), send_lag_p99_us=pct(lags, 0.99),
        queued=run.queued, max_queue=run.max_queue, bad=run.bad, lost=run.lost, unanswered=unanswered)
    problems = []
    if run.bad:
        problems.append(f"{run.bad} wrong answers")
    if run.lost:
        problems.append(f"{run.lost} connections lost")
    if unanswered:
        problems.append(f"{unanswered} requests unanswered {args.drain:g} s after the last was due")
    if len(samples) < 0.99 * expected:
        problems.append(f"only {len(samples)} of {expected} requests of the measured period answered")
    if problems:
        result["error"] = "; ".join(problems + run.errors[:2])
    elif run.queued > 0.01 * expected:
        # not a failure, but the figures then measure a queue: the rate is above what the server (or the
        # client) sustained here
        result["error"] = (f"{run.queued} of {expected} requests found no idle connection (up to {run.max_queue} "
                           "waiting): the offered rate is at or above what was sustained here")
    result["ok"] = not problems
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url", help="http://host:port/path (GET) or ws://host:port/path (text echo)")
    ap.add_argument("--rate", type=float, default=1000.0, help="requests (messages) per second, default 1000")
    ap.add_argument("--conns", type=int, default=50, help="connections, default 50")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds, default 10")
    ap.add_argument("--warmup", type=float, default=2.0, help="paced seconds before measuring, default 2")
    ap.add_argument("--expect", help="HTTP: the JSON body every answer must have")
    ap.add_argument("--size", type=int, default=16, help="WebSocket: message size in bytes, default 16")
    ap.add_argument("--drain", type=float, default=5.0, help="seconds to wait for answers after the last due")
    ap.add_argument("--connect-timeout", type=float, default=5.0)
    args = ap.parse_args()
    hard = args.warmup + args.duration + args.drain + args.connect_timeout * (args.conns // 16 + 1) + 10

    async def guarded():
        try:
            return await asyncio.wait_for(main_async(args), hard)
        except asyncio.TimeoutError:
            return {"ok": False, "rate": 0.0, "error": f"latency client hit its hard deadline ({hard:.0f} s)"}
        except Exception as exc:  # noqa: BLE001
            return {"ok": False, "rate": 0.0, "error": f"{type(exc).__name__}: {exc}"}

    print(json.dumps(uvloop.run(guarded())), flush=True)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
