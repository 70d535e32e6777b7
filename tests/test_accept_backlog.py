"""New connections are accepted while busy keep-alive connections saturate the loop (accept.BacklogDrain).

libuv accepts one connection per loop iteration; with 64 connections keeping the loop busy (each request
takes 2 ms of CPU on the loop), that is about 8 new connections a second. The backlog drain takes them all.
"""
import socket
import threading
import time

from fastrapi import FastrAPI

app = FastrAPI()


@app.get("/busy")
async def busy():
    end = time.perf_counter() + 0.002
    while time.perf_counter() < end:  # CPU on the loop, as a saturated server spends it
        pass
    return {"busy": True}


@app.get("/hello")
async def hello():
    return {"hello": True}


def _hammer(port: int, stop: threading.Event) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        while not stop.is_set():
            s.sendall(b"GET /busy HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while not data.endswith(b"}"):
                chunk = s.recv(4096)
                if not chunk:
                    return
                data += chunk
    except OSError:
        pass
    finally:
        s.close()


def test_new_connections_are_accepted_while_the_loop_is_saturated(serve):
    srv = serve(app)
    stop = threading.Event()
    hammers = [threading.Thread(target=_hammer, args=(srv.port, stop), daemon=True) for _ in range(64)]
    for t in hammers:
        t.start()
    try:
        time.sleep(0.5)  # the loop is saturated now
        t0 = time.monotonic()
        clients = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(150)]
        for c in clients:
            c.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answered = 0
        for c in clients:
            data = b""
            try:
                while True:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            answered += data.startswith(b"HTTP/1.1 200") and data.endswith(b'{"hello":true}')
            c.close()
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
        for t in hammers:
            t.join(10)
    assert answered == 150
    assert elapsed < 6, f"150 new connections took {elapsed:.1f} s to be answered while the loop was busy"
