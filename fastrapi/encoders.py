"""jsonable_encoder: turn pydantic models, dataclasses, sets, Decimals... into JSON-ready Python data.

It gives what FastAPI's ``fastapi.encoders.jsonable_encoder`` gives, option for option, error for error. With
the default options (the orjson ``default=`` fallback, the 422 path) it dispatches on the exact type through a
per-type cache of the first matching rule; with options it runs FastAPI's rules in their order.
"""
from __future__ import annotations

import dataclasses
import datetime
import sys
from collections import defaultdict, deque
from decimal import Decimal
from enum import Enum
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, IPv6Network
from pathlib import Path, PurePath
from re import Pattern
from types import GeneratorType
from typing import Any, Callable, Dict, Mapping, Set, Union
from uuid import UUID

from pydantic import BaseModel
from pydantic.networks import AnyUrl, NameEmail
from pydantic.types import SecretBytes, SecretStr
from pydantic_core import PydanticUndefinedType, Url

from .datastructures import UploadFile
from .exceptions import FastAPIError, PydanticV1NotSupportedError  # noqa: F401 (FastAPI exports both here)

try:  # deprecated in pydantic v2 but still encoded by FastAPI
    from pydantic.color import Color
except ImportError:  # pragma: no cover

    class Color:  # type: ignore[no-redef]
        pass


try:
    from pydantic_extra_types.color import Color as PyExtraColor
except ImportError:

    class PyExtraColor:  # type: ignore[no-redef]
        pass


IncEx = Union[Set[int], Set[str], Mapping[int, Union["IncEx", bool]], Mapping[str, Union["IncEx", bool]]]


def is_pydantic_v1_model_instance(obj: Any) -> bool:
    """Whether ``obj`` is a ``pydantic.v1`` model (not supported: FastAPI's check, only when v1 is loaded)."""
    v1 = sys.modules.get("pydantic.v1")
    return v1 is not None and isinstance(obj, v1.BaseModel)


def isoformat(o: datetime.date | datetime.time) -> str:
    """ISO 8601 text of a date, datetime or time."""
    return o.isoformat()


def decimal_encoder(dec_value: Decimal) -> int | float:
    """A Decimal as ``int`` when it has no fractional exponent (``Decimal("1")`` -> 1), else as ``float``."""
    exponent = dec_value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(dec_value)
    return float(dec_value)


# Same table (and same encoder objects, so the same grouping and order below) as FastAPI's.
ENCODERS_BY_TYPE: dict[type[Any], Callable[[Any], Any]] = {
    bytes: lambda o: o.decode(),
    Color: str,
    PyExtraColor: str,
    datetime.date: isoformat,
    datetime.datetime: isoformat,
    datetime.time: isoformat,
    datetime.timedelta: lambda td: td.total_seconds(),
    Decimal: decimal_encoder,
    Enum: lambda o: o.value,
    frozenset: list,
    deque: list,
    GeneratorType: list,
    IPv4Address: str,
    IPv4Interface: str,
    IPv4Network: str,
    IPv6Address: str,
    IPv6Interface: str,
    IPv6Network: str,
    NameEmail: str,
    Path: str,
    Pattern: lambda o: o.pattern,
    SecretBytes: str,
    SecretStr: str,
    set: list,
    UUID: str,
    Url: str,
    AnyUrl: str,
}


def generate_encoders_by_class_tuples(
    type_encoder_map: dict[Any, Callable[[Any], Any]],
) -> dict[Callable[[Any], Any], tuple[Any, ...]]:
    """``{encoder: (types it encodes)}``, for the ``isinstance`` pass over subclasses of the table's types."""
    encoders_by_class_tuples: dict[Callable[[Any], Any], tuple[Any, ...]] = defaultdict(tuple)
    for type_, encoder in type_encoder_map.items():
        encoders_by_class_tuples[encoder] += (type_,)
    return encoders_by_class_tuples


encoders_by_class_tuples = generate_encoders_by_class_tuples(ENCODERS_BY_TYPE)

