"""Request data views: Headers, QueryParams, URL, Address, State, and the parsed form (FormData, UploadFile)."""
from __future__ import annotations

from collections.abc import Mapping as _AbcMapping
from typing import Any, BinaryIO, Iterator, Mapping, NamedTuple, Sequence, TypeVar
from urllib.parse import parse_qsl, unquote


class Address(NamedTuple):
    host: str
    port: int


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued view of the raw ``(name, value)`` header byte pairs.

    Names are stored lower-cased (the server lower-cases them while parsing); values decode as latin-1.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: Sequence[tuple[bytes, bytes]] | Mapping[str, str] | None = None) -> None:
        if type(raw) is list:  # (the server's parsed headers: the common case first)
            self.raw: list[tuple[bytes, bytes]] = raw
        elif raw is None:
            self.raw = []
        elif isinstance(raw, _AbcMapping):
            self.raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in raw.items()]
        else:
            self.raw = list(raw)

    def __getitem__(self, key: str) -> str:
        k = key.lower().encode("latin-1")
        for name, value in self.raw:
            if name == k:
                return value.decode("latin-1")
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:  # (Mapping.get goes through a KeyError)
        k = key.lower().encode("latin-1")
        for name, value in self.raw:
            if name == k:
                return value.decode("latin-1")
        return default

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        k = key.lower().encode("latin-1")
        return any(name == k for name, _ in self.raw)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.raw)

    def keys(self) -> list[str]:  # type: ignore[override]
        return [name.decode("latin-1") for name, _ in self.raw]

    def values(self) -> list[str]:  # type: ignore[override]
        return [value.decode("latin-1") for _, value in self.raw]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw]

    def getlist(self, key: str) -> list[str]:
        k = key.lower().encode("latin-1")
        return [v.decode("latin-1") for n, v in self.raw if n == k]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return sorted(self.raw) == sorted(other.raw)

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


def parse_query(query: str) -> list[tuple[str, str]]:
    """``parse_qsl(query, keep_blank_values=True)``, with a quick split when nothing needs unquoting."""
    if "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True)
    out = []
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            out.append((key, value))
    return out


class QueryParams(Mapping[str, str]):
    """Immutable multi-dict of the query string; ``q["k"]`` is the last value, ``getlist`` all of them."""

    __slots__ = ("_list", "_dict")

    def __init__(self, query: str | bytes | Sequence[tuple[str, str]] | Mapping[str, str] = "") -> None:
        if isinstance(query, bytes):
            query = query.decode("latin-1")
        if isinstance(query, str):
            self._list = parse_query(query)
        elif isinstance(query, _AbcMapping):
            self._list = list(query.items())
        else:
            self._list = list(query)
        self._dict = dict(self._list)

    def __getitem__(self, key: str) -> str:
        return self._dict[key]

    def get(self, key: str, default: Any = None) -> Any:  # (Mapping.get goes through a KeyError)
        return self._dict.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def getlist(self, key: str) -> list[str]:
        return [v for k, v in self._list if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._list)

    def __str__(self) -> str:
        from urllib.parse import urlencode

        return urlencode(self._list)

    def __repr__(self) -> str:
        return f"QueryParams({str(self)!r})"


class URL:
    """The request URL, assembled from scheme, Host header, path and query."""

    __slots__ = ("scheme", "netloc", "path", "query", "_str")

    def __init__(self, scheme: str, netloc: str, path: str, query: str = "") -> None:
        self.scheme = scheme
        self.netloc = netloc
        self.path = path
        self.query = query
        self._str = f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")

    @property
    def hostname(self) -> str | None:
        host = self.netloc.rsplit("@", 1)[-1]
        if host.startswith("["):
            return host[1 : host.find("]")]
        return host.split(":", 1)[0] or None

    @property
    def port(self) -> int | None:
        host = self.netloc.rsplit("@", 1)[-1]
        tail = host.rsplit("]", 1)[-1]
        if ":" in tail:
            try:
                return int(tail.rsplit(":", 1)[1])
            except ValueError:
                return None
        return None

    @property
    def is_secure(self) -> bool:
        return self.scheme in ("https", "wss")

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return f"URL({self._str!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self._str)


class URLPath(str):
    """A route's path from ``url_path_for`` (Starlette's): a ``str`` that knows whether it is an HTTP or a
    WebSocket route, so ``make_absolute_url`` picks http(s) or ws(s)."""

    def __new__(cls, path: str, protocol: str = "", host: str = "") -> "URLPath":
        return str.__new__(cls, path)

    def __init__(self, path: str, protocol: str = "", host: str = "") -> None:
        self.protocol = protocol
        self.host = host

    def make_absolute_url(self, base_url: URL) -> URL:
        """This path under ``base_url`` (its scheme, host and root path)."""
        if self.protocol:
            secure = base_url.is_secure
            scheme = ("https" if secure else "http") if self.protocol == "http" else ("wss" if secure else "ws")
        else:
            scheme = base_url.scheme
        return URL(scheme, self.host or base_url.netloc, base_url.path.rstrip("/") + str(self))


