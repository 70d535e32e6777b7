"""OpenAPI descriptions of security schemes: re-exported from ``fastrapi.openapi.models``, where they live (as in
FastAPI). Each scheme object keeps one in ``.model``, the entry it contributes to ``components.securitySchemes``."""
from ..openapi.models import APIKey as APIKey
from ..openapi.models import APIKeyIn as APIKeyIn
from ..openapi.models import BaseModelWithConfig as BaseModelWithConfig
from ..openapi.models import HTTPBase as HTTPBase
from ..openapi.models import HTTPBearer as HTTPBearer
from ..openapi.models import OAuth2 as OAuth2
from ..openapi.models import OAuthFlow as OAuthFlow
from ..openapi.models import OAuthFlowAuthorizationCode as OAuthFlowAuthorizationCode
from ..openapi.models import OAuthFlowClientCredentials as OAuthFlowClientCredentials
from ..openapi.models import OAuthFlowImplicit as OAuthFlowImplicit
from ..openapi.models import OAuthFlowPassword as OAuthFlowPassword
from ..openapi.models import OAuthFlows as OAuthFlows
from ..openapi.models import OpenIdConnect as OpenIdConnect
from ..openapi.models import SecurityBase as SecurityBase
from ..openapi.models import SecuritySchemeType as SecuritySchemeType

__all__ = [
    "APIKey", "APIKeyIn", "BaseModelWithConfig", "HTTPBase", "HTTPBearer", "OAuth2", "OAuthFlow",
    "OAuthFlowAuthorizationCode", "OAuthFlowClientCredentials", "OAuthFlowImplicit", "OAuthFlowPassword",
    "OAuthFlows", "OpenIdConnect", "SecurityBase", "SecuritySchemeType",
]
