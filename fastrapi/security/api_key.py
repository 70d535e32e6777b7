"""API key schemes: the key comes from a query parameter, a header or a cookie (FastAPI's ``api_key``)."""
from __future__ import annotations

from ..exceptions import HTTPException
from ..requests import HTTPConnection as HTTPConnection  # noqa: F401 (FastAPI imports it here)
from ..requests import Request
from ..status import HTTP_401_UNAUTHORIZED
from .base import SecurityBase
from .models import APIKey, APIKeyIn


class APIKeyBase(SecurityBase):
    """Shared by the three API key schemes: the OpenAPI model and the missing-key answer."""

    model: APIKey

    def __init__(self, location: APIKeyIn, name: str, description: str | None, scheme_name: str | None,
                 auto_error: bool) -> None:
        self.auto_error = auto_error
        self.model = APIKey(**{"in": location}, name=name, description=description)
        self.scheme_name = scheme_name or self.__class__.__name__

    def make_not_authenticated_error(self) -> HTTPException:
        """401 with the custom ``APIKey`` challenge (a 401 must carry a ``WWW-Authenticate`` header)."""
        return HTTPException(status_code=HTTP_401_UNAUTHORIZED, detail="Not authenticated",
                             headers={"WWW-Authenticate": "APIKey"})

    def check_api_key(self, api_key: str | None) -> str | None:
        """The key, or (when missing or empty) the 401, or None with ``auto_error=False``."""
        if not api_key:
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return api_key


class APIKeyQuery(APIKeyBase):
    """API key in the query parameter ``name``; the dependency's value is the key (a str)."""

    def __init__(self, *, name: str, scheme_name: str | None = None, description: str | None = None,
                 auto_error: bool = True) -> None:
        super().__init__(location=APIKeyIn.query, name=name, scheme_name=scheme_name, description=description,
                         auto_error=auto_error)

    async def __call__(self, request: Request) -> str | None:
        return self.check_api_key(request.query_params.get(self.model.name))


class APIKeyHeader(APIKeyBase):
    """API key in the header ``name``; the dependency's value is the key (a str)."""

    def __init__(self, *, name: str, scheme_name: str | None = None, description: str | None = None,
                 auto_error: bool = True) -> None:
        super().__init__(location=APIKeyIn.header, name=name, scheme_name=scheme_name, description=description,
                         auto_error=auto_error)

    async def __call__(self, request: Request) -> str | None:
        return self.check_api_key(request.headers.get(self.model.name))


class APIKeyCookie(APIKeyBase):
    """API key in the cookie ``name``; the dependency's value is the key (a str)."""

    def __init__(self, *, name: str, scheme_name: str | None = None, description: str | None = None,
                 auto_error: bool = True) -> None:
        super().__init__(location=APIKeyIn.cookie, name=name, scheme_name=scheme_name, description=description,
                         auto_error=auto_error)

    async def __call__(self, request: Request) -> str | None:
        return self.check_api_key(request.cookies.get(self.model.name))
