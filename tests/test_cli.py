"""The ``fastrapi`` command line (and ``python -m fastrapi``): real processes on 127.0.0.1, a temp app module."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

APP_SOURCE = """
import os
from fastrapi import FastrAPI, Request

app = FastrAPI()

@app.get("/pid")
def pid():
    return {"pid": os.getpid()}

@app.get("/version")
async def version():
    return {"version": 1}

@app.get("/root")
async def root(request: Request):
    return {"root_path": request.app.root_path}
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fastrapi_command() -> list[str]:
    """The installed console script, else ``python -m fastrapi``."""
    script = Path(sys.executable).parent / "fastrapi"
    if script.is_file():
        return [str(script)]
    found = shutil.which("fastrapi")
    return [found] if found else [sys.executable, "-m", "fastrapi"]


class Proc:
    """A command started in its own session, its output in files; ``stop()`` ends it (and its group)."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.out_path = cwd / f"stdout-{time.monotonic_ns()}.txt"
        self.err_path = cwd / f"stderr-{time.monotonic_ns()}.txt"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        full_env.pop("FASTRAPI_RELOADER_PID", None)
        self.p = subprocess.Popen(args, cwd=cwd, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL,
                                  env=full_env, start_new_session=True)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait(self, timeout: float = 15.0) -> int:
        return self.p.wait(timeout)

    def signal(self, sig: int) -> None:
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def stop(self) -> None:
        try:
            if self.p.poll() is None:
                self.p.send_signal(signal.SIGINT)
                try:
                    self.p.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self.p.pid, signal.SIGKILL)  # whatever is left of the session's group
            except (ProcessLookupError, PermissionError):
                pass
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait(5)
        finally:
            self._out.close()
            self._err.close()

    def wait_http(self, port: int, path: str = "/pid", timeout: float = 15.0) -> httpx.Response:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                pytest.fail(f"exited early with {self.p.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}")
            try:
                return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
            except httpx.HTTPError as exc:
                last = exc
                time.sleep(0.05)
        pytest.fail(f"no answer on port {port} in {timeout}s ({last!r})\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}")

    def wait_output(self, pattern: str, timeout: float = 10.0, stream: str = "stderr") -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = getattr(self, stream)
            if re.search(pattern, text):
                return text
            time.sleep(0.05)
        pytest.fail(f"{pattern!r} not in {stream} within {timeout}s\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}")


@pytest.fixture
def project(tmp_path):
    """A directory with ``main.py`` (the app above); yields (dir, start) where ``start(args)`` runs a command."""
    (tmp_path / "main.py").write_text(textwrap.dedent(APP_SOURCE))
    procs: list[Proc] = []

    def start(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Proc:
        proc = Proc(args, cwd or tmp_path, env)
        procs.append(proc)
        return proc

    try:
        yield tmp_path, start
    finally:
        for proc in procs:
            proc.stop()


ACCESS_LINE = r'INFO: +127\.0\.0\.1:\d+ - "GET /pid\?x=1 HTTP/1\.1" 200 OK'


def test_run_serves_app_with_access_log(project):
    root, start = project
    port = free_port()
    proc = start(fastrapi_command() + ["run", "main:app", "--port", str(port)])
    r = proc.wait_http(port)
    assert r.status_code == 200 and r.json() == {"pid": proc.p.pid}
    assert httpx.get(f"http://127.0.0.1:{port}/pid?x=1").status_code == 200
    proc.wait_output(ACCESS_LINE, stream="stdout")
    assert f"Started server process [{proc.p.pid}]" in proc.stderr
    assert f"running on http://127.0.0.1:{port}" in proc.stderr
    assert "DEBUG" not in proc.stderr
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0


def test_python_m_fastrapi_no_access_log(project):
    root, start = project
    port = free_port()
    proc = start([sys.executable, "-m", "fastrapi", "run", "main:app", "--port", str(port), "--no-access-log"])
    proc.wait_http(port)
    assert httpx.get(f"http://127.0.0.1:{port}/pid?x=1").status_code == 200
    assert httpx.get(f"http://127.0.0.1:{port}/version").json() == {"version": 1}
    proc.signal(signal.SIGINT)
    assert proc.wait() == 0
    assert "GET /pid" not in proc.stdout and "GET /pid" not in proc.stderr
    assert "running on" in proc.stderr


@pytest.mark.parametrize("target", ["main", "src/main.py", "src/main.py:app", None])
def test_app_named_by_module_or_path(project, target):
    root, start = project
    if target is None or target.startswith("src/"):
        src = root / "src" if target else root
        src.mkdir(exist_ok=True)
        if target:
            (root / "main.py").rename(src / "main.py")
    # `main` alone: the module's `api` is found as well as `app`
    (root / ("src" if target and target.startswith("src/") else ".") / "main.py").write_text(
        textwrap.dedent(APP_SOURCE).replace("app = FastrAPI()", "api = app = FastrAPI()")
    )
    port = free_port()
    args = [sys.executable, "-m", "fastrapi", "run", "--port", str(port)] + ([target] if target else [])
    proc = start(args)
    assert proc.wait_http(port).json() == {"pid": proc.p.pid}


def test_factory_and_root_path(project):
    root, start = project
    (root / "factory.py").write_text(textwrap.dedent("""
        from fastrapi import FastrAPI, Request

        def create_app():
            app = FastrAPI()

            @app.get("/root")
            async def root(request: Request):
                return {"root_path": request.app.root_path}
            return app
    """))
    port = free_port()
    proc = start(fastrapi_command() + ["run", "factory:create_app", "--factory", "--port", str(port),
                                       "--root-path", "/api"])
    assert proc.wait_http(port, "/root").json() == {"root_path": "/api"}
    # without --factory, the function is not an app: one clear line
    bad = start(fastrapi_command() + ["run", "factory:create_app", "--port", str(free_port())])
    assert bad.wait() == 1
    assert 'is not a FastrAPI application: got function (a function: pass --factory to call it)' in bad.stderr


@pytest.mark.parametrize("target, message", [
    ("nosuchmodule:app", 'Could not import module "nosuchmodule".'),
    ("nosuchmodule", 'Could not import module "nosuchmodule".'),
    ("main:nope", 'Attribute "nope" not found in module "main".'),
    ("missing.py", 'File "missing.py" does not exist.'),
])
def test_bad_app_one_line_error_exit_1(project, target, message):
    root, start = project
    proc = start([sys.executable, "-m", "fastrapi", "run", target, "--port", str(free_port())])
    assert proc.wait() == 1
    err = proc.stderr
    assert f"ERROR:    Error loading app. {message}" in err
    assert "Traceback" not in err


def test_module_that_fails_to_import_shows_traceback(project):
    root, start = project
    (root / "broken.py").write_text("import not_installed_anywhere_xyz\n")
    proc = start([sys.executable, "-m", "fastrapi", "run", "broken:app", "--port", str(free_port())])
    assert proc.wait() == 1
    assert "No module named 'not_installed_anywhere_xyz'" in proc.stderr


def test_startup_failure_exit_3_and_bind_error_exit_1(project):
    root, start = project
    (root / "failing.py").write_text(textwrap.dedent("""
        from fastrapi import FastrAPI
        app = FastrAPI()

        @app.on_event("startup")
        async def boom():
            raise RuntimeError("no database")
    """))
    proc = start([sys.executable, "-m", "fastrapi", "run", "failing:app", "--port", str(free_port())])
    assert proc.wait() == 3
    assert "no database" in proc.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = start([sys.executable, "-m", "fastrapi", "run", "main:app", "--port", str(port)])
        assert proc.wait() == 1
        assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr


def test_bad_arguments_exit_2(project):
    root, start = project
    proc = start([sys.executable, "-m", "fastrapi", "run", "main:app", "--port", "0", "--workers", "2"])
    assert proc.wait() == 2
    assert "--port 0 cannot be used with --workers > 1" in proc.stderr
    proc = start([sys.executable, "-m", "fastrapi", "serve-it"])
    assert proc.wait() == 2


def test_reload_restarts_on_change(project):
    root, start = project
    port = free_port()
    proc = start(fastrapi_command() + ["run", "main:app", "--port", str(port), "--reload"])
    assert proc.wait_http(port, "/version").json() == {"version": 1}
    proc.wait_output("Started reloader process")
    first = httpx.get(f"http://127.0.0.1:{port}/pid").json()["pid"]
    assert first != proc.p.pid  # the reloader runs the server as a child
    source = (root / "main.py").read_text().replace('{"version": 1}', '{"version": 2}')
    (root / "main.py").write_text(source)
    deadline = time.monotonic() + 10
    body = None
    while time.monotonic() < deadline:
        try:
            body = httpx.get(f"http://127.0.0.1:{port}/version", timeout=2).json()
        except httpx.HTTPError:
            body = None
        if body == {"version": 2}:
            break
        time.sleep(0.1)
    assert body == {"version": 2}, proc.stderr
    assert "WatchFiles detected changes in 'main.py'. Reloading..." in proc.stderr
    assert httpx.get(f"http://127.0.0.1:{port}/pid").json()["pid"] not in (first, proc.p.pid)
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/pid", timeout=1)


def test_dev_reloads_and_logs_debug(project):
    root, start = project
    port = free_port()
    proc = start([sys.executable, "-m", "fastrapi", "dev", "main:app", "--port", str(port)])
    r = proc.wait_http(port, "/pid?x=1")
    assert r.status_code == 200
    err = proc.wait_output(r"DEBUG: +Loaded application main:app")
    assert "Started reloader process" in err
    proc.wait_output(ACCESS_LINE, stream="stdout")
    proc.signal(signal.SIGINT)
    assert proc.wait() == 0


# ------------------------------------------------------------------------------------------------------------
# the access log itself (in process): one line per response, whatever kind of response
# ------------------------------------------------------------------------------------------------------------
def test_access_log_lines(serve, caplog, tmp_path):
    import logging

    from fastrapi import FastrAPI
    from fastrapi.responses import FileResponse, StreamingResponse
    from fastrapi.server.access_log import LoggingHttpProtocol
    from fastrapi.server.http import HttpProtocol

    app = FastrAPI()
    (tmp_path / "f.txt").write_bytes(b"0123456789")

    @app.get("/fast")
    async def fast():
        return {"ok": True}

    @app.get("/items/{n}")
    def item(n: int):
        return {"n": n}

    @app.get("/stream")
    async def stream():
        async def gen():
            yield b"a"
            yield b"b"
        return StreamingResponse(gen(), status_code=201)

    @app.get("/file")
    async def file():
        return FileResponse(tmp_path / "f.txt")

    srv = serve(app, access_log=True)
    with caplog.at_level(logging.INFO, logger="fastrapi.access"):
        with httpx.Client(base_url=srv.url) as c:
            assert c.get("/fast").json() == {"ok": True}
            assert c.get("/items/3?x=%20y").json() == {"n": 3}
            assert c.get("/items/x").status_code == 422
            assert c.get("/nope").status_code == 404
            assert c.get("/stream").content == b"ab"
            assert c.get("/file", headers={"range": "bytes=0-3"}).content == b"0123"
            assert c.get("/file").content == b"0123456789"
            assert c.head("/fast").status_code == 200
        deadline = time.monotonic() + 3
        while len([r for r in caplog.records if r.name == "fastrapi.access"]) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
    records = [r for r in caplog.records if r.name == "fastrapi.access"]
    lines = [(r.args[1], r.args[2], r.args[3], r.args[4]) for r in records]
    assert lines == [
        ("GET", "/fast", "1.1", 200),
        ("GET", "/items/3?x=%20y", "1.1", 200),
        ("GET", "/items/x", "1.1", 422),
        ("GET", "/nope", "1.1", 404),
        ("GET", "/stream", "1.1", 201),
        ("GET", "/file", "1.1", 206),
        ("GET", "/file", "1.1", 200),
        ("HEAD", "/fast", "1.1", 200),
    ]
    assert all(re.fullmatch(r"127\.0\.0\.1:\d+", r.args[0]) for r in records)
    assert records[0].getMessage().startswith("127.0.0.1:") and records[0].getMessage().endswith(
        ' - "GET /fast HTTP/1.1" 200')
    # the access formatter (fastrapi run's) lays the line out like uvicorn's
    from fastrapi.logging import AccessFormatter

    fmt = AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False)
    assert re.fullmatch(r'INFO: +127\.0\.0\.1:\d+ - "GET /items/3\?x=%20y HTTP/1\.1" 200 OK', fmt.format(records[1]))
    with httpx.Client(base_url=srv.url) as c:
        c.get("/fast")
        assert [type(conn) for conn in srv.connections] == [LoggingHttpProtocol]
    # off (the default): the plain protocol, no access records
    caplog.clear()
    plain = serve(app)
    with caplog.at_level(logging.INFO, logger="fastrapi.access"), httpx.Client(base_url=plain.url) as c:
        assert c.get("/items/4").json() == {"n": 4}
        assert c.get("/fast").json() == {"ok": True}
        assert [type(conn) for conn in plain.connections] == [HttpProtocol]
    assert not [r for r in caplog.records if r.name == "fastrapi.access"]


def test_app_serve_script_access_log_and_reload(project):
    """``app.serve(access_log=True, reload=True)`` from a script: uvicorn-style access lines on stdout, and the
    script is run again when it changes."""
    root, start = project
    port = free_port()
    (root / "script.py").write_text(textwrap.dedent(f"""
        from fastrapi import FastrAPI
        app = FastrAPI()

        @app.get("/version")
        async def version():
            return {{"version": 1}}

        if __name__ == "__main__":
            app.serve("127.0.0.1", {port}, access_log=True, reload=True)
    """))
    proc = start([sys.executable, "script.py"])
    assert proc.wait_http(port, "/version").json() == {"version": 1}
    proc.wait_output(r'INFO: +127\.0\.0\.1:\d+ - "GET /version HTTP/1\.1" 200 OK', stream="stdout")
    (root / "script.py").write_text((root / "script.py").read_text().replace('{"version": 1}', '{"version": 2}'))
    deadline = time.monotonic() + 10
    body = None
    while time.monotonic() < deadline and body != {"version": 2}:
        try:
            body = httpx.get(f"http://127.0.0.1:{port}/version", timeout=2).json()
        except httpx.HTTPError:
            time.sleep(0.1)
    assert body == {"version": 2}, proc.stderr
    proc.signal(signal.SIGINT)
    assert proc.wait() == 0
    assert "KeyboardInterrupt" not in proc.stderr
