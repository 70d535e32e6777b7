"""WebSocket echo load client on picows (Cython) + uvloop.

N connections; each keeps exactly one message in flight: send, wait for the echo, check it,
send again.  Runs a warmup, then counts echoed messages for a fixed duration and prints one
JSON object:  {"ok": bool, "rate": msg/s, "messages": n, "seconds": s, "error": str|null, ...}

Everything is bounded in time: connecting (per connection and overall), the run itself, and
the closing handshake; a hard deadline ends the process whatever the server does.

    python ws_load.py ws://127.0.0.1:8000/ws --conns 64 --size 16 --duration 10 --warmup 2
    python ws_load.py ws://127.0.0.1:8000/wsb --binary --conns 64 --size 16
    python ws_load.py ws://127.0.0.1:8000/ws-typed --payload '{"type":"say","room":"lobby","text":"hi","seq":1}'
"""
import argparse
import asyncio
import json
import os
import sys

import uvloop
from picows import WSCloseCode, WSListener, WSMsgType, ws_connect

TEXT, BINARY, CONT, CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE


class Stats:
    def __init__(self):
        self.count = 0          # echoes received since start of sending (all phases)
        self.stopping = False
        self.errors = []        # first few error strings
        self.mismatches = 0
        self.dropped = 0        # connections lost before the end of the run
        self.close_codes = []
        self.all_gone = None    # future set when every connection is gone

    def error(self, msg):
        if len(self.errors) < 5 and msg not in self.errors:
            self.errors.append(msg)


class Client(WSListener):
    def __init__(self, stats, msg_type, payload, verify):
        self.stats = stats
        self.msg_type = msg_type
        self.payload = payload
        self.verify = verify
        self.transport = None
        self.parts = None       # for a fragmented echo
        self.count = 0
        self.gone = False

    def on_ws_connected(self, transport):
        self.transport = transport

    def start(self):
        self.transport.send(self.msg_type, self.payload)

    def on_ws_frame(self, transport, frame):
        t = frame.msg_type
        if t is self.msg_type or t is CONT:
            if not frame.fin or self.parts is not None:
                if self.parts is None:
                    self.parts = []
                self.parts.append(frame.get_payload_as_bytes())
                if not frame.fin:
                    return
                data = b"".join(self.parts)
                self.parts = None
                if self.verify and data != self.payload:
                    self.stats.mismatches += 1
            elif self.verify and frame.get_payload_as_bytes() != self.payload:
                self.stats.mismatches += 1
            self.count += 1
            self.stats.count += 1
            if not self.stats.stopping:
                transport.send(self.msg_type, self.payload)
        elif t is CLOSE:
            code = frame.get_close_code()
            self.stats.close_codes.append(getattr(code, "value", code))
            if not self.stats.stopping:
                self.stats.error(f"server closed the connection: code {code} {frame.get_close_reason()!r}")
            transport.send_close(code)
            transport.disconnect()
        elif t is TEXT or t is BINARY:
            self.stats.error(f"echo of the wrong kind: sent {self.msg_type.name}, got {t.name}")
            self.stats.mismatches += 1
            if not self.stats.stopping:
                transport.send(self.msg_type, self.payload)

    def on_ws_disconnected(self, transport):
        self.gone = True
        if not self.stats.stopping:
            self.stats.dropped += 1
            self.stats.error("connection lost during the run")


