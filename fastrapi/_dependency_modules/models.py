"""FastAPI's ``fastapi.dependencies.models``: what a dependency is (here: ``fastrapi.dependencies.Dependant``,
the callable with its parameter plan), the field type and the security scheme base."""
from ..dependencies import Dependant as Dependant
from ..openapi.utils import ModelField as ModelField
from ..security.base import SecurityBase as SecurityBase

__all__ = ["Dependant", "ModelField", "SecurityBase"]
from ..types import DependencyCacheKey as DependencyCacheKey  # noqa: E402
