#!/usr/bin/env python3
"""Load client of bench/realtime.py: many WebSocket connections on one core (uvloop, raw asyncio protocols).

    rt_load.py fanout ws://127.0.0.1:PORT --conns 1000 [--window 16] [--size 32] --duration 10 --warmup 2
    rt_load.py chat   ws://127.0.0.1:PORT --conns 1000 --rooms 10 [--rate 1] --duration 10 --warmup 2
    rt_load.py idle   ws://127.0.0.1:PORT --conns 10000 --pid SERVER_PID

Prints one JSON line with the result (``ok``, ``rate`` and the scenario's figures). The client is a plain
``asyncio.Protocol`` per connection rather than a WebSocket library: server frames are unmasked, and every
message of a scenario has the same size, so a read holding k whole frames is checked and counted with a few
C-level slices (its header bytes at stride F) instead of k Python calls. Frames of any other shape (pings,
close) go through a general parser. Client frames use the all-zero masking key (legal, and no XOR to do).

fanout: N subscribers on /sub/fanout and one publisher connection on /pub/fanout. Every message carries a
sequence number; the publisher keeps at most ``--window`` messages outstanding (published but not yet
received by every subscriber) and publishes the next one as soon as the slowest subscriber has caught up.
The server therefore always has fan-out work queued (the rate is its capacity, not the publisher's pace)
and never an unbounded backlog. deliveries/s = messages received by all subscribers together per second.
Each subscriber checks that its sequence numbers are consecutive (no loss, no reordering).

chat: N clients on /chat/room-<i mod R>; client i sends one message per 1/rate s at its own phase (spread
evenly), stamped with time.monotonic_ns(); everyone in the room, the sender included, receives it. The
latency of each delivery is receive time - send stamp, in this one process (one clock). Messages sent during
the warmup are not counted; after the measured period the client waits up to ``--drain`` s for the rest; a
delivery that never came counts as infinitely late in the percentiles.

idle: ``--warm`` connections to /idle first (first-use costs out of the way), then VmRSS of ``--pid``,
then N more connections, then VmRSS again once it is stable: (after - before) / N is the server's memory per
idle connection (its handler waiting in receive). Server pings are answered with pongs.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import sys
import time

import uvloop

CONNECTING, OPEN, CLOSED = 0, 1, 2
ZERO_MASK = b"\x00\x00\x00\x00"


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame with the zero key (payload bytes unchanged)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + ZERO_MASK + payload


def server_frame_size(payload_len: int) -> int:
    return payload_len + (2 if payload_len < 126 else 4 if payload_len < 65536 else 10)


class Stats:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.dropped = 0
        self.stopping = False
        self.close_codes: set[int] = set()

    def error(self, msg: str) -> None:
        if len(self.errors) < 5 and msg not in self.errors:
            self.errors.append(msg)


class WSClient(asyncio.Protocol):
    """One client connection: handshake, then frames. Subclasses handle data messages (``on_data``) and may
    replace ``data_received`` with a fast path for fixed-size messages."""

    def __init__(self, stats: Stats, host: str, path: str) -> None:
        self.stats = stats
        self.host = host
        self.path = path
        self.state = CONNECTING
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- connection
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        key = base64.b64encode(os.urandom(16))
        transport.write(b"GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                        % (self.path.encode(), self.host.encode(), key))

    def connection_lost(self, exc: Exception | None) -> None:
        was = self.state
        self.state = CLOSED
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost during the handshake ({exc})"))
        elif was == OPEN and not self.stats.stopping:
            self.stats.dropped += 1
            self.stats.error(f"connection lost during the run ({exc or 'closed by the server'})")
            self.on_lost()

    def on_lost(self) -> None:
        pass

    def handshake_data(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > 65536:
                self.opened.set_exception(ConnectionError("no end of the handshake response"))
                self.transport.abort()
            return
        head, rest = self.buf[:end], self.buf[end + 4:]
        self.buf = b""
        if not head.startswith(b"HTTP/1.1 101"):
            self.state = CLOSED
            status = head.split(b"\r\n", 1)[0]
            self.opened.set_exception(ConnectionError(f"handshake refused: {status!r}"))
            self.transport.abort()
            return
        self.state = OPEN
        self.opened.set_result(None)
        if rest:
            self.data_received(rest)

    def data_received(self, data: bytes) -> None:
        if self.state != OPEN:
            if self.state == CONNECTING:
                self.handshake_data(data)
            return
        self.parse(data)

    # -- general frame parser (any size, control frames, no fragmentation of data messages expected)
    def parse(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        pos, end = 0, len(data)
        while end - pos >= 2:
            b0, ln = data[pos], data[pos + 1]
            if ln & 0x80:
                self.protocol_error("masked server frame")
                return
            hdr = pos + 2
            if ln == 126:
                if end - pos < 4:
                    break
                ln = int.from_bytes(data[pos + 2:pos + 4], "big")
                hdr = pos + 4
            elif ln == 127:
                if end - pos < 10:
                    break
                ln = int.from_bytes(data[pos + 2:pos + 10], "big")
                hdr = pos + 10
            if end - hdr < ln:
                break
            payload = data[hdr:hdr + ln]
            pos = hdr + ln
            op = b0 & 0x0F
            if not b0 & 0x80 or b0 & 0x70:
                self.protocol_error(f"fragmented or compressed frame (first byte {b0:#x}) not expected")
                return
            if op == 0x9:
                self.transport.write(client_frame(0xA, payload))
            elif op == 0xA:
                pass
            elif op == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.stats.close_codes.add(code)
                if not self.stats.stopping:
                    self.stats.error(f"server closed a connection: {code} {payload[2:]!r}")
                self.transport.write(client_frame(0x8, payload[:2]))
                self.transport.close()
                return
            elif op == 0x1 or op == 0x2:
                self.on_data(payload)
            else:
                self.protocol_error(f"unexpected opcode {op:#x}")
                return
        if pos < end:
            self.buf = data[pos:]

    def on_data(self, payload: bytes) -> None:
        self.stats.error(f"unexpected data message on {self.path}: {payload[:40]!r}")

    def protocol_error(self, msg: str) -> None:
        self.stats.error(msg)
        self.transport.abort()

    def send(self, payload: bytes) -> None:
        self.transport.write(client_frame(0x1, payload))


async def open_many(factory, n: int, host: str, port: int, paths, *, concurrency: int, timeout: float,
                    src_ips: int, stats: Stats, offset: int = 0) -> list:
    """Open ``n`` connections (``paths(i)`` is the i-th one's path), ``concurrency`` handshakes at a time."""
    loop = asyncio.get_running_loop()
    conns: list = [None] * n
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        while next_i < n and not stats.stopping:
            i = next_i
            next_i += 1
            j = i + offset
            local = (f"127.0.0.{1 + j % src_ips}", 0) if src_ips > 1 else None
            client = factory(i)
            client.path = paths(i)
            try:
                await asyncio.wait_for(
                    loop.create_connection(lambda: client, host, port, local_addr=local), timeout)
                await asyncio.wait_for(client.opened, timeout)
                conns[i] = client
            except BaseException as exc:  # noqa: BLE001 - reported
                hint = " (out of source ports? try --src-ips 4)" if isinstance(exc, OSError) and exc.errno in (
                    99, 98) else ""
                stats.error(f"connect failed: {type(exc).__name__}: {exc}{hint}")
                if client.transport is not None:
                    client.transport.abort()
                stats.stopping = True  # stop opening more

    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    return [c for c in conns if c is not None]


def close_all(conns) -> None:
    for c in conns:
        if c.transport is not None and c.state != CLOSED:
            c.transport.abort()


# ------------------------------------------------------------------------------------- CPU accounting
def proc_ticks(pid: int | None) -> int | None:
    if not pid:
        return None
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except (OSError, IndexError, ValueError):
        return None


def machine_busy() -> int:
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f[:8]) - f[3] - f[4]