_SEQUENCES = (list, set, frozenset, GeneratorType, tuple, deque)
_PRIMITIVES = (str, int, float, type(None))
_NoneType = type(None)


def jsonable_encoder(
    obj: Any,
    include: IncEx | None = None,
    exclude: IncEx | None = None,
    by_alias: bool = True,
    exclude_unset: bool = False,
    exclude_defaults: bool = False,
    exclude_none: bool = False,
    custom_encoder: Dict[Any, Callable[[Any], Any]] | None = None,
    sqlalchemy_safe: bool = True,
) -> Any:
    """Convert any object to something that can be encoded in JSON (FastAPI's ``jsonable_encoder``).

    The options are pydantic's ``model_dump`` ones; ``custom_encoder`` maps types to functions tried first;
    ``sqlalchemy_safe`` drops mapping keys starting with ``_sa``.
    """
    if (include is None and exclude is None and by_alias is True and exclude_unset is False
            and exclude_defaults is False and exclude_none is False and not custom_encoder
            and sqlalchemy_safe is True):
        return _default(obj)
    return _general(obj, include, exclude, by_alias, exclude_unset, exclude_defaults, exclude_none,
                    custom_encoder or {}, sqlalchemy_safe)


def _encode(obj: Any, include: Any, exclude: Any, by_alias: Any, exclude_unset: Any, exclude_defaults: Any,
            exclude_none: Any, custom_encoder: Any, sqlalchemy_safe: Any) -> Any:
    """``jsonable_encoder`` with positional options (the recursive calls)."""
    if (include is None and exclude is None and by_alias is True and exclude_unset is False
            and exclude_defaults is False and exclude_none is False and not custom_encoder
            and sqlalchemy_safe is True):
        return _default(obj)
    return _general(obj, include, exclude, by_alias, exclude_unset, exclude_defaults, exclude_none,
                    custom_encoder, sqlalchemy_safe)


# ---------------------------------------------------------------------------------------------------------------
# Any options: FastAPI's rules, in FastAPI's order.

def _general(obj: Any, include: Any, exclude: Any, by_alias: Any, exclude_unset: Any, exclude_defaults: Any,
             exclude_none: Any, custom_encoder: Any, sqlalchemy_safe: Any) -> Any:
    """FastAPI's ``jsonable_encoder`` body, rule for rule (``custom_encoder`` already ``or {}``)."""
    if custom_encoder:
        if type(obj) in custom_encoder:
            return custom_encoder[type(obj)](obj)
        for encoder_type, encoder_instance in custom_encoder.items():
            if isinstance(obj, encoder_type):
                return encoder_instance(obj)
    if include is not None and not isinstance(include, (set, dict)):
        include = set(include)
    if exclude is not None and not isinstance(exclude, (set, dict)):
        exclude = set(exclude)
    if isinstance(obj, BaseModel):
        obj_dict = obj.model_dump(mode="json", include=include, exclude=exclude, by_alias=by_alias,
                                  exclude_unset=exclude_unset, exclude_none=exclude_none,
                                  exclude_defaults=exclude_defaults)
        return _encode(obj_dict, None, None, True, False, exclude_defaults, exclude_none, {}, sqlalchemy_safe)
    if dataclasses.is_dataclass(obj):
        if isinstance(obj, type):
            raise AssertionError
        return _encode(dataclasses.asdict(obj), include, exclude, by_alias, exclude_unset, exclude_defaults,
                       exclude_none, custom_encoder, sqlalchemy_safe)
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, _PRIMITIVES):
        return obj
    if isinstance(obj, PydanticUndefinedType):
        return None
    if isinstance(obj, dict):
        encoded_dict = {}
        allowed_keys = set(obj.keys())
        if include is not None:
            allowed_keys &= set(include)
        if exclude is not None:
            allowed_keys -= set(exclude)
        for key, value in obj.items():
            if ((not sqlalchemy_safe or not isinstance(key, str) or not key.startswith("_sa"))
                    and (value is not None or not exclude_none) and key in allowed_keys):
                encoded_key = _encode(key, None, None, by_alias, exclude_unset, exclude_defaults, exclude_none,
                                      custom_encoder, sqlalchemy_safe)
                encoded_dict[encoded_key] = _encode(value, None, None, by_alias, exclude_unset,
                                                    exclude_defaults, exclude_none, custom_encoder,
                                                    sqlalchemy_safe)
        return encoded_dict
    if isinstance(obj, _SEQUENCES):
        return [_encode(item, include, exclude, by_alias, exclude_unset, exclude_defaults, exclude_none,
                        custom_encoder, sqlalchemy_safe) for item in obj]
    encoded = _table_lookup(obj)
    if encoded is not _NO_MATCH:
        return encoded
    return _encode(_as_mapping(obj), include, exclude, by_alias, exclude_unset, exclude_defaults, exclude_none,
                   custom_encoder, sqlalchemy_safe)


