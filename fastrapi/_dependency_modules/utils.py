"""FastAPI's ``fastapi.dependencies.utils`` on FastrAPI's solver: building a ``Dependant`` for a callable,
solving it for a request, and the annotation helpers FastAPI's code and extensions import from here.

FastrAPI analyses a callable once into a ``Plan`` (``fastrapi.dependencies``) and FastAPI into field lists; these
functions take and give FastrAPI's objects (``Dependant``, ``ModelField``) with FastAPI's signatures.
"""
from __future__ import annotations

import collections.abc
import copy
import dataclasses
import inspect
import types
import typing
from contextlib import AsyncExitStack
from typing import Any, Callable, Sequence, Union

from pydantic import BaseModel, ValidationError, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ..background import BackgroundTasks as BackgroundTasks
from ..background import BackgroundTasks as StarletteBackgroundTasks
from ..concurrency import contextmanager_in_threadpool as contextmanager_in_threadpool
from ..concurrency import run_in_threadpool as run_in_threadpool
from ..datastructures import FormData as FormData
from ..datastructures import Headers as Headers
from ..datastructures import FormData as ImmutableMultiDict
from ..datastructures import QueryParams as QueryParams
from ..datastructures import UploadFile as UploadFile
from ..dependencies import (BODY, COOKIE, FORM, HEADER, PATH, QUERY, Dependant, Param, SolveContext, _INFO_KINDS,
                            _is_scalar, _solve_collect, build_plan)
from ..exceptions import DependencyScopeError as DependencyScopeError
from ..openapi.utils import ModelField as ModelField
from ..openapi.utils import _dependency_data, _lenient_issubclass, _param_field
from ..requests import HTTPConnection as HTTPConnection
from ..requests import Request as Request
from ..responses import Response as Response
from ..security.oauth2 import SecurityScopes as SecurityScopes
from ..utils import create_model_field as create_model_field
from ..utils import get_path_param_names as get_path_param_names
from ..websocket import WebSocket as WebSocket

lenient_issubclass = _lenient_issubclass

multipart_not_installed_error = (
    'Form data requires "python-multipart" to be installed. \n'
    'You can install "python-multipart" with: \n\n'
    "pip install python-multipart\n"
)
multipart_incorrect_install_error = (
    'Form data requires "python-multipart" to be installed. '
    'It seems you installed "multipart" instead. \n'
    'You can remove "multipart" with: \n\n'
    "pip uninstall multipart\n\n"
    'And then install "python-multipart" with: \n\n'
    "pip install python-multipart\n"
)

_UNION_TYPES = (Union, getattr(types, "UnionType", Union))
_SEQUENCE_TYPES = (list, set, frozenset, tuple, collections.deque, collections.abc.Sequence)


def ensure_multipart_is_installed() -> None:
    """Raise FastAPI's RuntimeError when python-multipart (a FastrAPI dependency) is missing."""
    try:
        from python_multipart import __version__  # noqa: F401
    except ImportError:
        raise RuntimeError(multipart_not_installed_error) from None


# ------------------------------------------------------------------------------------ annotations
def field_annotation_is_scalar(annotation: Any) -> bool:
    """FastAPI's rule: a path/query/header/cookie value, not a body (models, mappings, sequences...)."""
    return annotation is Ellipsis or _is_scalar(annotation)


def _is_sequence_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, _SEQUENCE_TYPES) and \
        not issubclass(annotation, (str, bytes))


def field_annotation_is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return field_annotation_is_sequence(typing.get_args(annotation)[0])
    if origin in _UNION_TYPES:
        return any(field_annotation_is_sequence(arg) for arg in typing.get_args(annotation))
    return _is_sequence_type(annotation) or _is_sequence_type(origin)


def field_annotation_is_scalar_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return field_annotation_is_scalar_sequence(typing.get_args(annotation)[0])
    if origin in _UNION_TYPES:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return any(field_annotation_is_scalar_sequence(a) for a in args) and \
            all(field_annotation_is_scalar_sequence(a) or field_annotation_is_scalar(a) for a in args)
    return field_annotation_is_sequence(annotation) and \
        all(field_annotation_is_scalar(arg) for arg in typing.get_args(annotation))


def _is_or_optional(annotation: Any, cls: type) -> bool:
    if _lenient_issubclass(annotation, cls):
        return True
    if typing.get_origin(annotation) in _UNION_TYPES:
        return any(_lenient_issubclass(a, cls) for a in typing.get_args(annotation))
    return False


