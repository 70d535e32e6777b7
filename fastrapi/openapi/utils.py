"""The OpenAPI document of an app, built from its routes (FastAPI's ``fastapi.openapi.utils``).

Each route's parameter plan (``fastrapi.dependencies.Plan``, with its dependencies) is turned into the fields
FastAPI would have built for the same handler, and pydantic's ``GenerateJsonSchema`` makes all their JSON
Schemas in one pass, so models get FastAPI's names (``Item``, ``Item-Input``/``Item-Output``, ``Body_...``)
and ``$ref``\\ s. The document is built on demand (``app.openapi()``), never on the request path.
"""
from __future__ import annotations

import copy
import dataclasses
import http.client
import inspect
import types
import typing
import warnings
from enum import Enum
from typing import Annotated, Any, Literal, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema as _GenerateJsonSchema
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticUndefined

from ..datastructures import DefaultPlaceholder
from ..params import File as FileInfo
from ..dependencies import BODY, COOKIE, FORM, HEADER, PATH, QUERY, Param, Plan, _unwrap
from ..param_models import field_config, request_names
from ..responses import JSONResponse
from ..security.base import SecurityBase
from .constants import METHODS_WITH_BODY, REF_PREFIX, REF_TEMPLATE
from ..exceptions import FastAPIDeprecationWarning
from .models import OpenAPI

_EMPTY = inspect.Parameter.empty
_UNSET: Any = PydanticUndefined
_IN = {PATH: "path", QUERY: "query", HEADER: "header", COOKIE: "cookie"}
_UNION_TYPES: tuple[Any, ...] = (Union, types.UnionType) if hasattr(types, "UnionType") else (Union,)