class DefaultPlaceholder:
    """FastAPI's marker for a value that was left at its default (``Default(JSONResponse)``), so that a
    setting given explicitly at any level wins over the defaults of the levels around it."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __bool__(self) -> bool:
        return bool(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DefaultPlaceholder) and other.value == self.value

    def __repr__(self) -> str:
        return f"Default({self.value!r})"


def Default(value: Any) -> Any:  # noqa: N802 (FastAPI's name)
    """Mark ``value`` as a default: ``get_value_or_default`` prefers any value that is not marked."""
    return DefaultPlaceholder(value)


class State:
    """Attribute bag for per-app, per-request or per-connection user data (``request.state.user = ...``)."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        super().__setattr__("_state", dict(state or {}))

    def __setattr__(self, key: str, value: Any) -> None:
        self._state[key] = value

    def __getattr__(self, key: str) -> Any:
        try:
            return self._state[key]
        except KeyError:
            raise AttributeError(f"'State' object has no attribute '{key}'") from None

    def __delattr__(self, key: str) -> None:
        del self._state[key]


def parse_cookies(header: str) -> dict[str, str]:
    """Parse a Cookie header the way browsers send it (as Starlette's cookie_parser does)."""
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        if "=" in chunk:
            key, val = chunk.split("=", 1)
        else:
            key, val = "", chunk
        key, val = key.strip(), val.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1]
        if key or val:
            cookies[key] = unquote(val)
    return cookies


class UploadFile:
    """An uploaded file of a multipart form: ``filename``, ``content_type``, ``size``, ``headers`` and the
    ``file`` itself (a SpooledTemporaryFile: in memory up to 1 MiB, on disk beyond). The async methods run
    disk I/O in the thread pool once the file has rolled over to disk."""

    __slots__ = ("file", "filename", "size", "headers", "_read_cache")

    def __init__(self, file: BinaryIO, *, size: int | None = None, filename: str | None = None,
                 headers: "Headers | None" = None) -> None:
        self.file = file
        self.filename = filename
        self.size = size
        self.headers = headers if headers is not None else Headers()
        #: the content, once read for a ``bytes`` File parameter
        self._read_cache: bytes | None = None

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def _in_memory(self) -> bool:
        return not getattr(self.file, "_rolled", True)

    async def write(self, data: bytes) -> None:
        if self.size is not None:
            self.size += len(data)
        if self._in_memory:
            self.file.write(data)
        else:
            from .concurrency import run_in_threadpool

            await run_in_threadpool(self.file.write, data)

    async def read(self, size: int = -1) -> bytes:
        if self._in_memory:
            return self.file.read(size)
        from .concurrency import run_in_threadpool

        return await run_in_threadpool(self.file.read, size)

    async def seek(self, offset: int) -> None:
        if self._in_memory:
            self.file.seek(offset)
        else:
            from .concurrency import run_in_threadpool

            await run_in_threadpool(self.file.seek, offset)

    async def close(self) -> None:
        if self._in_memory:
            self.file.close()
        else:
            from .concurrency import run_in_threadpool

            await run_in_threadpool(self.file.close)

    def __repr__(self) -> str:
        return f"UploadFile(filename={self.filename!r}, size={self.size!r}, headers={self.headers!r})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Lets ``UploadFile``, ``list[UploadFile]`` and ``UploadFile | None`` appear in validated annotations."""
        from pydantic_core import core_schema

        def validate(value: Any) -> "UploadFile":
            if not isinstance(value, UploadFile):
                raise ValueError(f"Expected UploadFile, received: {type(value)}")
            return value

        return core_schema.no_info_plain_validator_function(validate)


class FormData(Mapping[str, Any]):
    """A parsed form: field values (``str``) and files (``UploadFile``), several per name allowed.

    ``form[name]`` and ``form.get(name)`` give the last value of a name, ``form.getlist(name)`` all of them."""

    __slots__ = ("_list", "_dict")

    def __init__(self, items: Sequence[tuple[str, Any]] | Mapping[str, Any] = ()) -> None:
        self._list: list[tuple[str, Any]] = list(items.items()) if isinstance(items, _AbcMapping) else list(items)
        self._dict = dict(self._list)

    def __getitem__(self, key: str) -> Any:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def getlist(self, key: str) -> list[Any]:
        return [v for k, v in self._list if k == key]

    def multi_items(self) -> list[tuple[str, Any]]:
        return list(self._list)

    async def close(self) -> None:
        """Close every uploaded file of the form."""
        for _, value in self._list:
            if isinstance(value, UploadFile):
                await value.close()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FormData):
            return sorted(self._list, key=repr) == sorted(other._list, key=repr)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FormData({self._list!r})"


#: FastAPI's names: Starlette's UploadFile (here the same class) and the type variable of ``Default``
StarletteUploadFile = UploadFile
DefaultType = TypeVar("DefaultType")
