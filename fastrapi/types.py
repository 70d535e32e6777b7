"""FastAPI's ``fastapi.types``: the type aliases its signatures use."""
import types
from enum import Enum
from typing import Any, Callable, TypeVar, Union

from pydantic import BaseModel

from .encoders import IncEx as IncEx

DecoratedCallable = TypeVar("DecoratedCallable", bound=Callable[..., Any])
UnionType = getattr(types, "UnionType", Union)
ModelNameMap = dict[Union[type[BaseModel], type[Enum]], str]
#: (the dependency, its OAuth2 scopes, its computed scope): what FastAPI caches a dependency's value under
DependencyCacheKey = tuple[Union[Callable[..., Any], None], tuple[str, ...], str]