def _is_sequence_of(annotation: Any, cls: type) -> bool:
    if typing.get_origin(annotation) in _UNION_TYPES:
        return any(_is_sequence_of(a, cls) for a in typing.get_args(annotation))
    return field_annotation_is_sequence(annotation) and \
        any(_is_or_optional(a, cls) for a in typing.get_args(annotation))


def is_bytes_or_nonable_bytes_annotation(annotation: Any) -> bool:
    return _is_or_optional(annotation, bytes)


def is_uploadfile_or_nonable_uploadfile_annotation(annotation: Any) -> bool:
    return _is_or_optional(annotation, UploadFile)


def is_bytes_sequence_annotation(annotation: Any) -> bool:
    return _is_sequence_of(annotation, bytes)


def is_uploadfile_sequence_annotation(annotation: Any) -> bool:
    return _is_sequence_of(annotation, UploadFile)


def is_scalar_field(field: ModelField) -> bool:
    """A field that is a scalar and no body (not Body/Form/File)."""
    return field_annotation_is_scalar(field.field_info.annotation) and field.kind not in (BODY, FORM)


def value_is_sequence(value: Any) -> bool:
    return isinstance(value, (list, set, frozenset, tuple, collections.deque)) and not isinstance(value, (str, bytes))


def serialize_sequence_value(*, field: ModelField, value: Sequence[Any]) -> Sequence[Any]:
    """``value`` as the sequence type the field's annotation names (a list for a set from a query...)."""
    annotation = field.field_info.annotation
    origin = typing.get_origin(annotation) or annotation
    if origin in _UNION_TYPES:
        for arg in typing.get_args(annotation):
            if field_annotation_is_sequence(arg):
                origin = typing.get_origin(arg) or arg
                break
    if isinstance(origin, type) and issubclass(origin, (list, set, frozenset, tuple, collections.deque)):
        return origin(value)  # type: ignore[no-any-return]
    return list(value)


def copy_field_info(*, field_info: FieldInfo, annotation: Any) -> FieldInfo:
    """A copy of ``field_info`` for ``annotation`` (with the annotation's own metadata)."""
    merged = FieldInfo.merge_field_infos(FieldInfo.from_annotation(annotation), field_info, annotation=annotation)
    new = copy.copy(merged)
    new.metadata = list(merged.metadata)
    return new


def create_body_model(*, fields: Sequence[ModelField], model_name: str) -> type[BaseModel]:
    """The pydantic model of an embedded body (``Body_...``) with one field per body parameter."""
    return create_model(model_name, **{f.alias: (f.field_info.annotation, f.field_info) for f in fields})  # type: ignore[call-overload]


def evaluate_forwardref(value: Any, globalns: dict[str, Any] | None = None, localns: dict[str, Any] | None = None) -> Any:
    if isinstance(value, str):
        value = typing.ForwardRef(value)
    if isinstance(value, typing.ForwardRef):
        return typing._eval_type(value, globalns, localns)  # type: ignore[attr-defined]
    return value


def get_cached_model_fields(model: type[BaseModel]) -> list[ModelField]:
    """The fields of a pydantic model as ``ModelField``s (a parameter model's parameters)."""
    return [ModelField(info, name) for name, info in model.model_fields.items()]


def get_missing_field_error(loc: tuple[Any, ...]) -> dict[str, Any]:
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": None}


def get_validation_alias(field: ModelField) -> str:
    return field.validation_alias or field.alias


# ------------------------------------------------------------------------------------ signatures
def get_typed_annotation(annotation: Any, globalns: dict[str, Any]) -> Any:
    if isinstance(annotation, str):
        annotation = evaluate_forwardref(typing.ForwardRef(annotation), globalns, globalns)
        if annotation is type(None):
            return None
    return annotation


def _globals_of(call: Callable[..., Any]) -> dict[str, Any]:
    return getattr(inspect.unwrap(call), "__globals__", {})


def get_typed_signature(call: Callable[..., Any]) -> inspect.Signature:
    """``call``'s signature with string annotations resolved."""
    signature = inspect.signature(call)
    globalns = _globals_of(call)
    return inspect.Signature([p.replace(annotation=get_typed_annotation(p.annotation, globalns))
                              for p in signature.parameters.values()])


