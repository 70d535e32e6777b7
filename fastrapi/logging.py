"""Logging setup of the server and the command line: the loggers ``fastrapi``, ``fastrapi.error`` and
``fastrapi.access``, configured like uvicorn's defaults.

``fastrapi`` / ``fastrapi.error`` carry startup, shutdown and error lines (to stderr); ``fastrapi.access`` one
line per HTTP response (to stdout)::

    INFO:     127.0.0.1:54321 - "GET /items?x=1 HTTP/1.1" 200 OK

Access logging is OFF by default for ``app.serve()`` (the speed path: the default protocol has no logging
code at all) and ON for ``fastrapi run`` / ``fastrapi dev`` unless ``--no-access-log``.
"""
from __future__ import annotations

import copy
import http
import logging
import logging.config
import sys
from typing import Any, Literal

TRACE_LOG_LEVEL = 5

LOG_LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE_LOG_LEVEL,
}

#: the dictConfig applied by the command line (and by ``configure_logging``); same shape as uvicorn's
LOGGING_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {
            "()": "fastrapi.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(message)s",
            "use_colors": None,
        },
        "access": {
            "()": "fastrapi.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            "use_colors": None,
        },
    },
    "handlers": {
        "default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
    },
    "loggers": {
        "fastrapi": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "fastrapi.error": {"level": "INFO"},
        "fastrapi.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}

_COLORS = {
    TRACE_LOG_LEVEL: "\x1b[34m", logging.DEBUG: "\x1b[36m", logging.INFO: "\x1b[32m",
    logging.WARNING: "\x1b[33m", logging.ERROR: "\x1b[31m", logging.CRITICAL: "\x1b[91m",
}
_RESET = "\x1b[0m"


class DefaultFormatter(logging.Formatter):
    """``%(levelprefix)s``: the level name and a colon padded to 9 columns (coloured on a terminal)."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, style: Literal["%", "{", "$"] = "%",
                 use_colors: bool | None = None) -> None:
        self.use_colors = use_colors if use_colors in (True, False) else sys.stderr.isatty()
        super().__init__(fmt=fmt, datefmt=datefmt, style=style)

    def formatMessage(self, record: logging.LogRecord) -> str:
        levelname = record.levelname
        prefix = levelname + ":" + " " * (8 - len(levelname))
        if self.use_colors:
            color = _COLORS.get(record.levelno)
            if color:
                prefix = color + levelname + _RESET + ":" + " " * (8 - len(levelname))
        record.__dict__["levelprefix"] = prefix
        return super().formatMessage(record)


class AccessFormatter(DefaultFormatter):
    """Access lines from the record's args (client_addr, method, path, http_version, status_code)."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, style: Literal["%", "{", "$"] = "%",
                 use_colors: bool | None = None) -> None:
        if use_colors not in (True, False):
            use_colors = sys.stdout.isatty()
        super().__init__(fmt=fmt, datefmt=datefmt, style=style, use_colors=use_colors)

    def formatMessage(self, record: logging.LogRecord) -> str:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client_addr, method, full_path, http_version, status_code = args
            try:
                phrase = http.HTTPStatus(status_code).phrase
            except ValueError:
                phrase = ""
            status = f"{status_code} {phrase}".rstrip()
            request_id = record.__dict__.get("request_id")  # FastrAPI(request_id_header=...)
            if request_id:
                status = f"{status} [{request_id}]"
            line = f"{method} {full_path} HTTP/{http_version}"
            if self.use_colors:
                line = f"\x1b[1m{line}{_RESET}"
                color = "\x1b[32m" if status_code < 400 else "\x1b[33m" if status_code < 500 else "\x1b[31m"
                status = color + status + _RESET
            record.__dict__.update(client_addr=client_addr, request_line=line, status_code=status)
        else:  # not one of ours: keep the fields defined so the format cannot fail
            record.__dict__.setdefault("client_addr", "-")
            record.__dict__.setdefault("request_line", record.getMessage())
            record.__dict__.setdefault("status_code", "")
        return super().formatMessage(record)


def level_number(level: str | int) -> int:
    """``"debug"`` / ``"INFO"`` / ``10`` -> the logging level number (ValueError for an unknown name)."""
    if isinstance(level, int):
        return level
    try:
        return LOG_LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; one of {', '.join(LOG_LEVELS)}") from None


def configure_logging(log_level: str | int = "info", access_log: bool = True,
                      use_colors: bool | None = None) -> None:
    """Apply ``LOGGING_CONFIG`` (what ``fastrapi run``/``dev`` do): all three loggers at ``log_level``;
    ``access_log=False`` leaves ``fastrapi.access`` without a handler (and the server does not log access)."""
    logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")
    config = copy.deepcopy(LOGGING_CONFIG)
    if use_colors in (True, False):
        for formatter in config["formatters"].values():
            formatter["use_colors"] = use_colors
    level = level_number(log_level)
    for name in ("fastrapi", "fastrapi.error", "fastrapi.access"):
        config["loggers"][name]["level"] = level
    if not access_log:
        config["loggers"]["fastrapi.access"]["handlers"] = []
    logging.config.dictConfig(config)


def configure_default_logging(log_level: str | int = "info", access_log: bool = False) -> None:
    """What ``app.serve()`` does: give FastrAPI's loggers stderr/stdout handlers only when neither they nor the
    root logger have any (an application that configured logging keeps its own setup)."""
    if logging.getLogger().handlers:
        return
    level = level_number(log_level)
    main = logging.getLogger("fastrapi")
    if not main.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
        main.addHandler(handler)
        main.setLevel(level)
        main.propagate = False
    if access_log:
        access = logging.getLogger("fastrapi.access")
        if not access.handlers:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'))
            access.addHandler(handler)
            access.setLevel(level)
            access.propagate = False
