"""FastAPI's ``fastapi.utils``: small helpers its routing and OpenAPI code share, for code that imports them."""
from __future__ import annotations

import re
import sys
import typing
import warnings
from typing import Any, Literal, TypeVar

from pydantic import PydanticSchemaGenerationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .datastructures import DefaultPlaceholder as DefaultPlaceholder
from .exceptions import FastAPIDeprecationWarning as FastAPIDeprecationWarning
from .exceptions import FastAPIError
from .exceptions import PydanticV1NotSupportedError as PydanticV1NotSupportedError
from .exception_handlers import is_body_allowed_for_status_code as is_body_allowed_for_status_code
from .openapi.utils import ModelField as ModelField
from .openapi.utils import deep_dict_update as deep_dict_update
from .routing import generate_unique_id as generate_unique_id
from .routing import get_value_or_default as get_value_or_default

DefaultType = TypeVar("DefaultType")


def annotation_is_pydantic_v1(annotation: Any) -> bool:
    """Whether ``annotation`` is (or contains) a ``pydantic.v1`` model class: not supported."""
    v1 = sys.modules.get("pydantic.v1")
    if v1 is None:
        return False
    if isinstance(annotation, type) and issubclass(annotation, v1.BaseModel):
        return True
    return any(annotation_is_pydantic_v1(arg) for arg in typing.get_args(annotation))


def get_path_param_names(path: str) -> set[str]:
    """The names of a path template's parameters: ``"/items/{item_id}"`` -> ``{"item_id"}``."""
    return set(re.findall("{(.*?)}", path))


def create_model_field(name: str, type_: Any, default: Any = PydanticUndefined, field_info: FieldInfo | None = None,
                       alias: str | None = None,
                       mode: Literal["validation", "serialization"] = "validation") -> ModelField:
    """A ``ModelField`` for ``type_``; ``FastAPIError`` when pydantic cannot validate that type."""
    from .routing import _INVALID_RESPONSE_MODEL

    if annotation_is_pydantic_v1(type_):
        raise PydanticV1NotSupportedError(
            f"pydantic.v1 models are no longer supported by FastAPI. Please update the response model {type_!r}.")
    field_info = field_info or FieldInfo(annotation=type_, default=default, alias=alias)
    try:
        return ModelField(field_info, name, mode=mode)
    except PydanticSchemaGenerationError:
        raise FastAPIError(_INVALID_RESPONSE_MODEL.format(type_=type_)) from None


def generate_operation_id_for_path(*, name: str, path: str, method: str) -> str:
    """Deprecated in FastAPI (not used by it): ``name + path + _method`` with non-word characters as ``_``."""
    warnings.warn("fastapi.utils.generate_operation_id_for_path() was deprecated, it is not used internally, "
                  "and will be removed soon", FastAPIDeprecationWarning, stacklevel=2)
    operation_id = re.sub(r"\W", "_", f"{name}{path}")
    return f"{operation_id}_{method.lower()}"


#: FastAPI's other names here: pydantic's "no value" marker and the route class
Undefined = PydanticUndefined
from .routing import APIRoute as APIRoute  # noqa: E402
