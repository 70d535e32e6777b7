"""FastAPI's ``fastapi.types``: the type aliases its signatures use."""
import types
from enum import Enum
from contextlib import AbstractAsyncContextManager
from typing import Any, Awaitable, Callable, MutableMapping, TypeVar, Union

from pydantic import BaseModel

from .encoders import IncEx as IncEx

DecoratedCallable = TypeVar("DecoratedCallable", bound=Callable[..., Any])
UnionType = getattr(types, "UnionType", Union)
ModelNameMap = dict[Union[type[BaseModel], type[Enum]], str]
#: (the dependency, its OAuth2 scopes, its computed scope): what FastAPI caches a dependency's value under
DependencyCacheKey = tuple[Union[Callable[..., Any], None], tuple[str, ...], str]

#: the ASGI types (Starlette's ``starlette.types``, which FastAPI's modules re-export)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
AppType = TypeVar("AppType")
Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]