class CpuWindow:
    """CPU used by the server (and Redis), by this client and by everything else over the measured window."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {k: v for k, v in pids.items() if v}
        self.t0 = time.monotonic()
        self.p0 = {k: proc_ticks(v) for k, v in self.pids.items()}
        r = resource.getrusage(resource.RUSAGE_SELF)
        self.c0 = r.ru_utime + r.ru_stime
        self.m0 = machine_busy()

    def result(self) -> dict:
        wall = time.monotonic() - self.t0
        hz = os.sysconf("SC_CLK_TCK")
        r = resource.getrusage(resource.RUSAGE_SELF)
        client = r.ru_utime + r.ru_stime - self.c0
        out = {"client": round(100 * client / wall, 1)}
        used = client
        for k, pid in self.pids.items():
            t1 = proc_ticks(pid)
            if t1 is not None and self.p0[k] is not None:
                s = (t1 - self.p0[k]) / hz
                used += s
                out[k] = round(100 * s / wall, 1)
        out["other"] = round(100 * ((machine_busy() - self.m0) / hz - used) / wall, 1)
        return out


# ------------------------------------------------------------------------------------- fan-out
class FanoutStats(Stats):
    def __init__(self, n: int, window: int) -> None:
        super().__init__()
        self.count = 0             # data messages received by all subscribers
        self.gaps = 0              # a subscriber's sequence numbers not consecutive
        self.hist = {-1: n}        # last sequence number seen -> how many subscribers are there
        self.low = -1              # the slowest subscriber's last sequence number
        self.window = window
        self.next_seq = 0
        self.publisher: "WSClient | None" = None
        self.flowing = False
        self.payload_pad = b""
        self.last_progress = 0.0

    def publish(self, upto: int) -> None:
        pub = self.publisher
        frames = []
        while self.next_seq < upto:
            frames.append(client_frame(0x1, b"%020d" % self.next_seq + self.payload_pad))
            self.next_seq += 1
        if frames and pub is not None and pub.state == OPEN:
            pub.transport.write(b"".join(frames))

    def advance(self) -> None:
        hist = self.hist
        low = self.low
        while hist.get(low, 0) == 0 and low < self.next_seq - 1:
            hist.pop(low, None)
            low += 1
        self.low = low
        self.last_progress = time.monotonic()
        if self.flowing:
            self.publish(low + 1 + self.window)

    def moved(self, prev: int, last: int) -> None:
        hist = self.hist
        n = hist[prev] - 1
        hist[prev] = n
        hist[last] = hist.get(last, 0) + 1
        if n == 0 and prev == self.low:
            self.advance()


#: the expected first two bytes of every frame of a read, at stride F (sliced to the number of frames)
H0 = b"\x81" * 65536
_H1: dict[int, bytes] = {}


def h1(payload_len: int) -> bytes:
    if payload_len not in _H1:
        _H1[payload_len] = bytes((payload_len,)) * 65536
    return _H1[payload_len]


class Subscriber(WSClient):
    def __init__(self, stats: FanoutStats, host: str, frame_len: int, payload_len: int) -> None:
        super().__init__(stats, host, "")
        self.F = frame_len
        self.h0 = H0
        self.h1 = h1(payload_len)
        self.last = -1
        self.payload_len = payload_len

    def data_received(self, data: bytes) -> None:
        if self.state != OPEN:
            if self.state == CONNECTING:
                self.handshake_data(data)
            return
        if self.buf:
            data = self.buf + data
            self.buf = b""
        F = self.F
        n = len(data) // F
        end = n * F
        if n and n <= 65536 and data[0:end:F] == self.h0[:n] and data[1:end:F] == self.h1[:n]:
            if end < len(data):
                self.buf = data[end:]
            self.got(n, int(data[end - F + 2:end - F + 22]))
        else:
            self.parse(data)

    def on_data(self, payload: bytes) -> None:
        if len(payload) != self.payload_len:
            self.stats.error(f"message of {len(payload)} bytes, expected {self.payload_len}")
            return
        self.got(1, int(payload[:20]))

    def got(self, n: int, last: int) -> None:
        stats = self.stats
        stats.count += n
        prev = self.last
        if prev >= 0 and last - prev != n:
            stats.gaps += 1
            if len(stats.errors) < 5:
                stats.error(f"subscriber got {n} message(s) ending at #{last} after #{prev}: "
                            "messages lost or reordered")
        self.last = last
        stats.moved(prev, last)

    def on_lost(self) -> None:
        # a lost subscriber no longer holds the window back
        stats = self.stats
        stats.hist[self.last] -= 1
        if self.last == stats.low:
            stats.advance()


async def run_fanout(args, host: str, port: int) -> dict:
    loop = asyncio.get_running_loop()
    n = args.conns
    stats = FanoutStats(n, args.window)
    L = args.size
    if not 20 <= L < 126:
        raise SystemExit("--size must be 20..125 for fanout")
    stats.payload_pad = b"." * (L - 20)
    F = server_frame_size(L)
    result = {"scenario": "fanout", "conns": n, "size": L, "window": args.window, "ok": False, "rate": 0.0,
              "error": None}
    t0 = time.monotonic()
    subs = await open_many(lambda i: Subscriber(stats, f"{host}:{port}", F, L), n, host, port,
                           lambda i: args.channel_path, concurrency=args.concurrency,
                           timeout=args.connect_timeout, src_ips=args.src_ips, stats=stats)
    result["connect_s"] = round(time.monotonic() - t0, 2)
    if len(subs) < n:
        close_all(subs)
        result["error"] = f"only {len(subs)}/{n} subscribers connected: " + "; ".join(stats.errors)
        return result
    pubs = await open_many(lambda i: WSClient(stats, f"{host}:{port}", ""), 1, host, port,
                           lambda i: args.publish_path, concurrency=1, timeout=args.connect_timeout,
                           src_ips=1, stats=stats)
    if not pubs:
        close_all(subs)
        result["error"] = "publisher did not connect: " + "; ".join(stats.errors)
        return result
    stats.publisher = pubs[0]

    # Ready: publish a message every 20 ms until every subscriber has received one (subscribing happens in
    # the server's handler after the handshake), then let the window drive the publisher.
    t0 = time.monotonic()
    while stats.low < 0:
        if time.monotonic() - t0 > args.ready_timeout or stats.dropped:
            waiting = stats.hist.get(-1, 0)
            close_all(subs + pubs)
            result["error"] = (f"{waiting} of {n} subscribers received nothing after {args.ready_timeout:g} s "
                               "of publishing; " + "; ".join(stats.errors))
            return result
        stats.publish(stats.next_seq + 1)
        await asyncio.sleep(0.02)
    result["ready_s"] = round(time.monotonic() - t0, 2)
    stats.flowing = True
    stats.last_progress = time.monotonic()
    stats.publish(stats.low + 1 + stats.window)

    def stalled() -> bool:
        return time.monotonic() - stats.last_progress > args.stall_timeout

    end = loop.time() + args.warmup
    while loop.time() < end and not stalled() and not stats.dropped:
        await asyncio.sleep(0.1)
    c0, s0, t_start = stats.count, stats.next_seq, time.monotonic()
    cpu = CpuWindow({"server": args.pid, "redis": args.redis_pid})
    end = loop.time() + args.duration
    while loop.time() < end and not stalled() and not stats.dropped:
        await asyncio.sleep(0.1)
    c1, s1, secs = stats.count, stats.next_seq, time.monotonic() - t_start
    result["cpu"] = cpu.result()
    stats.stopping = True
    close_all(subs + pubs)

    deliveries = c1 - c0
    result.update(rate=round(deliveries / secs, 1) if secs > 0 else 0.0, deliveries=deliveries,
                  seconds=round(secs, 3), published=s1 - s0,
                  messages_per_s=round(deliveries / n / secs, 1) if secs > 0 else 0.0,
                  gaps=stats.gaps, dropped=stats.dropped, close_codes=sorted(stats.close_codes))
    problems = []
    if stalled():
        problems.append(f"stalled: no progress for {args.stall_timeout:g} s (slowest subscriber at "
                        f"#{stats.low}, published up to #{stats.next_seq - 1})")
    if stats.dropped:
        problems.append(f"{stats.dropped} connection(s) lost")
    if stats.gaps:
        problems.append(f"{stats.gaps} sequence gap(s)")
    if deliveries == 0:
        problems.append("no delivery during the measured period")
    if problems:
        result["error"] = "; ".join(problems + stats.errors[:2])
    result["ok"] = not problems
    return result


# ------------------------------------------------------------------------------------- chat
class ChatStats(Stats):
    def __init__(self) -> None:
        super().__init__()
        self.t_from = 1 << 62      # messages stamped in [t_from, t_to) are measured
        self.t_to = 1 << 62
        self.latencies: list[int] = []
        self.received = 0          # measured deliveries
        self.received_all = 0
        self.bad = 0


class ChatMember(WSClient):
    def __init__(self, stats: ChatStats, host: str, frame_len: int, payload_len: int, index: int) -> None:
        super().__init__(stats, host, "")
        self.F = frame_len
        self.h0 = H0
        self.h1 = h1(payload_len)
        self.payload_len = payload_len
        self.index = index

    def data_received(self, data: bytes) -> None:
        if self.state != OPEN:
            if self.state == CONNECTING:
                self.handshake_data(data)
            return
        now = time.monotonic_ns()
        if self.buf:
            data = self.buf + data
            self.buf = b""
        F = self.F
        n = len(data) // F
        end = n * F
        if n and n <= 65536 and data[0:end:F] == self.h0[:n] and data[1:end:F] == self.h1[:n]:
            if end < len(data):
                self.buf = data[end:]
            stats = self.stats
            t_from, t_to = stats.t_from, stats.t_to
            stats.received_all += n
            for p in range(2, end, F):
                ts = int(data[p:p + 20])
                if t_from <= ts < t_to:
                    stats.received += 1
                    stats.latencies.append(now - ts)
        else:
            self.parse(data)

    def on_data(self, payload: bytes) -> None:
        stats = self.stats
        if len(payload) != self.payload_len:
            stats.bad += 1
            stats.error(f"message of {len(payload)} bytes, expected {self.payload_len}")
            return
        now = time.monotonic_ns()
        stats.received_all += 1
        ts = int(payload[:20])
        if stats.t_from <= ts < stats.t_to:
            stats.received += 1
            stats.latencies.append(now - ts)


def percentile(sorted_vals: list[int], missing: int, q: float) -> float | None:
    """q-th percentile (0..100) in ms of the delivered latencies plus ``missing`` infinitely late ones."""
    total = len(sorted_vals) + missing
    if total == 0:
        return None
    k = min(total - 1, max(0, int(round(q / 100 * total + 0.5)) - 1))
    if k >= len(sorted_vals):
        return float("inf")
    return sorted_vals[k] / 1e6


async def run_chat(args, host: str, port: int) -> dict:
    loop = asyncio.get_running_loop()
    n, rooms = args.conns, args.rooms
    stats = ChatStats()
    L = args.size
    if not 32 <= L < 126:
        raise SystemExit("--size must be 32..125 for chat")
    F = server_frame_size(L)
    result = {"scenario": "chat", "conns": n, "rooms": rooms, "rate_per_client": args.rate, "size": L,
              "ok": False, "rate": 0.0, "error": None}
    t0 = time.monotonic()
    members = await open_many(lambda i: ChatMember(stats, f"{host}:{port}", F, L, i), n, host, port,
                              lambda i: f"{args.chat_path}/room-{i % rooms}", concurrency=args.concurrency,
                              timeout=args.connect_timeout, src_ips=args.src_ips, stats=stats)
    result["connect_s"] = round(time.monotonic() - t0, 2)
    if len(members) < n:
        close_all(members)
        result["error"] = f"only {len(members)}/{n} clients connected: " + "; ".join(stats.errors)
        return result
    room_size = [0] * rooms
    for m in members:
        room_size[m.index % rooms] += 1
    await asyncio.sleep(0.2)  # let the handlers join their rooms

    period_ns = int(1e9 / args.rate)
    step_ns = period_ns / n
    pads = [b" %05d " % i + b"." * (L - 27) for i in range(n)]
    sent = 0
    expected = 0
    start = time.monotonic_ns()
    stats.t_from = start + int(args.warmup * 1e9)
    stats.t_to = stats.t_from + int(args.duration * 1e9)
    cpu = None
    k = 0
    while True:
        now = time.monotonic_ns()
        if now >= stats.t_to:
            break
        if cpu is None and now >= stats.t_from:
            cpu = CpuWindow({"server": args.pid, "redis": args.redis_pid})
        due = start + int(k * step_ns)
        while due <= now:
            i = k % n
            m = members[i]
            if m.state == OPEN:
                ts = time.monotonic_ns()
                m.transport.write(client_frame(0x1, b"%020d" % ts + pads[i]))
                if stats.t_from <= ts < stats.t_to:
                    sent += 1
                    expected += room_size[i % rooms]
            k += 1
            due = start + int(k * step_ns)
        await asyncio.sleep(max(0.0, (due - time.monotonic_ns()) / 1e9))
    cpu_result = cpu.result() if cpu is not None else {}
    # the stragglers of the measured window
    deadline = loop.time() + args.drain
    while stats.received < expected and loop.time() < deadline:
        await asyncio.sleep(0.02)
    stats.stopping = True
    close_all(members)

    lat = sorted(stats.latencies)
    missing = max(0, expected - stats.received)

    def pct(q: float):
        v = percentile(lat, missing, q)
        return None if v is None else ("inf" if v == float("inf") else round(v, 3))

    result.update(cpu=cpu_result, sent=sent, expected=expected, delivered=stats.received, missing=missing,
                  delivered_pct=round(100 * stats.received / expected, 3) if expected else 0.0,
                  offered_per_s=round(expected / args.duration, 1),
                  p50_ms=pct(50), p90_ms=pct(90), p99_ms=pct(99), p999_ms=pct(99.9),
                  max_ms=round(lat[-1] / 1e6, 3) if lat and not missing else ("inf" if missing else None),
                  dropped=stats.dropped, close_codes=sorted(stats.close_codes), seconds=args.duration)
    result["rate"] = result["p99_ms"] if isinstance(result["p99_ms"], float) else 0.0
    problems = []
    if stats.dropped:
        problems.append(f"{stats.dropped} connection(s) lost")
    if missing:
        problems.append(f"{missing} of {expected} deliveries not received {args.drain:g} s after the end")
    if stats.bad:
        problems.append(f"{stats.bad} malformed message(s)")
    if not expected:
        problems.append("nothing sent during the measured period")
    if problems:
        result["error"] = "; ".join(problems + stats.errors[:2])
    result["ok"] = not problems
    return result


# ------------------------------------------------------------------------------------- idle
def vm_rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes (VmRSS)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def stable_rss(pid: int, settle: float, max_wait: float) -> int:
    """VmRSS once it stopped moving (less than 0.2 % over 1 s), after ``settle`` s; at most ``max_wait`` s."""
    await asyncio.sleep(settle)
    deadline = time.monotonic() + max_wait
    prev = vm_rss(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        cur = vm_rss(pid)
        if abs(cur - prev) <= prev * 0.002:
            return cur
        prev = cur
    return prev


async def run_idle(args, host: str, port: int) -> dict:
    n = args.conns
    stats = Stats()
    result = {"scenario": "idle", "conns": n, "warm": args.warm, "ok": False, "rate": 0.0, "error": None}
    if not args.pid:
        result["error"] = "--pid (the server's process id) is needed for idle"
        return result
    warm = await open_many(lambda i: WSClient(stats, f"{host}:{port}", ""), args.warm, host, port,
                           lambda i: args.idle_path, concurrency=args.concurrency,
                           timeout=args.connect_timeout, src_ips=args.src_ips, stats=stats)
    if len(warm) < args.warm:
        close_all(warm)
        result["error"] = f"only {len(warm)}/{args.warm} warm-up connections: " + "; ".join(stats.errors)
        return result
    before = await stable_rss(args.pid, 1.0, 10.0)
    t0 = time.monotonic()
    conns = await open_many(lambda i: WSClient(stats, f"{host}:{port}", ""), n, host, port,
                            lambda i: args.idle_path, concurrency=args.concurrency,
                            timeout=args.connect_timeout, src_ips=args.src_ips, stats=stats, offset=args.warm)
    result["connect_s"] = round(time.monotonic() - t0, 2)
    result["connects_per_s"] = round(len(conns) / max(1e-9, time.monotonic() - t0), 1)
    if len(conns) < n:
        close_all(warm + conns)
        result["error"] = f"only {len(conns)}/{n} connections: " + "; ".join(stats.errors)
        return result
    after = await stable_rss(args.pid, args.settle, 15.0)
    alive = sum(1 for c in conns if c.state == OPEN)
    stats.stopping = True
    close_all(warm + conns)
    per = (after - before) / n
    result.update(rss_before=before, rss_after=after, bytes_per_conn=round(per), kb_per_conn=round(per / 1024, 2),
                  rate=round(per / 1024, 2), alive=alive, dropped=stats.dropped)
    problems = []
    if alive < n:
        problems.append(f"{n - alive} connection(s) closed while idle")
    if problems:
        result["error"] = "; ".join(problems + stats.errors[:2])
    result["ok"] = not problems
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", choices=("fanout", "chat", "idle"))
    ap.add_argument("url", help="ws://127.0.0.1:PORT (the paths are the options below)")
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--size", type=int, default=None, help="message payload bytes (fanout 32, chat 64)")
    ap.add_argument("--window", type=int, default=16, help="fanout: messages outstanding (default 16)")
    ap.add_argument("--rooms", type=int, default=10, help="chat: rooms (default 10)")
    ap.add_argument("--rate", type=float, default=1.0, help="chat: messages per second per client (default 1)")
    ap.add_argument("--drain", type=float, default=5.0, help="chat: seconds to wait for late deliveries")
    ap.add_argument("--warm", type=int, default=200, help="idle: connections opened before the first RSS reading")
    ap.add_argument("--settle", type=float, default=2.0, help="idle: seconds before reading RSS again")
    ap.add_argument("--pid", type=int, default=None, help="server process id (idle: RSS; all: CPU use)")
    ap.add_argument("--redis-pid", type=int, default=None, help="redis-server process id (CPU use)")
    ap.add_argument("--channel-path", default="/sub/fanout")
    ap.add_argument("--publish-path", default="/pub/fanout")
    ap.add_argument("--chat-path", default="/chat")
    ap.add_argument("--idle-path", default="/idle")
    ap.add_argument("--concurrency", type=int, default=64, help="handshakes in flight while connecting")
    ap.add_argument("--connect-timeout", type=float, default=10.0)
    ap.add_argument("--ready-timeout", type=float, default=20.0)
    ap.add_argument("--stall-timeout", type=float, default=5.0)
    ap.add_argument("--src-ips", type=int, default=0,
                    help="spread connections over 127.0.0.1..N as source addresses (0: 1 up to 20k conns)")
    args = ap.parse_args()
    if args.size is None:
        args.size = 64 if args.scenario == "chat" else 32
    if not args.src_ips:
        args.src_ips = 1 + (args.conns + args.warm) // 20000
    nofile = raise_nofile()
    url = args.url.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = url.rpartition(":")
    need = args.conns + (args.warm if args.scenario == "idle" else 1) + 32

    runner = {"fanout": run_fanout, "chat": run_chat, "idle": run_idle}[args.scenario]
    hard = (args.warmup + args.duration + args.drain + args.ready_timeout + 30
            + args.conns / 200 * (1 + args.connect_timeout / 10))

    async def guarded() -> dict:
        if nofile < need:
            return {"ok": False, "rate": 0.0, "error": f"RLIMIT_NOFILE is {nofile}, {need} needed: raise ulimit -n"}
        try:
            return await asyncio.wait_for(runner(args, host, int(port)), hard)
        except asyncio.TimeoutError:
            return {"ok": False, "rate": 0.0, "error": f"load client hit its hard deadline ({hard:.0f} s)"}
        except Exception as exc:  # noqa: BLE001
            return {"ok": False, "rate": 0.0, "error": f"{type(exc).__name__}: {exc}"}

    result = uvloop.run(guarded())
    result["nofile"] = nofile
    result["src_ips"] = args.src_ips
    print(json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0)  # do not wait for anything a misbehaving server left behind


if __name__ == "__main__":
    main()
