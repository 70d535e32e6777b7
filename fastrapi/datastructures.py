"""Request data views: Headers, QueryParams, URL, Address, State. Built lazily from raw bytes."""
from __future__ import annotations

from typing import Any, Iterator, Mapping, NamedTuple, Sequence
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
        if raw is None:
            self.raw: list[tuple[bytes, bytes]] = []
        elif isinstance(raw, Mapping):
            self.raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in raw.items()]
        else:
            self.raw = list(raw)

    def __getitem__(self, key: str) -> str:
        k = key.lower().encode("latin-1")
        for name, value in self.raw:
            if name == k:
                return value.decode("latin-1")
        raise KeyError(key)

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


class QueryParams(Mapping[str, str]):
    """Immutable multi-dict of the query string; ``q["k"]`` is the last value, ``getlist`` all of them."""

    __slots__ = ("_list", "_dict")

    def __init__(self, query: str | bytes | Sequence[tuple[str, str]] | Mapping[str, str] = "") -> None:
        if isinstance(query, bytes):
            query = query.decode("latin-1")
        if isinstance(query, str):
            self._list = parse_qsl(query, keep_blank_values=True)
        elif isinstance(query, Mapping):
            self._list = list(query.items())
        else:
            self._list = list(query)
        self._dict = dict(self._list)

    def __getitem__(self, key: str) -> str:
        return self._dict[key]

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