async def run(args):
    loop = asyncio.get_running_loop()
    stats = Stats()
    msg_type = BINARY if args.binary else TEXT
    if args.payload is not None:
        payload = args.payload.encode()
        args.size = len(payload)
    elif args.binary:
        payload = bytes(i & 0xFF for i in range(args.size))
    else:
        payload = (b"0123456789abcdef" * (args.size // 16 + 1))[: args.size]
    result = {"url": args.url, "conns": args.conns, "size": args.size,
              "kind": "binary" if args.binary else "text", "ok": False, "rate": 0.0,
              "messages": 0, "seconds": 0.0, "error": None}

    clients = []
    extra = {} if args.aiofastnet == "auto" else {"use_aiofastnet": args.aiofastnet == "1"}

    async def connect_one():
        client = Client(stats, msg_type, payload, not args.no_verify)
        try:
            transport, _ = await asyncio.wait_for(
                ws_connect(lambda: client, args.url,
                           websocket_handshake_timeout=args.connect_timeout,
                           max_frame_size=max(16 << 20, 2 * args.size), **extra),
                args.connect_timeout)
            client.transport = transport
            if transport.is_disconnected:
                stats.error("connection lost right after the handshake")
            else:
                clients.append(client)
        except BaseException as exc:  # noqa: BLE001 - reported, never raised
            stats.error(f"connect failed: {type(exc).__name__}: {exc}")

    # Connect in batches so that a server with a small backlog is not flooded.
    for i in range(0, args.conns, 16):
        await asyncio.gather(*(connect_one() for _ in range(min(16, args.conns - i))))
    if len(clients) < args.conns:
        result["error"] = f"only {len(clients)}/{args.conns} connections: " + "; ".join(stats.errors)
        for c in clients:
            if not c.gone:
                c.transport.disconnect(False)
        return result

    for c in clients:
        c.start()
    await asyncio.sleep(args.warmup)
    c_warm, t_warm = stats.count, loop.time()
    # Sleep in slices so that a run where every connection died ends early.
    end = t_warm + args.duration
    while loop.time() < end:
        await asyncio.sleep(min(0.25, end - loop.time()))
        if all(c.gone for c in clients):
            break
    c_end, t_end = stats.count, loop.time()
    stats.stopping = True

    # Closing handshake, bounded.
    for c in clients:
        if not c.gone:
            try:
                c.transport.send_close(WSCloseCode.OK)
            except Exception:  # noqa: BLE001
                pass
    deadline = loop.time() + 2.0
    while loop.time() < deadline and not all(c.gone for c in clients):
        await asyncio.sleep(0.02)
    for c in clients:
        if not c.gone:
            c.transport.disconnect(False)

    n = c_end - c_warm
    secs = t_end - t_warm
    per_conn = sorted(c.count for c in clients)
    result.update(messages=n, seconds=round(secs, 3), rate=round(n / secs, 1) if secs > 0 else 0.0,
                  warmup_messages=c_warm, mismatches=stats.mismatches, dropped=stats.dropped,
                  per_conn_min=per_conn[0], per_conn_max=per_conn[-1],
                  close_codes=sorted(set(stats.close_codes)))
    problems = []
    if stats.dropped:
        problems.append(f"{stats.dropped} connection(s) lost")
    if stats.mismatches:
        problems.append(f"{stats.mismatches} echo(es) differ from what was sent")
    if n == 0:
        problems.append("no echo during the measured period" + (" (stalled)" if c_warm else ""))
    if problems:
        result["error"] = "; ".join(problems + stats.errors[:2])
    result["ok"] = not problems
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--size", type=int, default=16, help="message size in bytes")
    ap.add_argument("--binary", action="store_true", help="binary messages (default text)")
    ap.add_argument("--payload", help="the exact message to send (instead of --size filler bytes), e.g. JSON")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--connect-timeout", type=float, default=5.0)
    ap.add_argument("--aiofastnet", choices=("auto", "0", "1"), default="auto",
                    help="picows' aiofastnet transport for the client (auto: when installed; a bit faster here)")
    ap.add_argument("--no-verify", action="store_true", help="do not compare each echo with what was sent")
    args = ap.parse_args()

    hard = args.warmup + args.duration + args.connect_timeout * (args.conns // 16 + 1) + 10

    async def guarded():
        try:
            return await asyncio.wait_for(run(args), hard)
        except asyncio.TimeoutError:
            return {"ok": False, "rate": 0.0, "error": f"load client hit its hard deadline ({hard:.0f} s)"}
        except Exception as exc:  # noqa: BLE001
            return {"ok": False, "rate": 0.0, "error": f"{type(exc).__name__}: {exc}"}

    result = uvloop.run(guarded())
    print(json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0)  # do not wait for anything left behind by a misbehaving server


if __name__ == "__main__":
    main()
