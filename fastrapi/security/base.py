"""``SecurityBase``: what every security scheme has, so the app (and later OpenAPI) can recognise one."""
from __future__ import annotations

from .models import SecurityBase as SecurityBaseModel


class SecurityBase:
    """A security scheme: a dependency callable with an OpenAPI ``model`` and a ``scheme_name``."""

    model: SecurityBaseModel
    scheme_name: str
