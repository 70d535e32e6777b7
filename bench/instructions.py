"""Instructions the server executes per request, counted by valgrind (callgrind): a measure of the framework's
own cost that machine noise does not move, to compare two versions of the per-request path on a busy machine.

    python3 bench/instructions.py                          # this checkout
    PYTHONPATH=/path/to/other/checkout python3 bench/instructions.py   # another one (a git worktree)
    python3 bench/instructions.py -n 2000 --only json,ws16

The server (bench/apps/ours_app.py) runs under callgrind with instrumentation off until it has answered a
warm-up; then, per scenario, the counters are zeroed, a client on one keep-alive connection sends N requests
one at a time (or N WebSocket messages), and the counters are dumped: instructions / N is the server's cost
per request, its event loop included. Needs valgrind (apt: valgrind). Prints a markdown table.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
APPS = os.path.join(HERE, "apps")

USER = json.dumps({"name": "alice", "age": 30, "email": "alice@example.com"}).encode()
SCENARIOS = {
    "json": b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n",
    "path": b"GET /items/42 HTTP/1.1\r\nHost: x\r\n\r\n",
    "query": b"GET /search?q=hello&limit=5 HTTP/1.1\r\nHost: x\r\n\r\n",
    "body": b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(USER)).encode() + b"\r\n\r\n" + USER,
    "deps": b"GET /deps?token=secret-token&page=2 HTTP/1.1\r\nHost: x\r\nX-Request-Id: r-1\r\n\r\n",
    "ws16": None,  # 16-byte text messages echoed on one WebSocket
}


def _response(sock: socket.socket, buffer: bytes) -> bytes:
    """Reads one HTTP response with a Content-Length body; returns what follows it."""
    while b"\r\n\r\n" not in buffer:
        buffer += _recv(sock)
    head, _, rest = buffer.partition(b"\r\n\r\n")
    match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if not head.startswith(b"HTTP/1.1 200") or match is None:
        raise RuntimeError(f"unexpected response: {head[:200]!r}")
    length = int(match.group(1))
    while len(rest) < length:
        rest += _recv(sock)
    return rest[length:]


def _recv(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    if not data:
        raise RuntimeError("server closed the connection")
    return data


def http(port: int, request: bytes, count: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        rest = b""
        for _ in range(count):
            sock.sendall(request)
            rest = _response(sock, rest)


def websocket(port: int, count: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            buffer += _recv(sock)
        if not buffer.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"handshake refused: {buffer[:200]!r}")
        buffer = buffer.partition(b"\r\n\r\n")[2]
        payload = b"0123456789abcdef"
        mask = b"\x01\x02\x03\x04"
        frame = b"\x81\x90" + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        for _ in range(count):
            sock.sendall(frame)
            while len(buffer) < 18:
                buffer += _recv(sock)
            if buffer[:18] != b"\x81\x10" + payload:
                raise RuntimeError(f"unexpected frame: {buffer[:18]!r}")
            buffer = buffer[18:]
        sock.sendall(b"\x88\x82" + mask + bytes([0x03 ^ 1, 0xE8 ^ 2]))


def run(name: str, count: int, port: int) -> None:
    if name == "ws16":
        websocket(port, count)
    else:
        http(port, SCENARIOS[name], count)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)


def _total(path: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def measure(names: list[str], count: int, warmup: int) -> dict[str, float]:
    port = _free_port()
    out = tempfile.mkdtemp(prefix="callgrind-")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), ROOT, APPS])))
    env.setdefault("PYTHONHASHSEED", "0")  # the same dict and set layouts on every run
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--cache-sim=no", "--dump-instr=no",
         f"--callgrind-out-file={out}/cg.%p", sys.executable, os.path.join(APPS, "ours_app.py"), str(port)],
        cwd=APPS, env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(out, "server.log"), "w"))
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: see {out}/server.log")
                time.sleep(0.5)
        pid = str(server.pid)
        for name in names:
            run(name, warmup, port)  # warm: imports, caches, the specializing interpreter
        _control("-i", "on", pid)
        results = {}
        for name in names:
            run(name, warmup, port)
            _control("-z", pid)
            run(name, count, port)
            _control("-d", name, pid)
            dumps = sorted(glob.glob(f"{out}/cg.{pid}.*"), key=os.path.getmtime)
            results[name] = _total(dumps[-1]) / count
        return results
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5000, help="requests (messages) per scenario")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios: " + ",".join(SCENARIOS))
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    names = [name for name in args.only.split(",") if name]
    results = measure(names, args.n, args.warmup)
    print("| scenario | instructions per request |")
    print("|---|---|")
    for name, value in results.items():
        print(f"| {name} | {value:,.0f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results}, f)


if __name__ == "__main__":
    main()