def get_typed_return_annotation(call: Callable[..., Any]) -> Any:
    annotation = inspect.signature(call).return_annotation
    if annotation is inspect.Signature.empty:
        return None
    return get_typed_annotation(annotation, _globals_of(call))


def get_stream_item_type(annotation: Any) -> Any | None:
    """The item type of a generator return annotation (``AsyncIterator[Item]`` -> ``Item``), else None."""
    origin = typing.get_origin(annotation)
    streams = (collections.abc.AsyncIterator, collections.abc.AsyncIterable, collections.abc.AsyncGenerator,
               collections.abc.Iterator, collections.abc.Iterable, collections.abc.Generator)
    if origin in streams:
        args = typing.get_args(annotation)
        return args[0] if args else Any
    return None


# ------------------------------------------------------------------------------------ dependants
def get_dependant(*, path: str, call: Callable[..., Any], name: str | None = None,
                  own_oauth_scopes: Sequence[str] | None = None, parent_oauth_scopes: Sequence[str] | None = None,
                  use_cache: bool = True, scope: str | None = None) -> Dependant:
    """The ``Dependant`` of ``call`` for a route at ``path`` (its parameters analysed once)."""
    return Dependant(call, use_cache, get_path_param_names(path), own_oauth_scopes, parent_oauth_scopes or (), scope)


def get_parameterless_sub_dependant(*, depends: Any, path: str) -> Dependant:
    """The ``Dependant`` of a route- or router-level ``Depends(...)`` (no parameter name)."""
    assert callable(depends.dependency), "A parameter-less dependency must have a callable dependency"
    return get_dependant(path=path, call=depends.dependency, own_oauth_scopes=getattr(depends, "scopes", None),
                         use_cache=depends.use_cache, scope=getattr(depends, "scope", None))


def get_flat_params(dependant: Dependant) -> list[ModelField]:
    """Every path, query, header and cookie parameter of the dependency tree, as FastAPI documents them."""
    data = _dependency_data(dependant.plan)
    return [*data.params[PATH], *data.params[QUERY], *data.params[HEADER], *data.params[COOKIE]]


@dataclasses.dataclass
class ParamDetails:
    type_annotation: Any
    depends: Any
    field: ModelField | None


def analyze_param(*, param_name: str, annotation: Any, value: Any, is_path_param: bool) -> ParamDetails:
    """How FastAPI takes one parameter: its type, its ``Depends`` if it is one, else its field (None for
    Request, WebSocket, BackgroundTasks, Response, SecurityScopes)."""
    from ..params import Depends as DependsInfo

    def probe() -> None:
        pass

    probe.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(param_name, inspect.Parameter.KEYWORD_ONLY, default=value, annotation=annotation)])
    probe.__annotations__ = {} if annotation is inspect.Parameter.empty else {param_name: annotation}
    depends = value if isinstance(value, DependsInfo) else None
    if depends is None and typing.get_origin(annotation) is typing.Annotated:
        depends = next((m for m in typing.get_args(annotation)[1:] if isinstance(m, DependsInfo)), None)
    if depends is not None:
        return ParamDetails(annotation, depends, None)
    plan = build_plan(probe, {param_name} if is_path_param else set())
    found = [*plan.params, *plan.body_params, *plan.form_params]
    return ParamDetails(annotation, None, _param_field(found[0]) if found else None)


def add_non_field_param_to_dependency(*, param_name: str, type_annotation: Any, dependant: Dependant) -> bool | None:
    """Record a Request / WebSocket / HTTPConnection / Response / BackgroundTasks parameter on ``dependant``."""
    plan = dependant.plan
    if _lenient_issubclass(type_annotation, (Request, HTTPConnection)):
        plan.request_names.append(param_name)
    elif _lenient_issubclass(type_annotation, WebSocket):
        plan.websocket_name = param_name
    elif _lenient_issubclass(type_annotation, Response):
        plan.response_names.append(param_name)
    elif _lenient_issubclass(type_annotation, BackgroundTasks):
        plan.background_names.append(param_name)
    else:
        return None
    return True