# ---------------------------------------------------------------------------------------------------------------
# The last rules (shared): the type table, its isinstance pass, pydantic.v1 models, then dict(obj) / vars(obj).

_NO_MATCH = object()


def _table_lookup(obj: Any) -> Any:
    """The table's encoding of ``obj`` (exact type, then isinstance in FastAPI's order), or ``_NO_MATCH``."""
    encoder = ENCODERS_BY_TYPE.get(type(obj))
    if encoder is not None:
        return encoder(obj)
    for encoder, classes_tuple in encoders_by_class_tuples.items():
        if isinstance(obj, classes_tuple):
            return encoder(obj)
    return _NO_MATCH


def _as_mapping(obj: Any) -> Any:
    """``dict(obj)``, else ``vars(obj)`` (our ``__slots__`` UploadFile read as Starlette's would be); raises
    FastAPI's ``ValueError([errors])`` when neither works, and its error for pydantic.v1 models."""
    if is_pydantic_v1_model_instance(obj):
        raise PydanticV1NotSupportedError(
            f"pydantic.v1 models are no longer supported by FastAPI. Please update the model {obj!r}.")
    try:
        return dict(obj)
    except Exception as e:
        errors: list[Exception] = [e]
        if isinstance(obj, UploadFile):
            return _upload_file_vars(obj)
        try:
            return vars(obj)
        except Exception as e:
            errors.append(e)
            raise ValueError(errors) from e


def _upload_file_vars(upload: UploadFile) -> dict[str, Any]:
    """What ``vars()`` gives for Starlette's UploadFile (ours has ``__slots__``): same keys, same order."""
    data = {"filename": upload.filename, "file": upload.file, "size": upload.size, "headers": upload.headers,
            "_max_mem_size": getattr(upload.file, "_max_size", 0)}
    extra = getattr(upload, "__dict__", None)
    if extra:
        data.update(extra)
    return data


# ---------------------------------------------------------------------------------------------------------------
# Default options: the first matching rule, found once per exact type.

def _default(obj: Any) -> Any:
    """``jsonable_encoder(obj)`` with every option at its default."""
    t = type(obj)
    if t is str or t is int or t is float or t is bool or t is _NoneType:
        return obj
    if t is dict:
        return _dict_default(obj)
    if t is list or t is tuple:
        return _list_default(obj)
    handler = _HANDLERS.get(t)
    if handler is None:
        if len(_HANDLERS) >= _MAX_HANDLERS:  # classes made on the fly must not pile up
            _HANDLERS.clear()
        handler = _HANDLERS[t] = _handler_for(t)
    return handler(obj)


def _dict_default(obj: dict[Any, Any]) -> dict[Any, Any]:
    """An exact dict: keys starting with ``_sa`` dropped, keys and values encoded."""
    out = {}
    for k, v in obj.items():
        if type(k) is str:
            if k.startswith("_sa"):
                continue
        else:
            if isinstance(k, str) and k.startswith("_sa"):
                continue
            k = _default(k)
        t = type(v)
        if t is str or t is int or t is float or t is bool or t is _NoneType:
            out[k] = v
        elif t is dict:
            out[k] = _dict_default(v)
        else:
            out[k] = _default(v)
    return out


