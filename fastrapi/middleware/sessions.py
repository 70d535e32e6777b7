"""``SessionMiddleware``: ``request.session``, a dict kept in a signed cookie (Starlette's format).

The cookie is Starlette's: base64 of the JSON session, signed with itsdangerous' ``TimestampSigner`` under
``secret_key``; an app on FastAPI/Starlette with the same key reads the same cookies. Nothing is stored on
the server side: keep sessions small and do not put secrets in them (they are signed, not encrypted).
"""
from __future__ import annotations

import json
from base64 import b64decode, b64encode
from typing import TYPE_CHECKING, Any, Literal

import itsdangerous
from itsdangerous.exc import BadSignature

from ..responses import Response
from .base import NativeMiddleware, RequestResponseEndpoint, add_vary

if TYPE_CHECKING:
    from ..requests import Request

__all__ = ["SessionMiddleware", "Session"]


class Session(dict):  # type: ignore[type-arg]
    """The session dict: remembers whether it was read (``Vary: Cookie``) or changed (cookie re-sent)."""

    accessed: bool = False
    modified: bool = False

    def mark_accessed(self) -> None:
        self.accessed = True

    def mark_modified(self) -> None:
        self.accessed = True
        self.modified = True

    def __setitem__(self, key: str, value: Any) -> None:
        self.mark_modified()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.mark_modified()
        super().__delitem__(key)

    def clear(self) -> None:
        self.mark_modified()
        super().clear()

    def pop(self, key: str, *args: Any) -> Any:
        if key in self:
            self.mark_modified()
        return super().pop(key, *args)

    def popitem(self) -> tuple[str, Any]:
        item = super().popitem()
        self.mark_modified()
        return item

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.mark_modified()
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.mark_modified()
        super().update(*args, **kwargs)

    def __ior__(self, other: Any) -> "Session":  # type: ignore[override,misc]
        self.mark_modified()
        return super().__ior__(other)  # type: ignore[return-value]


class SessionMiddleware(NativeMiddleware):
    """Load ``request.session`` from the signed cookie; after the handler, send the cookie again if the
    session changed (or clear it when the session was emptied). Same options as Starlette's."""

    def __init__(
        self,
        app: RequestResponseEndpoint | None = None,
        secret_key: Any = None,
        session_cookie: str = "session",
        max_age: int | None = 14 * 24 * 60 * 60,
        path: str = "/",
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        domain: str | None = None,
        partitioned: bool = False,
    ) -> None:
        if secret_key is None:
            raise TypeError("SessionMiddleware needs a secret_key")
        self.app = app
        self.signer = itsdangerous.TimestampSigner(str(secret_key))
        self.session_cookie = session_cookie
        self.max_age = max_age
        self.path = path
        self.security_flags = "httponly; samesite=" + same_site
        if https_only:  # the Secure flag: sent over HTTPS only
            self.security_flags += "; secure"
        if domain is not None:
            self.security_flags += f"; domain={domain}"
        if partitioned:
            self.security_flags += "; partitioned"

    def load(self, request: "Request") -> bool:
        """Put the session from the request's cookie on ``request.session``; whether there was a valid one."""
        data = request.cookies.get(self.session_cookie)
        if data is not None:
            try:
                raw = self.signer.unsign(data.encode("utf-8"), max_age=self.max_age)
                request._session = Session(json.loads(b64decode(raw)))
                return True
            except BadSignature:
                pass
        request._session = Session()
        return False

    async def handle(self, request: "Request") -> Response:
        had_session = self.load(request)
        response = await self.app(request)
        session: Session = request._session
        raw = response.raw_headers
        if session.accessed:
            add_vary(raw, b"Cookie")
        if session.modified and session:
            data = self.signer.sign(b64encode(json.dumps(session).encode("utf-8")))
            max_age = f"Max-Age={self.max_age}; " if self.max_age is not None else ""
            value = f"{self.session_cookie}={data.decode('utf-8')}; path={self.path}; {max_age}{self.security_flags}"
            raw.append((b"set-cookie", value.encode("latin-1")))
        elif session.modified and had_session:
            value = (f"{self.session_cookie}=null; path={self.path}; "
                     f"expires=Thu, 01 Jan 1970 00:00:00 GMT; {self.security_flags}")
            raw.append((b"set-cookie", value.encode("latin-1")))
        return response
