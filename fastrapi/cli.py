"""The ``fastrapi`` command (also ``python -m fastrapi``): ``run`` and ``dev`` serve an application.

    fastrapi run main:app --host 127.0.0.1 --port 8000 --workers 4
    fastrapi run main:app --ssl-certfile cert.pem --ssl-keyfile key.pem      # https / wss
    fastrapi run main:app --uds /run/app.sock --proxy-headers --root-path /api   # behind nginx
    fastrapi dev main.py                   # --reload and debug logging

The application is named as ``module:attribute`` (``main:app``, ``pkg.api:app``), ``module`` alone (its ``app`` or
``api``, else the one FastrAPI instance in it), or a file path (``src/main.py``, ``src/main.py:app``);
``--factory`` calls the attribute to get the app. ``run`` logs access lines unless ``--no-access-log``
(``app.serve()`` does not: see ``fastrapi.logging``). Exit status: 1 when the app cannot be loaded or the
address cannot be bound, 2 for bad arguments, 3 when the application's startup failed.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, Sequence

logger = logging.getLogger("fastrapi.error")

#: what ``fastrapi run`` without an app argument looks for, in order (as the FastAPI CLI)
DEFAULT_FILES = ("main.py", "app.py", "api.py", "app/main.py", "app/app.py", "app/api.py")
#: attribute names tried when only a module is given
DEFAULT_NAMES = ("app", "api")


class AppLoadError(Exception):
    """The application cannot be loaded; the message is the one line shown to the user."""


# ---------------------------------------------------------------------------------------------------------------
# finding and importing the application
# ---------------------------------------------------------------------------------------------------------------
def resolve_target(target: str | None, app_dir: str = ".") -> tuple[str, str | None, Path]:
    """``main:app`` / ``main`` / ``src/main.py[:app]`` / a package directory -> (module, attribute or None,
    directory to put on ``sys.path``). With no target, the first of ``DEFAULT_FILES`` that exists."""
    base = Path(app_dir).resolve()
    if not target:
        for name in DEFAULT_FILES:
            if (base / name).is_file():
                target = str(base / name)
                break
        else:
            raise AppLoadError(
                "Could not find a default file to run: give the app, e.g. 'fastrapi run main:app' "
                f"(looked for {', '.join(DEFAULT_FILES)})"
            )
    module_part, sep, attr = target.rpartition(":")
    if not sep:
        module_part, attr = target, ""
    if not module_part:
        raise AppLoadError(f'Import string "{target}" must be in format "<module>:<attribute>".')
    looks_like_path = module_part.endswith(".py") or "/" in module_part or os.sep in module_part
    if not looks_like_path:
        return module_part, attr or None, base
    path = (base / module_part).resolve()
    if path.is_dir():
        if not (path / "__init__.py").is_file():
            raise AppLoadError(f'Directory "{module_part}" is not a Python package (no __init__.py)')
        parts = [path.name]
    elif path.is_file():
        parts = [] if path.name == "__init__.py" else [path.stem]
    else:
        raise AppLoadError(f'File "{module_part}" does not exist.')
    # Walk up through packages (directories with __init__.py) to the directory to import from.
    root = path.parent
    while (root / "__init__.py").is_file():
        parts.insert(0, root.name)
        root = root.parent
    if not parts:
        raise AppLoadError(f'Cannot import "{module_part}"')
    return ".".join(parts), attr or None, root


def load_app(target: str | None, *, factory: bool = False, app_dir: str = ".") -> Any:
    """Import the application named by ``target`` (see ``resolve_target``); ``AppLoadError`` if it cannot."""
    from .applications import FastrAPI

    module_name, attr, root = resolve_target(target, app_dir)
    root_str = str(root)
    if root_str not in sys.path:
        sys.path.insert(0, root_str)
    logger.debug("Importing module %r from %s", module_name, root_str)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            raise AppLoadError(f'Could not import module "{module_name}".') from None
        raise  # the module exists; something it imports does not: the traceback says what
    if attr is None:
        candidates = [getattr(module, name) for name in DEFAULT_NAMES if isinstance(getattr(module, name, None),
                                                                                  FastrAPI)]
        if not candidates:
            candidates = [v for v in vars(module).values() if isinstance(v, FastrAPI)]
        if not candidates:
            raise AppLoadError(
                f'Could not find a FastrAPI application in module "{module_name}": name it "app" or use '
                f'"{module_name}:<attribute>".'
            )
        app = candidates[0]
        label = module_name
    else:
        app = module
        try:
            for part in attr.split("."):
                app = getattr(app, part)
        except AttributeError:
            raise AppLoadError(f'Attribute "{attr}" not found in module "{module_name}".') from None
        label = f"{module_name}:{attr}"
    if factory:
        if not callable(app):
            raise AppLoadError(f'"{label}" is not callable: --factory needs a function that returns the app.')
        app = app()
        if not isinstance(app, FastrAPI):
            raise AppLoadError(f'The factory "{label}" returned {type(app).__name__}, not a FastrAPI application.')
    elif not isinstance(app, FastrAPI):
        hint = " (a function: pass --factory to call it)" if callable(app) and not isinstance(app, type) else ""
        raise AppLoadError(f'"{label}" is not a FastrAPI application: got {type(app).__name__}{hint}.')
    logger.debug("Loaded application %s (%s) in process [%d]", label, getattr(module, "__file__", "?"), os.getpid())
    return app


# ---------------------------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """``fastrapi {run,dev} [APP] [options]``."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="fastrapi", description="Serve a FastrAPI application with FastrAPI's own server.",
    )
    parser.add_argument("--version", action="version", version=f"fastrapi {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{run,dev}")
    commands.required = True
    for name, help_text in (
        ("run", "serve the application (production: no reload, info logging, access log on)"),
        ("dev", "serve for development: reload on .py changes and debug logging"),
    ):
        dev = name == "dev"
        cmd = commands.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("app", nargs="?", default=None,
                         help="module:attribute (main:app), a module (main), or a file (src/main.py[:app]); "
                              f"default: the first of {', '.join(DEFAULT_FILES)}")
        cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
        cmd.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
        cmd.add_argument("--workers", type=int, default=1,
                         help="worker processes sharing the port (default: 1; ignored with --reload)")
        cmd.add_argument("--reload", action=argparse.BooleanOptionalAction, default=dev,
                         help=f"restart when a .py file changes (default: {'on' if dev else 'off'})")
        cmd.add_argument("--reload-dir", action="append", dest="reload_dirs", metavar="DIR",
                         help="directory to watch (repeatable; default: the app's directory)")
        cmd.add_argument("--reload-ignore-dir", action="append", dest="reload_ignore_dirs", metavar="DIR", default=[],
                         help="a directory (name or path) whose changes never reload (repeatable)")
        cmd.add_argument("--reload-ignore-pattern", action="append", dest="reload_ignore_patterns", metavar="GLOB",
                         default=[], help="files matching this glob never reload (repeatable)")
        cmd.add_argument("--reload-ignore-path", action="append", dest="reload_ignore_paths", metavar="FILE",
                         default=[], help="a file whose changes never reload (repeatable)")
        cmd.add_argument("--reload-tick", type=int, default=50, metavar="MS",
                         help="milliseconds file changes are grouped over before a reload (default: 50)")
        cmd.add_argument("--reload-ignore-worker-failure", action="store_true",
                         help="start the server again at once when it exits on its own (default: wait for a change)")
        cmd.add_argument("--log-level", default="debug" if dev else "info",
                         choices=["critical", "error", "warning", "info", "debug", "trace"],
                         help=f"log level (default: {'debug' if dev else 'info'})")
        cmd.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                         help="log one line per response to the fastrapi.access logger (default: on)")
        cmd.add_argument("--root-path", default=None, help="the path prefix the app is mounted under (a proxy's)")
        cmd.add_argument("--uds", default=None, metavar="PATH", help="listen on this Unix domain socket instead")
        cmd.add_argument("--fd", type=int, default=None,
                         help="listen on this inherited socket file descriptor instead (systemd, a process manager)")
        cmd.add_argument("--ssl-certfile", default=None, metavar="FILE",
                         help="TLS certificate chain (PEM): serve https/wss")
        cmd.add_argument("--ssl-keyfile", default=None, metavar="FILE", help="TLS private key (PEM)")
        cmd.add_argument("--ssl-keyfile-password", default=None, metavar="PASSWORD", help="password of the private key")
        cmd.add_argument("--ssl-ca-certs", default=None, metavar="FILE", help="CA certificates to verify clients with")
        cmd.add_argument("--ssl-cert-reqs", type=int, default=None, choices=[0, 1, 2],
                         help="client certificates: 0 none (default), 1 optional, 2 required")
        cmd.add_argument("--ssl-ciphers", default=None, help="OpenSSL cipher string (default: Python's)")
        cmd.add_argument("--proxy-headers", action=argparse.BooleanOptionalAction, default=False,
                         help="trust X-Forwarded-For/-Proto/-Host and Forwarded from --forwarded-allow-ips "
                              "(default: off)")
        cmd.add_argument("--forwarded-allow-ips", default=None, metavar="IPS",
                         help="comma-separated addresses/networks of trusted proxies, '*' for all "
                              "(default: $FORWARDED_ALLOW_IPS or 127.0.0.1)")
        cmd.add_argument("--factory", action="store_true", help="the attribute is a function returning the app")
        cmd.add_argument("--app-dir", default=".", help="directory to import the app from (default: .)")
        cmd.add_argument("--graceful-timeout", type=float, default=None,
                         help="seconds in-flight requests get on shutdown (default: 10)")
        cmd.add_argument("--keep-alive-timeout", type=float, default=None,
                         help="seconds an idle keep-alive connection stays open (default: 5)")
        cmd.add_argument("--header-timeout", type=float, default=None,
                         help="seconds to receive a whole request head (default: 30)")
        cmd.add_argument("--body-timeout", type=float, default=None,
                         help="seconds a request body may receive nothing (default: 30)")
        cmd.add_argument("--limit-concurrency", type=int, default=None,
                         help="open connections above which requests get 503 (default: no limit)")
        cmd.add_argument("--limit-max-requests", type=int, default=None,
                         help="requests after which a process restarts (default: no limit)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fastrapi`` and ``python -m fastrapi``; returns the exit status."""
    from .logging import configure_logging
    from .server.workers import is_reload_child, run_with_reload, serve_app

    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(args_list)
    configure_logging(args.log_level, access_log=args.access_log)
    if args.command == "dev":
        # as ``fastapi dev``: the app can tell (``app.frontend``'s check_dir="auto" only warns then)
        os.environ.setdefault("FASTAPI_ENV", "development")
    if args.workers < 1:
        logger.error("--workers must be 1 or more")
        return 2
    if args.workers > 1 and args.port == 0 and not args.reload and not (args.uds or args.fd is not None):
        logger.error("--port 0 cannot be used with --workers > 1: each worker would listen on a different "
                     "random port; choose a port")
        return 2
    options: dict[str, Any] = {"log_level": args.log_level, "access_log": args.access_log}
    if args.graceful_timeout is not None:
        options["graceful_timeout"] = args.graceful_timeout
    for name in ("keep_alive_timeout", "header_timeout", "body_timeout", "limit_concurrency", "limit_max_requests"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    for name in ("uds", "fd", "ssl_certfile", "ssl_keyfile", "ssl_keyfile_password", "ssl_ca_certs", "ssl_cert_reqs",
                 "ssl_ciphers"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.proxy_headers:
        options["proxy_headers"] = True
        options["forwarded_allow_ips"] = args.forwarded_allow_ips or os.environ.get("FORWARDED_ALLOW_IPS",
                                                                                    "127.0.0.1")
    if args.root_path:
        options["root_path"] = args.root_path
    if args.reload and not is_reload_child():
        # The reloader does not import the app: its child (this same command) does, each time it starts.
        if args.workers > 1:
            logger.warning("--reload runs one process: --workers %d is ignored", args.workers)
        try:
            dirs = args.reload_dirs or [str(resolve_target(args.app, args.app_dir)[2])]
        except AppLoadError as exc:
            logger.error("Error loading app. %s", exc)
            return 1
        run_with_reload([sys.executable, "-m", "fastrapi", *args_list], dirs,
                        options.get("graceful_timeout", 10.0), ignore_dirs=args.reload_ignore_dirs,
                        ignore_patterns=args.reload_ignore_patterns, ignore_paths=args.reload_ignore_paths,
                        tick=args.reload_tick, ignore_worker_failure=args.reload_ignore_worker_failure)
        return 0

    try:
        app = load_app(args.app, factory=args.factory, app_dir=args.app_dir)
    except AppLoadError as exc:
        logger.error("Error loading app. %s", exc)
        return 1
    except Exception:
        logger.exception("Error loading app: the module raised while being imported")
        return 1
    workers = 1 if args.reload else args.workers
    if workers == 1:
        logger.info("Started server process [%d]", os.getpid())
    try:
        serve_app(app, args.host, args.port, workers=workers, **options)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except (OSError, ValueError) as exc:  # bad TLS files or options: one line, not a traceback
        logger.error("Cannot start the server: %s", exc)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


#: FastAPI's name for the ``fastapi`` command's entry point
cli_main = main