def _list_default(obj: Any) -> list[Any]:
    out = []
    append = out.append
    for v in obj:
        t = type(v)
        if t is str or t is int or t is float or t is bool or t is _NoneType:
            append(v)
        elif t is dict:
            append(_dict_default(v))
        else:
            append(_default(v))
    return out


def _dict_subclass_default(obj: dict[Any, Any]) -> dict[Any, Any]:
    """A dict subclass: as FastAPI, only the items whose key is among ``obj.keys()``."""
    allowed_keys = set(obj.keys())
    out = {}
    for key, value in obj.items():
        if (not isinstance(key, str) or not key.startswith("_sa")) and key in allowed_keys:
            encoded_key = _default(key)
            out[encoded_key] = _default(value)
    return out


def _model_default(obj: BaseModel) -> Any:
    data = obj.model_dump(mode="json", include=None, exclude=None, by_alias=True, exclude_unset=False,
                          exclude_none=False, exclude_defaults=False)
    return data if _plain_json(data) else _default(data)


def _plain_json(data: Any) -> bool:
    """True when ``data`` is made of exact JSON types only, with no ``_sa`` key: encoding it changes nothing."""
    t = type(data)
    if t is dict:
        for k, v in data.items():
            if type(k) is not str or k.startswith("_sa"):
                return False
            tv = type(v)
            if not (tv is str or tv is int or tv is float or tv is bool or tv is _NoneType) and not _plain_json(v):
                return False
        return True
    if t is list:
        for v in data:
            tv = type(v)
            if not (tv is str or tv is int or tv is float or tv is bool or tv is _NoneType) and not _plain_json(v):
                return False
        return True
    return t is str or t is int or t is float or t is bool or t is _NoneType


def _dataclass_default(obj: Any) -> Any:
    return _dict_default(dataclasses.asdict(obj))


def _enum_value(obj: Enum) -> Any:
    return obj.value


def _identity(obj: Any) -> Any:
    return obj


def _undefined(obj: Any) -> None:
    return None


def _other_default(obj: Any) -> Any:
    """The table rules, then ``dict(obj)``/``vars(obj)`` encoded."""
    encoded = _table_lookup(obj)
    if encoded is not _NO_MATCH:
        return encoded
    return _default(_as_mapping(obj))


def _general_default(obj: Any) -> Any:
    return _general(obj, None, None, True, False, False, False, {}, True)


def _handler_for(t: type) -> Callable[[Any], Any]:
    """The default-options encoder of instances of ``t``: FastAPI's first matching rule for that type."""
    if any("__class__" in vars(c) for c in t.__mro__[:-1]):
        return _general_default  # instances may claim another class: isinstance on each object, as FastAPI
    if issubclass(t, BaseModel):
        return _model_default
    rest = _rest_handler(t)
    if issubclass(t, type):  # the object is a class: a dataclass *class* fails FastAPI's assertion

        def class_object(obj: Any) -> Any:
            if dataclasses.is_dataclass(obj):
                raise AssertionError
            return rest(obj)

        return class_object
    if dataclasses.is_dataclass(t):
        return _dataclass_default
    return rest


def _rest_handler(t: type) -> Callable[[Any], Any]:
    """The rules after the model and dataclass ones."""
    if issubclass(t, Enum):
        return _enum_value
    if issubclass(t, PurePath):
        return str
    if issubclass(t, _PRIMITIVES):
        return _identity
    if issubclass(t, PydanticUndefinedType):
        return _undefined
    if issubclass(t, dict):
        return _dict_subclass_default
    if issubclass(t, _SEQUENCES):
        return _list_default
    return _other_default


_HANDLERS: dict[type, Callable[[Any], Any]] = {}
_MAX_HANDLERS = 4096
