"""OAuth2: the password and authorization-code bearer schemes, the password login form, ``SecurityScopes``."""
from __future__ import annotations

from typing import Annotated, Any, Optional, Union, cast

from ..exceptions import HTTPException
from ..param_functions import Form
from ..requests import HTTPConnection as HTTPConnection  # noqa: F401 (FastAPI imports it here)
from ..requests import Request
from ..status import HTTP_401_UNAUTHORIZED
from .base import SecurityBase
from .models import OAuth2 as OAuth2Model
from .models import OAuthFlows as OAuthFlowsModel
from .utils import get_authorization_scheme_param


class OAuth2PasswordRequestForm:
    """The OAuth2 password flow's login form (``Depends()`` it): ``username``, ``password``, space-separated
    ``scope`` (as the list ``scopes``), optional ``grant_type`` (must be "password" when sent) and client id/secret."""

    def __init__(
        self,
        *,
        grant_type: Annotated[Union[str, None], Form(pattern="^password$")] = None,
        username: Annotated[str, Form()],
        password: Annotated[str, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[Union[str, None], Form()] = None,
        client_secret: Annotated[Union[str, None], Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        self.grant_type = grant_type
        self.username = username
        self.password = password
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret


class OAuth2PasswordRequestFormStrict(OAuth2PasswordRequestForm):
    """Like ``OAuth2PasswordRequestForm``, but ``grant_type=password`` is required, as the spec says."""

    def __init__(
        self,
        grant_type: Annotated[str, Form(pattern="^password$")],
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[Union[str, None], Form()] = None,
        client_secret: Annotated[Union[str, None], Form()] = None,
    ) -> None:
        super().__init__(grant_type=grant_type, username=username, password=password, scope=scope,
                         client_id=client_id, client_secret=client_secret)


class OAuth2(SecurityBase):
    """Base of the OAuth2 schemes; on its own its value is the whole ``Authorization`` header."""

    def __init__(
        self,
        *,
        flows: Union[OAuthFlowsModel, dict[str, dict[str, Any]]] = OAuthFlowsModel(),
        scheme_name: Optional[str] = None,
        description: Optional[str] = None,
        auto_error: bool = True,
    ) -> None:
        self.model = OAuth2Model(flows=cast(OAuthFlowsModel, flows), description=description)
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


class OAuth2PasswordBearer(OAuth2):
    """OAuth2 password flow: the value is the token of ``Authorization: Bearer <token>``; clients get the token
    by posting the login form to ``tokenUrl``."""

    def __init__(
        self,
        tokenUrl: str,  # noqa: N803 - the OpenAPI field name, as in FastAPI
        scheme_name: Optional[str] = None,
        scopes: Optional[dict[str, str]] = None,
        description: Optional[str] = None,
        auto_error: bool = True,
        refreshUrl: Optional[str] = None,  # noqa: N803
    ) -> None:
        flows = OAuthFlowsModel(password=cast(Any, {"tokenUrl": tokenUrl, "refreshUrl": refreshUrl,
                                                     "scopes": scopes or {}}))
        super().__init__(flows=flows, scheme_name=scheme_name, description=description, auto_error=auto_error)

    async def __call__(self, request: Request) -> Optional[str]:
        authorization = request.headers.get("Authorization")
        scheme, param = get_authorization_scheme_param(authorization)
        if not authorization or scheme.lower() != "bearer":
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return param


class OAuth2AuthorizationCodeBearer(OAuth2):
    """OAuth2 authorization-code flow: the value is the bearer token, as for ``OAuth2PasswordBearer``."""

    def __init__(
        self,
        authorizationUrl: str,  # noqa: N803
        tokenUrl: str,  # noqa: N803
        refreshUrl: Optional[str] = None,  # noqa: N803
        scheme_name: Optional[str] = None,
        scopes: Optional[dict[str, str]] = None,
        description: Optional[str] = None,
        auto_error: bool = True,
    ) -> None:
        flows = OAuthFlowsModel(authorizationCode=cast(Any, {"authorizationUrl": authorizationUrl,
                                                              "tokenUrl": tokenUrl, "refreshUrl": refreshUrl,
                                                              "scopes": scopes or {}}))
        super().__init__(flows=flows, scheme_name=scheme_name, description=description, auto_error=auto_error)

    async def __call__(self, request: Request) -> Optional[str]:
        authorization = request.headers.get("Authorization")
        scheme, param = get_authorization_scheme_param(authorization)
        if not authorization or scheme.lower() != "bearer":
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return param


class SecurityScopes:
    """Declare a parameter ``security_scopes: SecurityScopes`` in a dependency to get the scopes that every
    ``Security(..., scopes=[...])`` from the route down to it requires: ``.scopes`` (list) and ``.scope_str``."""

    def __init__(self, scopes: Optional[list[str]] = None) -> None:
        self.scopes: list[str] = scopes or []
        self.scope_str: str = " ".join(self.scopes)
