"""OpenID Connect: the value is the whole ``Authorization`` header; the discovery URL is for OpenAPI."""
from __future__ import annotations

from typing import Optional

from ..exceptions import HTTPException
from ..requests import HTTPConnection as HTTPConnection  # noqa: F401 (FastAPI imports it here)
from ..requests import Request
from ..status import HTTP_401_UNAUTHORIZED
from .base import SecurityBase
from .models import OpenIdConnect as OpenIdConnectModel


class OpenIdConnect(SecurityBase):
    """OpenID Connect scheme: 401 without an ``Authorization`` header, else the header's value."""

    def __init__(self, *, openIdConnectUrl: str, scheme_name: Optional[str] = None,  # noqa: N803
                 description: Optional[str] = None, auto_error: bool = True) -> None:
        self.model = OpenIdConnectModel(openIdConnectUrl=openIdConnectUrl, description=description)
        self.scheme_name = scheme_name or self.__class__.__name__
        self.auto_error = auto_error

    def make_not_authenticated_error(self) -> HTTPException:
        """401 "Not authenticated" with the ``Bearer`` challenge."""
        return HTTPException(status_code=HTTP_401_UNAUTHORIZED, detail="Not authenticated",
                             headers={"WWW-Authenticate": "Bearer"})

    async def __call__(self, request: Request) -> Optional[str]:
        authorization = request.headers.get("Authorization")
        if not authorization:
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return authorization