def add_param_to_fields(*, field: ModelField, dependant: Dependant) -> None:
    """Add a parameter declared by ``field`` (a ``Query()``/``Header()``/``Body()``... field) to ``dependant``."""
    info = field.source if field.source is not None else field.field_info
    kind = _INFO_KINDS.get(getattr(info, "in_", ""), QUERY)
    param = Param(field.name, kind, field.field_info.annotation, field.field_info.default,
                  info if hasattr(info, "in_") else None)
    plan = dependant.plan
    if kind == BODY:
        plan.body_params.append(param)
    elif kind == FORM:
        plan.form_params.append(param)
    else:
        plan.params.append(param)
        plan.needs_query |= kind == QUERY
        plan.needs_headers |= kind == HEADER
        plan.needs_cookies |= kind == COOKIE


# ------------------------------------------------------------------------------------ solving
@dataclasses.dataclass
class SolvedDependency:
    values: dict[str, Any]
    errors: list[Any]
    background_tasks: Any
    response: Response
    dependency_cache: dict[Any, Any]


async def solve_dependencies(*, request: Any, dependant: Dependant, body: Any = PydanticUndefined,
                             background_tasks: Any = None, response: Response | None = None,
                             dependency_overrides_provider: Any = None, dependency_cache: dict[Any, Any] | None = None,
                             async_exit_stack: AsyncExitStack, embed_body_fields: bool = False,
                             **_: Any) -> SolvedDependency:
    """Solve ``dependant`` for ``request``: its keyword arguments (sub-dependencies run, ``yield`` ones entered
    into ``async_exit_stack``) and the validation errors, as FastAPI's function returns them."""
    overrides = getattr(dependency_overrides_provider, "dependency_overrides", None)
    ctx = SolveContext(async_exit_stack, overrides, set(getattr(request, "path_params", {}) or ()))
    if dependency_cache:
        ctx.cache.update(dependency_cache)
    if background_tasks is not None and request.background is None:
        request.background = background_tasks
    values: dict[str, Any] = {}
    errors = await _solve_collect(dependant.plan, request, ctx, values) or []
    return SolvedDependency(values=values, errors=list(errors), background_tasks=request.background,
                            response=response if response is not None else Response(),
                            dependency_cache=ctx.cache)


def _validate_fields(fields: Sequence[ModelField], received: Any, loc_prefix: tuple[Any, ...]
                     ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for field in fields:
        key = get_validation_alias(field)
        value = received.get(key) if received is not None else None
        loc = (*loc_prefix, key)
        if value is None:
            if field.field_info.is_required():
                errors.append(get_missing_field_error(loc))
            else:
                values[field.name] = field.field_info.get_default(call_default_factory=True)
            continue
        try:
            values[field.name] = field.type_adapter.validate_python(value)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                errors.append({**error, "loc": (*loc, *error["loc"])})
    return values, errors


def request_params_to_args(fields: Sequence[ModelField], received_params: Any
                           ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Validate query/header/cookie/path ``fields`` from ``received_params`` (a mapping): (values, errors)."""
    if not fields:
        return {}, []
    where = {PATH: "path", QUERY: "query", HEADER: "header", COOKIE: "cookie"}.get(fields[0].kind or QUERY, "query")
    return _validate_fields(fields, received_params, (where,))


async def request_body_to_args(body_fields: list[ModelField], received_body: Any, embed_body_fields: bool
                               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Validate the body ``fields`` from the parsed body: the whole body for a single, not embedded field."""
    if len(body_fields) == 1 and not embed_body_fields:  # the whole body is the one field: loc ("body", ...)
        field = body_fields[0]
        if received_body is None:
            if field.field_info.is_required():
                return {}, [get_missing_field_error(("body",))]
            return {field.name: field.field_info.get_default(call_default_factory=True)}, []
        try:
            return {field.name: field.type_adapter.validate_python(received_body)}, []
        except ValidationError as exc:
            return {}, [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
    return _validate_fields(body_fields, received_body, ("body",))


# FastAPI's other names here
from contextlib import asynccontextmanager as asynccontextmanager  # noqa: E402

from ..logger import logger as logger  # noqa: E402
from ..types import DependencyCacheKey as DependencyCacheKey  # noqa: E402
from ..types import UnionType as UnionType  # noqa: E402

Undefined = PydanticUndefined
#: the default of a parameter declared without one (required)
RequiredParam = PydanticUndefined
#: the types a sequence parameter (``list[int]`` from repeated query keys...) may be declared as
sequence_types = (list, set, frozenset, tuple, collections.deque, collections.abc.Sequence)