validation_error_definition = {
    "title": "ValidationError",
    "type": "object",
    "properties": {
        "loc": {
            "title": "Location",
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
        "msg": {"title": "Message", "type": "string"},
        "type": {"title": "Error Type", "type": "string"},
        "input": {"title": "Input"},
        "ctx": {"title": "Context", "type": "object"},
    },
    "required": ["loc", "msg", "type"],
}

validation_error_response_definition = {
    "title": "HTTPValidationError",
    "type": "object",
    "properties": {
        "detail": {
            "title": "Detail",
            "type": "array",
            "items": {"$ref": REF_PREFIX + "ValidationError"},
        }
    },
}

status_code_ranges: dict[str, str] = {
    "1XX": "Information",
    "2XX": "Success",
    "3XX": "Redirection",
    "4XX": "Client Error",
    "5XX": "Server Error",
    "DEFAULT": "Default Response",
}


# ---------------------------------------------------------------- JSON Schema generation
class GenerateJsonSchema(_GenerateJsonSchema):
    """pydantic's generator with FastAPI's two changes: ``bytes`` is a binary string (``contentMediaType``)
    and an ``UploadFile`` is documented as a binary string rather than refused."""

    def bytes_schema(self, schema: CoreSchema) -> JsonSchemaValue:
        json_schema: dict[str, Any] = {"type": "string", "contentMediaType": "application/octet-stream"}
        bytes_mode = self._config.ser_json_bytes if self.mode == "serialization" else self._config.val_json_bytes
        if bytes_mode == "base64":
            json_schema["contentEncoding"] = "base64"
        self.update_with_validations(json_schema, schema, self.ValidationsMapping.bytes)
        return json_schema

    def function_plain_schema(self, schema: Any) -> JsonSchemaValue:
        func = schema.get("function", {}).get("function")
        if getattr(func, "__qualname__", "").startswith("UploadFile."):
            return {"type": "string", "contentMediaType": "application/octet-stream"}
        return super().function_plain_schema(schema)


_FIELD_ARGS = set(inspect.signature(Field).parameters)
#: the FieldInfo attributes FastAPI carries over when it builds a field's validator (its ``_compat.v2._Attrs``)
_ATTRS = [a for a in ("default", "default_factory", "alias", "alias_priority", "validation_alias",
                      "serialization_alias", "title", "field_title_generator", "description", "examples", "exclude",
                      "exclude_if", "discriminator", "deprecated", "json_schema_extra", "frozen", "validate_default",
                      "repr", "init", "init_var", "kw_only") if a in _FIELD_ARGS]


class ModelField:
    """What FastAPI calls a ModelField: a FieldInfo with a name, a mode (validation for what comes in,
    serialization for what goes out) and the TypeAdapter whose core schema the JSON Schema is made from.

    ``source`` is the user's declaration (``Query(...)``, ``Form(...)``...) for what only OpenAPI reads from it.
    A field of a parameter model also has the name, alias and requiredness it is documented with.
    """

    param_name: str | None = None
    param_alias: str | None = None
    param_required: bool | None = None
    include_in_schema = True

    def __init__(self, field_info: FieldInfo, name: str, mode: Literal["validation", "serialization"] = "validation",
                 config: ConfigDict | None = None, source: Any = None, kind: int | None = None,
                 media_type: str | None = None) -> None:
        self.field_info = field_info
        self.name = name
        self.mode = mode
        self.config = config
        self.source = source
        self.kind = kind
        self.media_type = media_type
        attributes = {}
        for attr in _ATTRS:
            value = getattr(field_info, attr, PydanticUndefined)
            if value is not PydanticUndefined:
                attributes[attr] = value
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydantic >= 2.12 warns about alias & co. on a TypeAdapter
            self.type_adapter: TypeAdapter[Any] = TypeAdapter(
                Annotated[(field_info.annotation, *field_info.metadata, Field(**attributes))],  # type: ignore[misc]
                config=config,
            )

    @property
    def alias(self) -> str:
        alias = self.field_info.alias
        return alias if alias is not None else self.name

    @property
    def validation_alias(self) -> str | None:
        va = self.field_info.validation_alias
        return va if isinstance(va, str) and va else None

    @property
    def serialization_alias(self) -> str | None:
        return self.field_info.serialization_alias or None

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"ModelField(name={self.name!r}, mode={self.mode!r}, annotation={self.field_info.annotation!r})"


def _lenient_issubclass(cls: Any, parent: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, parent)


def _annotation_has_computed_fields(annotation: Any, known: set[Any]) -> bool:
    if _lenient_issubclass(annotation, BaseModel):
        if annotation in known:
            return False
        known.add(annotation)
        if annotation.model_computed_fields:
            return True
        return any(_annotation_has_computed_fields(f.annotation, known) for f in annotation.model_fields.values())
    return any(_annotation_has_computed_fields(arg, known) for arg in typing.get_args(annotation))


def _has_computed_fields(field: ModelField) -> bool:
    core = field.type_adapter.core_schema
    if core.get("schema", {}).get("computed_fields", []):  # type: ignore[union-attr,attr-defined]
        return True
    return _annotation_has_computed_fields(field.field_info.annotation, set())


def _flat_models_from_annotation(annotation: Any, known: set[Any]) -> None:
    if _lenient_issubclass(annotation, BaseModel):
        if annotation not in known:
            known.add(annotation)
            for f in annotation.model_fields.values():
                _flat_models_from_annotation(f.annotation, known)
        return
    if _lenient_issubclass(annotation, Enum):
        known.add(annotation)
        return
    if typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            if _lenient_issubclass(arg, (BaseModel, Enum)):
                if arg not in known:
                    _flat_models_from_annotation(arg, known)
            else:
                _flat_models_from_annotation(arg, known)


def get_flat_models_from_fields(fields: Sequence[ModelField], known_models: set[Any]) -> set[Any]:
    """Every pydantic model and Enum the fields' types mention, nested ones included."""
    for field in fields:
        _flat_models_from_annotation(field.field_info.annotation, known_models)
    return known_models


def get_definitions(*, fields: Sequence[ModelField], separate_input_output_schemas: bool = True
                    ) -> tuple[dict[tuple[ModelField, str], JsonSchemaValue], dict[str, dict[str, Any]]]:
    """JSON Schemas of all ``fields`` at once: the schema of each (field, mode), and the shared definitions."""
    generator = GenerateJsonSchema(ref_template=REF_TEMPLATE)
    validation_models = get_flat_models_from_fields([f for f in fields if f.mode == "validation"], set())
    serialization_models = get_flat_models_from_fields([f for f in fields if f.mode == "serialization"], set())
    flat_model_fields = [ModelField(FieldInfo(annotation=m), m.__name__, "validation") for m in validation_models]
    flat_model_fields += [ModelField(FieldInfo(annotation=m), m.__name__, "serialization") for m in serialization_models]
    input_types = [f.field_info.annotation for f in fields]
    unique_flat_model_fields = [f for f in flat_model_fields if not any(f.field_info.annotation is t or
                                                                        f.field_info.annotation == t for t in input_types)]
    inputs = [
        (field, field.mode if (separate_input_output_schemas or _has_computed_fields(field)) else "validation",
         field.type_adapter.core_schema)
        for field in [*fields, *unique_flat_model_fields]
    ]
    field_mapping, definitions = generator.generate_definitions(inputs=inputs)  # type: ignore[arg-type]
    for item in definitions.values():
        if "description" in item:
            item["description"] = str(item["description"]).split("\f")[0]
    return field_mapping, definitions  # type: ignore[return-value]


def get_schema_from_model_field(*, field: ModelField, field_mapping: dict[tuple[ModelField, str], JsonSchemaValue],
                                separate_input_output_schemas: bool = True, field_alias: str | None = None
                                ) -> dict[str, Any]:
    """The schema of one field, titled after its alias when it is not a ``$ref`` (as FastAPI does)."""
    override_mode: str | None = None
    if not separate_input_output_schemas:
        override_mode = None if _has_computed_fields(field) else "validation"
    if field_alias is None:
        field_alias = ((field.validation_alias or field.alias) if field.mode == "validation"
                       else (field.serialization_alias or field.alias))
    json_schema = field_mapping[(field, override_mode or field.mode)].copy()
    if "$ref" not in json_schema:
        json_schema["title"] = field.field_info.title or field_alias.title().replace("_", " ")
    return json_schema


# ---------------------------------------------------------------- route analysis
def _field_info_for(p: Param) -> FieldInfo:
    """The FieldInfo FastAPI builds for a handler parameter: the declaration merged with the annotation's
    metadata, the parameter's default, and its request name as alias."""
    annotation = Any if p.annotation is _EMPTY else p.annotation
    info = getattr(p, "info", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(info, FieldInfo):
            field_info = FieldInfo.from_annotation(Annotated[annotation, info])  # type: ignore[arg-type]
        else:
            field_info = FieldInfo.from_annotation(annotation)
    field_info.default = PydanticUndefined if p.required else p.default
    field_info.alias = p.key
    return field_info


def _param_field(p: Param) -> ModelField:
    info = getattr(p, "info", None)
    media_type = None
    if p.kind == BODY:
        media_type = getattr(info, "media_type", None) or "application/json"
    elif p.kind == FORM:
        media_type = getattr(info, "media_type", None) or "multipart/form-data"  # an undeclared UploadFile
    return ModelField(_field_info_for(p), p.name, source=info, kind=p.kind, media_type=media_type)


def _model_param_fields(p: Param) -> list[ModelField]:
    """A parameter model's fields, each documented as its own parameter (FastAPI's flattening): named as the
    request sends it, required unless the model is optional, hidden with the parameter's ``include_in_schema``."""
    spec = p.model
    assert spec is not None
    model = spec.model
    parent_info = p.info
    convert = getattr(parent_info, "convert_underscores", True)
    optional_model = spec.nullable and not p.required
    fields = []
    for name, info in model.model_fields.items():
        config = field_config(model, info.annotation)
        field_convert = p.kind == HEADER and getattr(info, "convert_underscores", convert)
        alias, request_name = request_names(name, info, config, field_convert)[0]
        field = ModelField(info, name, config=config, source=info, kind=p.kind)  # type: ignore[arg-type]
        field.param_name, field.param_alias = request_name, alias
        field.param_required = info.is_required() and not optional_model
        field.include_in_schema = getattr(parent_info, "include_in_schema", True)
        fields.append(field)
    return fields


def _model_type(annotation: Any) -> type[BaseModel] | None:
    """``Model`` for ``Model`` or ``Model | None``."""
    if typing.get_origin(annotation) in _UNION_TYPES:
        args = typing.get_args(annotation)
        if len(args) == 2 and type(None) in args:
            annotation = next(a for a in args if a is not type(None))
    return annotation if _lenient_issubclass(annotation, BaseModel) else None


def _form_models(field: ModelField) -> list[type[BaseModel]]:
    if field.kind != FORM:
        return []
    model = _model_type(field.field_info.annotation)
    return [model] if model is not None else []


def _is_file(field: ModelField) -> bool:
    """A ``File()`` parameter, or an ``UploadFile`` one declared without it."""
    return field.kind == FORM and (field.source is None or isinstance(field.source, FileInfo))


def _should_embed_body_fields(fields: list[ModelField]) -> bool:
    """FastAPI's rule: several body parameters (or an embedded one, or a plain form field) make an object of
    parameter names; a single model parameter is the body itself."""
    if not fields:
        return False
    if len({f.name for f in fields}) > 1:
        return True
    first = fields[0]
    if _form_models(first) and any(not _form_models(f) or f.field_info.annotation is not first.field_info.annotation
                                   for f in fields[1:]):
        return True
    if first.kind == BODY and getattr(first.source, "embed", False):
        return True
    if first.kind == FORM and not _lenient_issubclass(first.field_info.annotation, BaseModel) and not _form_models(first):
        return True
    return False


def _get_body_field(body_params: list[ModelField], name: str, embed: bool) -> ModelField | None:
    """The one field the request body is documented with (a ``Body_<operation id>`` model when embedded)."""
    if not body_params:
        return None
    first = body_params[0]
    nullable_form_model = any(_form_models(f) and type(None) in typing.get_args(f.field_info.annotation)
                              for f in body_params)
    if not embed and not nullable_form_model:
        return first
    model_fields = {f.name: (f.field_info.annotation, f.field_info) for f in body_params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        body_model: type[BaseModel] = create_model("Body_" + name, **model_fields)  # type: ignore[call-overload]
    if not embed:
        field_info = copy.copy(first.field_info)
        field_info.annotation = body_model
        field_info.metadata = []
        field_info.discriminator = None
        return ModelField(field_info, first.name, source=first.source, kind=first.kind, media_type=first.media_type)
    required = any(f.field_info.is_required() for f in body_params)
    kwargs: dict[str, Any] = {"annotation": body_model, "alias": "body"}
    if not required:
        kwargs["default"] = None
    if any(_is_file(f) for f in body_params):
        media_type = "multipart/form-data"
    elif any(f.kind == FORM for f in body_params):
        types = [f.media_type for f in body_params if f.kind == FORM]
        media_type = "multipart/form-data" if "multipart/form-data" in types else \
            (types[0] if len(set(types)) == 1 else "application/x-www-form-urlencoded")
    else:
        types = [f.media_type for f in body_params]
        media_type = types[0] if len(set(types)) == 1 else "application/json"
    kind = FORM if any(f.kind == FORM for f in body_params) else BODY
    return ModelField(FieldInfo(**kwargs), "body", kind=kind, media_type=media_type)


class _DependencyData:
    """A route's flattened dependency tree: parameters by location and security requirements."""

    def __init__(self) -> None:
        self.params: dict[int, list[ModelField]] = {PATH: [], QUERY: [], HEADER: [], COOKIE: []}
        self.security: list[tuple[SecurityBase, list[str]]] = []


def _dependency_data(plan: Plan) -> _DependencyData:
    """FastAPI's walk of the dependency tree: depth first, each dependency (per cache key) once, its scopes
    accumulated from the route down."""
    data = _DependencyData()
    visited: list[Any] = []
    root = object()
    stack: list[tuple[Any, Plan, list[str], bool]] = [(root, plan, [], True)]
    while stack:
        node, current, parent_scopes, is_root = stack.pop()
        key = root if is_root else node.cache_key
        if key in visited:
            continue
        visited.append(key)
        for p in current.located or current.params:
            if p.model is not None:
                data.params[p.kind].extend(_model_param_fields(p))
            else:
                data.params[p.kind].append(_param_field(p))
        scopes = list(parent_scopes)
        if not is_root:
            for scope in node.scopes:
                if scope not in scopes:
                    scopes.append(scope)
            scheme = _unwrap(node.call)
            if isinstance(scheme, SecurityBase):
                data.security.append((scheme, scopes))
        stack.extend((dep, dep.plan, scopes, False) for _, dep in reversed(current.deps))
    return data


def _flat_body_params(plan: Plan) -> list[ModelField]:
    out: list[ModelField] = []
    stack = [plan]
    while stack:
        current = stack.pop()
        out.extend(_param_field(p) for p in (*current.body_params, *current.form_params))
        stack.extend(dep.plan for _, dep in reversed(current.deps))
    return out


class RouteDoc:
    """What the document needs from one ``APIRoute``: its parameters, body, response fields and security."""

    def __init__(self, route: Any) -> None:
        self.route = route
        self.body_field: ModelField | None = None
        self.response_field: ModelField | None = None
        self.response_fields: dict[Any, ModelField] = {}
        self.callbacks: list[RouteDoc] = []
        if not route.include_in_schema:  # not documented: nothing to analyse (FastAPI skips it too)
            self.dependency_data = _DependencyData()
            return
        self.dependency_data = _dependency_data(route.plan)
        body_params = _flat_body_params(route.plan)
        self.body_field = _get_body_field(body_params, route.unique_id, _should_embed_body_fields(body_params))
        model = getattr(route, "response_model", None)
        if model and model is not type(None) and not isinstance(model, DefaultPlaceholder):  # ``-> None``: no model
            self.response_field = _response_field("Response_" + route.unique_id, model)
        self.stream_item_field: ModelField | None = None
        item_type = getattr(route, "stream_item_type", None)
        if item_type is not None:
            self.stream_item_field = _response_field("StreamItem_" + route.unique_id, item_type)
        for code, response in (getattr(route, "responses", None) or {}).items():
            if isinstance(response, dict) and response.get("model"):
                field = _response_field(f"Response_{code}_{route.unique_id}", response["model"])
                if field is not None:
                    self.response_fields[code] = field
        self.callbacks = [RouteDoc(cb) for cb in _api_routes(getattr(route, "callbacks", None) or ())]

    def fields(self) -> list[ModelField]:
        """All the fields whose schemas this route's operation uses (FastAPI's ``get_fields_from_routes``)."""
        out: list[ModelField] = []
        for cb in self.callbacks:
            out.extend(cb.fields())
        if self.body_field is not None:
            out.append(self.body_field)
        if self.response_field is not None:
            out.append(self.response_field)
        out.extend(self.response_fields.values())
        if self.stream_item_field is not None:
            out.append(self.stream_item_field)
        for kind in (PATH, QUERY, HEADER, COOKIE):
            out.extend(self.dependency_data.params[kind])
        return out


def _response_field(name: str, model: Any) -> ModelField | None:
    try:
        return ModelField(FieldInfo(annotation=model), name, mode="serialization")
    except Exception:  # a type pydantic cannot describe: documented without a schema
        return None


def _api_routes(routes: Any) -> list[Any]:
    """The HTTP routes (``APIRoute``) among ``routes``; an ``APIRouter`` gives the routes it records."""
    from ..routing import APIRoute, APIRouter

    if isinstance(routes, APIRouter):
        routes = router_routes(routes)
    return [r for r in routes if isinstance(r, APIRoute)]


def router_routes(router: Any) -> list[Any]:
    """An ``APIRouter``'s HTTP routes as ``APIRoute`` objects (for webhooks and callbacks, never served)."""
    from ..routing import APIRoute

    return [r for r in (getattr(router, "routes", None) or ()) if isinstance(r, APIRoute)]


# ---------------------------------------------------------------- operations
def _is_body_allowed_for_status_code(status_code: int | str | None) -> bool:
    if status_code is None:
        return True
    if status_code in {"default", "1XX", "2XX", "3XX", "4XX", "5XX"}:
        return True
    code = int(status_code)
    return not (code < 200 or code in {204, 205, 304})


def deep_dict_update(main_dict: dict[Any, Any], update_dict: dict[Any, Any]) -> None:
    """Merge ``update_dict`` into ``main_dict``: dicts recursively, lists concatenated, the rest replaced."""
    for key, value in update_dict.items():
        if key in main_dict and isinstance(main_dict[key], dict) and isinstance(value, dict):
            deep_dict_update(main_dict[key], value)
        elif key in main_dict and isinstance(main_dict[key], list) and isinstance(value, list):
            main_dict[key] = main_dict[key] + value
        else:
            main_dict[key] = value


def _encode(value: Any) -> Any:
    """JSON-ready data with ``None`` values left out of mappings (FastAPI's ``jsonable_encoder(exclude_none=True)``)."""
    if isinstance(value, BaseModel):
        return _encode(value.model_dump(mode="json", by_alias=True, exclude_none=True))
    if isinstance(value, dict):
        return {_encode(k): _encode(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_encode(v) for v in value]
    if isinstance(value, Enum):
        return _encode(value.value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode(dataclasses.asdict(value))
    from ..encoders import jsonable_encoder

    return jsonable_encoder(value)


def get_openapi_security_definitions(security: list[tuple[SecurityBase, list[str]]]
                                     ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``components.securitySchemes`` entries and the operation's ``security`` (scopes merged per scheme)."""
    definitions: dict[str, Any] = {}
    requirements: dict[str, list[str]] = {}
    for scheme, scopes in security:
        definitions[scheme.scheme_name] = _encode(scheme.model)
        merged = requirements.setdefault(scheme.scheme_name, [])
        for scope in scopes:
            if scope not in merged:
                merged.append(scope)
    return definitions, [{name: scopes} for name, scopes in requirements.items()]


def _operation_parameters(data: _DependencyData, field_mapping: dict[Any, Any],
                          separate_input_output_schemas: bool) -> list[dict[str, Any]]:
    parameters = []
    for kind in (PATH, QUERY, HEADER, COOKIE):
        for field in data.params[kind]:
            source = field.source
            if not getattr(source, "include_in_schema", True) or not field.include_in_schema:
                continue
            name = field.param_name or field.alias
            schema = get_schema_from_model_field(field=field, field_mapping=field_mapping,
                                                 separate_input_output_schemas=separate_input_output_schemas,
                                                 field_alias=field.param_alias or name)
            required = field.field_info.is_required() if field.param_required is None else field.param_required
            parameter: dict[str, Any] = {"name": name, "in": _IN[kind], "required": required, "schema": schema}
            if field.field_info.description:
                parameter["description"] = field.field_info.description
            openapi_examples = getattr(source, "openapi_examples", None)
            example = getattr(source, "example", _UNSET)
            if openapi_examples:
                parameter["examples"] = _encode(openapi_examples)
            elif example is not _UNSET:
                parameter["example"] = _encode(example)
            if getattr(field.field_info, "deprecated", None):
                parameter["deprecated"] = True
            parameters.append(parameter)
    return parameters


def get_openapi_operation_request_body(*, body_field: ModelField | None, field_mapping: dict[Any, Any],
                                       separate_input_output_schemas: bool = True) -> dict[str, Any] | None:
    """The operation's ``requestBody``: the body field's schema under its media type."""
    if body_field is None:
        return None
    schema = get_schema_from_model_field(field=body_field, field_mapping=field_mapping,
                                         separate_input_output_schemas=separate_input_output_schemas)
    request_body: dict[str, Any] = {}
    if body_field.field_info.is_required():
        request_body["required"] = True
    content: dict[str, Any] = {"schema": schema}
    openapi_examples = getattr(body_field.source, "openapi_examples", None)
    example = getattr(body_field.source, "example", _UNSET)
    if openapi_examples:
        content["examples"] = _encode(openapi_examples)
    elif example is not _UNSET:
        content["example"] = _encode(example)
    request_body["content"] = {body_field.media_type or "application/json": content}
    return request_body


def generate_operation_summary(*, route: Any, method: str) -> str:
    """The route's ``summary``, else its name in title case."""
    if route.summary:
        return route.summary
    return route.name.replace("_", " ").title()


def get_openapi_operation_metadata(*, route: Any, method: str, operation_ids: set[str]) -> dict[str, Any]:
    """tags, summary, description, operationId (warning on duplicates) and deprecated."""
    operation: dict[str, Any] = {}
    if route.tags:
        operation["tags"] = route.tags
    operation["summary"] = generate_operation_summary(route=route, method=method)
    if route.description:
        operation["description"] = route.description
    operation_id = route.operation_id or route.unique_id
    if operation_id in operation_ids:
        endpoint_name = getattr(route.endpoint, "__name__", "<unnamed_endpoint>")
        message = f"Duplicate Operation ID {operation_id} for function {endpoint_name}"
        file_name = getattr(route.endpoint, "__globals__", {}).get("__file__")
        if file_name:
            message += f" at {file_name}"
        warnings.warn(message, stacklevel=1)
    operation_ids.add(operation_id)
    operation["operationId"] = operation_id
    if route.deprecated:
        operation["deprecated"] = route.deprecated
    return operation


def _documented_methods(route: Any) -> list[str]:
    """The route's methods without the HEAD a GET route answers implicitly (FastAPI does not list it)."""
    implicit_head = getattr(route, "implicit_head", False)
    return [m for m in route.methods if not (m == "HEAD" and implicit_head)]


def get_openapi_path(*, route: RouteDoc, operation_ids: set[str], field_mapping: dict[Any, Any],
                     separate_input_output_schemas: bool = True
                     ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The path item of one route: (operations by method, security schemes, extra definitions)."""
    doc = route
    route = doc.route
    path: dict[str, Any] = {}
    security_schemes: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    response_class = route.response_class
    if isinstance(response_class, DefaultPlaceholder):
        response_class = response_class.value
    if response_class is None:
        response_class = JSONResponse
    media_type: str | None = getattr(response_class, "media_type", None)
    if not route.include_in_schema:
        return path, security_schemes, definitions
    data = doc.dependency_data
    has_params = any(data.params[k] for k in (PATH, QUERY, HEADER, COOKIE))
    for method in _documented_methods(route):
        operation = get_openapi_operation_metadata(route=route, method=method, operation_ids=operation_ids)
        security_definitions, operation_security = get_openapi_security_definitions(data.security)
        if operation_security:
            operation.setdefault("security", []).extend(operation_security)
        if security_definitions:
            security_schemes.update(security_definitions)
        parameters = _operation_parameters(data, field_mapping, separate_input_output_schemas)
        if parameters:
            all_parameters = {(p["in"], p["name"]): p for p in parameters}
            all_parameters.update({(p["in"], p["name"]): p for p in parameters if p.get("required")})
            operation["parameters"] = list(all_parameters.values())
        if method in METHODS_WITH_BODY:
            request_body = get_openapi_operation_request_body(
                body_field=doc.body_field, field_mapping=field_mapping,
                separate_input_output_schemas=separate_input_output_schemas)
            if request_body:
                operation["requestBody"] = request_body
        if doc.callbacks:
            callbacks = {}
            for callback in doc.callbacks:
                cb_path, _, _ = get_openapi_path(route=callback, operation_ids=operation_ids,
                                                 field_mapping=field_mapping,
                                                 separate_input_output_schemas=separate_input_output_schemas)
                callbacks[callback.route.name] = {callback.route.path: cb_path}
            operation["callbacks"] = callbacks
        if route.status_code is not None:
            status_code = str(route.status_code)
        else:
            status_code = "200"
            param = inspect.signature(response_class.__init__).parameters.get("status_code")
            if param is not None and isinstance(param.default, int):
                status_code = str(param.default)
        responses = operation.setdefault("responses", {})
        responses.setdefault(status_code, {})["description"] = route.response_description
        stream_kind = getattr(route, "stream_kind", None)
        body_allowed = _is_body_allowed_for_status_code(route.status_code)
        if body_allowed and stream_kind in _STREAM_MEDIA_TYPES:  # a generator: JSON Lines or events
            responses.setdefault(status_code, {}).setdefault("content", {})[_STREAM_MEDIA_TYPES[stream_kind]] = {
                "itemSchema": _stream_item_schema(doc, stream_kind, field_mapping, separate_input_output_schemas)}
        elif body_allowed and media_type:
            response_schema: dict[str, Any] = {"type": "string"}
            if _lenient_issubclass(response_class, JSONResponse):
                if doc.response_field is not None:
                    response_schema = get_schema_from_model_field(
                        field=doc.response_field, field_mapping=field_mapping,
                        separate_input_output_schemas=separate_input_output_schemas)
                else:
                    response_schema = {}
            responses.setdefault(status_code, {}).setdefault("content", {}).setdefault(media_type, {})["schema"] = \
                response_schema
        for code, additional in (route.responses or {}).items():
            process_response = copy.deepcopy(additional)
            process_response.pop("model", None)
            key = str(code).upper()
            if key == "DEFAULT":
                key = "default"
            openapi_response = responses.setdefault(key, {})
            field = doc.response_fields.get(code)
            if field is not None:
                field_schema = get_schema_from_model_field(field=field, field_mapping=field_mapping,
                                                           separate_input_output_schemas=separate_input_output_schemas)
                target = process_response.setdefault("content", {}).setdefault(media_type or "application/json", {})
                deep_dict_update(target.setdefault("schema", {}), field_schema)
            status_text = status_code_ranges.get(str(code).upper()) or _http_status_text(code)
            description = (process_response.get("description") or openapi_response.get("description")
                           or status_text or "Additional Response")
            deep_dict_update(openapi_response, process_response)
            openapi_response["description"] = description
        if (has_params or doc.body_field is not None) and not any(s in responses for s in ("422", "4XX", "default")):
            responses["422"] = {
                "description": "Validation Error",
                "content": {"application/json": {"schema": {"$ref": REF_PREFIX + "HTTPValidationError"}}},
            }
            if "ValidationError" not in definitions:
                definitions["ValidationError"] = validation_error_definition
                definitions["HTTPValidationError"] = validation_error_response_definition
        if route.openapi_extra:
            deep_dict_update(operation, route.openapi_extra)
        path[method.lower()] = operation
    return path, security_schemes, definitions


_STREAM_MEDIA_TYPES = {"jsonl": "application/jsonl", "sse": "text/event-stream"}


def _stream_item_schema(doc: RouteDoc, kind: str, field_mapping: dict[Any, Any],
                        separate_input_output_schemas: bool) -> dict[str, Any]:
    """The ``itemSchema`` of a streaming operation: the item type's schema for JSON Lines; for events the
    event's schema, whose ``data`` holds the item type as JSON."""
    field = doc.stream_item_field
    schema = None if field is None else get_schema_from_model_field(
        field=field, field_mapping=field_mapping, separate_input_output_schemas=separate_input_output_schemas)
    if kind == "jsonl":
        return {} if schema is None else schema
    from ..sse import _SSE_EVENT_SCHEMA

    event = copy.deepcopy(_SSE_EVENT_SCHEMA)
    if schema is not None:
        event["required"] = ["data"]
        event["properties"]["data"] = {"type": "string", "contentMediaType": "application/json",
                                       "contentSchema": schema}
    return event


def _http_status_text(code: Any) -> str | None:
    try:
        return http.client.responses.get(int(code))
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- the document
def info_object(title: str, version: str, *, summary: str | None = None, description: str | None = None,
                terms_of_service: str | None = None, contact: dict[str, Any] | None = None,
                license_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``info`` object of an OpenAPI (or AsyncAPI) document: the fields given, in FastAPI's order."""
    info: dict[str, Any] = {"title": title, "version": version}
    if summary:
        info["summary"] = summary
    if description:
        info["description"] = description
    if terms_of_service:
        info["termsOfService"] = terms_of_service
    if contact:
        info["contact"] = contact
    if license_info:
        info["license"] = license_info
    return info


def get_openapi(
    *,
    title: str,
    version: str,
    openapi_version: str = "3.1.0",
    summary: str | None = None,
    description: str | None = None,
    routes: Sequence[Any],
    webhooks: Sequence[Any] | None = None,
    tags: list[dict[str, Any]] | None = None,
    servers: list[dict[str, Any]] | None = None,
    terms_of_service: str | None = None,
    contact: dict[str, Any] | None = None,
    license_info: dict[str, Any] | None = None,
    separate_input_output_schemas: bool = True,
    external_docs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI document (a JSON-ready dict) of ``routes``, FastAPI's ``get_openapi`` with its arguments."""
    info = info_object(title, version, summary=summary, description=description,
                       terms_of_service=terms_of_service, contact=contact, license_info=license_info)
    output: dict[str, Any] = {"openapi": openapi_version, "info": info}
    if servers:
        output["servers"] = servers
    route_docs = [RouteDoc(r) for r in _api_routes(routes)]
    webhook_docs = [RouteDoc(r) for r in _api_routes(webhooks or [])]
    all_fields: list[ModelField] = []
    for doc in (*route_docs, *webhook_docs):
        if doc.route.include_in_schema:
            all_fields.extend(doc.fields())
    field_mapping, definitions = get_definitions(fields=all_fields,
                                                 separate_input_output_schemas=separate_input_output_schemas)
    components: dict[str, dict[str, Any]] = {}
    paths: dict[str, dict[str, Any]] = {}
    webhook_paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for docs, target in ((route_docs, paths), (webhook_docs, webhook_paths)):
        for doc in docs:
            path, security_schemes, path_definitions = get_openapi_path(
                route=doc, operation_ids=operation_ids, field_mapping=field_mapping,
                separate_input_output_schemas=separate_input_output_schemas)
            if path:
                target.setdefault(doc.route.path_format, {}).update(path)
            if security_schemes:
                components.setdefault("securitySchemes", {}).update(security_schemes)
            if path_definitions:
                definitions.update(path_definitions)
    if definitions:
        components["schemas"] = {k: definitions[k] for k in sorted(definitions)}
    if components:
        output["components"] = components
    output["paths"] = paths
    if webhook_paths:
        output["webhooks"] = webhook_paths
    if tags:
        output["tags"] = tags
    if external_docs:
        output["externalDocs"] = external_docs
    return _encode(OpenAPI(**output))  # type: ignore[no-any-return]


__all__ = ["GenerateJsonSchema", "ModelField", "RouteDoc", "deep_dict_update", "get_definitions", "get_openapi",
           "get_openapi_path", "get_schema_from_model_field", "router_routes"]


# ------------------------------------------------------------------------------------ FastAPI's other names here
lenient_issubclass = _lenient_issubclass
is_body_allowed_for_status_code = _is_body_allowed_for_status_code


def get_flat_params(dependant: Any) -> list[ModelField]:
    """Every path, query, header and cookie parameter of a dependency tree (``fastrapi.dependencies.utils``)."""
    data = _dependency_data(dependant.plan)
    return [*data.params[PATH], *data.params[QUERY], *data.params[HEADER], *data.params[COOKIE]]


def generate_operation_id(*, route: Any, method: str) -> str:
    """Deprecated in FastAPI: the route's ``operation_id``, else its unique id."""
    warnings.warn("fastapi.openapi.utils.generate_operation_id() was deprecated, it is not used internally, and "
                  "will be removed soon", FastAPIDeprecationWarning, stacklevel=2)
    return route.operation_id or route.unique_id


def get_fields_from_routes(routes: Sequence[Any]) -> list[ModelField]:
    """The fields of the routes (and their callbacks) that the document's schemas are built from."""
    fields: list[ModelField] = []
    for route in _api_routes(routes):
        if route.include_in_schema:
            fields.extend(RouteDoc(route).fields())
        if route.callbacks:
            fields.extend(get_fields_from_routes(route.callbacks))
    return fields


def get_model_name_map(unique_models: set[Any]) -> dict[Any, str]:
    """Each model's name in the document: its class name, qualified by module where two models share one."""
    by_name: dict[str, list[Any]] = {}
    for model in unique_models:
        by_name.setdefault(getattr(model, "__name__", str(model)), []).append(model)
    names: dict[Any, str] = {}
    for name, models in by_name.items():
        for model in models:
            names[model] = name if len(models) == 1 else f"{model.__module__}__{name}".replace(".", "__")
    return names


def __getattr__(name: str) -> Any:
    """FastAPI's re-exports here, loaded on first use (they import modules that import this one)."""
    lazy = {
        "BaseRoute": ("..routing", "BaseRoute"), "Body": ("..params", "Body"), "Dependant": ("..dependencies", "Dependant"),
        "DependencyCacheKey": ("..types", "DependencyCacheKey"), "ModelNameMap": ("..types", "ModelNameMap"),
        "ParamTypes": ("..params", "ParamTypes"), "Response": ("..responses", "Response"),
        "jsonable_encoder": ("..encoders", "jsonable_encoder"),
        "generate_operation_id_for_path": ("..utils", "generate_operation_id_for_path"),
    }
    if name not in lazy:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module, attr = lazy[name]
    return getattr(importlib.import_module(module, __package__), attr)
