"""The AsyncAPI 3.0 document of an app's WebSocket routes (``app.asyncapi()``, served at ``/asyncapi.json``).

One channel per WebSocket route (its ``address``, path parameters, and query parameters and headers as WebSocket
bindings), two operations per channel (``action: receive``: what the server receives; ``action: send``: what it
sends), and messages whose payloads are the JSON Schemas of the declared ``receive=`` / ``send=`` types. Those
schemas come from the same generator, in the same pass over the app's HTTP routes, as the OpenAPI document's, so
a model has the same schema and the same name under ``components.schemas`` in both documents. Routes of mounted
FastrAPI apps and routers appear under their mount's path. Built on demand, never on the request path.
"""
from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, Iterable, Literal, Sequence, Union
from urllib.parse import urlsplit

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ..dependencies import HEADER, PATH, QUERY
from ..openapi.utils import (
    info_object,
    ModelField,
    RouteDoc,
    _api_routes,
    _dependency_data,
    _encode,
    get_definitions,
    get_schema_from_model_field,
)
from ..routing import _PARAM_RE, WebSocketRoute
from ..ws.messages import BINARY, JSON, TEXT, message_kind

__all__ = ["ASYNCAPI_VERSION", "WS_BINDING_VERSION", "get_asyncapi", "asyncapi_servers", "websocket_routes"]

ASYNCAPI_VERSION = "3.0.0"
#: the version of AsyncAPI's WebSocket bindings (``bindings.ws``) the channels use
WS_BINDING_VERSION = "0.1.0"
_REF = "#/components/schemas/"
_KEY_RE = re.compile(r"[^A-Za-z0-9_\-]")
_CONTENT_TYPES = {TEXT: "text/plain", BINARY: "application/octet-stream"}
_UNION_TYPES: tuple[Any, ...] = (Union, types.UnionType) if hasattr(types, "UnionType") else (Union,)

#: a message of a route that declares no type for that direction
ANY_MESSAGE_KEY = "AnyMessage"
ANY_MESSAGE = {
    "name": ANY_MESSAGE_KEY,
    "title": "Any message",
    "summary": "A text or binary message: the route declares no type for it.",
}


@dataclass
class _Channel:
    """One WebSocket route as documented: where it is and what goes through it."""

    route: WebSocketRoute
    address: str
    #: path parameter names of the address, in order (a mount's first)
    path_names: list[str]
    key: str = ""
    query: list[ModelField] = field(default_factory=list)
    headers: list[ModelField] = field(default_factory=list)
    path_fields: dict[str, ModelField] = field(default_factory=dict)
    #: direction -> [(message field, kind)]; empty when the route declares no type
    messages: dict[str, list[tuple[ModelField, str]]] = field(default_factory=dict)


def websocket_routes(routes: Iterable[Any], prefix: str = "") -> list[tuple[str, WebSocketRoute]]:
    """(address prefix, route) of every WebSocket route among ``routes`` and inside the FastrAPI apps and
    routers mounted there (other mounted ASGI apps cannot tell what they serve)."""
    from ..applications import FastrAPI
    from ..mounting import Mount
    from ..routing import Router

    found: list[tuple[str, WebSocketRoute]] = []
    for route in routes:
        if isinstance(route, WebSocketRoute):
            found.append((prefix, route))
        elif isinstance(route, Mount) and isinstance(route.app, (FastrAPI, Router)):
            found.extend(websocket_routes(route.app.routes, prefix + route.path_format))
    return found


def _unique_key(name: str, taken: set[str]) -> str:
    key = _KEY_RE.sub("_", name) or "channel"
    candidate, n = key, 2
    while candidate in taken:
        candidate = f"{key}_{n}"
        n += 1
    taken.add(candidate)
    return candidate


def _model_members(tp: Any) -> list[type[BaseModel]] | None:
    """The models of a union of models (discriminated or not), each documented as a message of its own;
    None for any other type (one message)."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) not in _UNION_TYPES:
        return None
    members = list(typing.get_args(tp))
    if all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
        return members
    return None


def _message_fields(tp: Any, name: str, mode: Literal["validation", "serialization"]) -> list[tuple[ModelField, str]]:
    kind = message_kind(tp)
    members = _model_members(tp)
    types = members if members is not None else [tp]
    return [(ModelField(FieldInfo(annotation=t), getattr(t, "__name__", name) if members else name, mode), kind)
            for t in types]


def _channel(prefix: str, route: WebSocketRoute, taken: set[str]) -> _Channel:
    path = prefix + route.path_format
    names = [m.group(1) for m in _PARAM_RE.finditer(path)]
    ch = _Channel(route=route, address=path, path_names=names, key=_unique_key(route.name, taken))
    data = _dependency_data(route.plan)
    ch.query = data.params[QUERY]
    ch.headers = data.params[HEADER]
    ch.path_fields = {f.alias: f for f in data.params[PATH]}
    if route.receive is not None:
        ch.messages["receive"] = _message_fields(route.receive, f"{ch.key}_receive", "validation")
    if route.send is not None:
        ch.messages["send"] = _message_fields(route.send, f"{ch.key}_send", "serialization")
    return ch


def _describable(f: ModelField, separate: bool) -> bool:
    try:
        get_definitions(fields=[f], separate_input_output_schemas=separate)
    except Exception:
        return False
    return True


def _tag(tag: Any, described: dict[str, dict[str, Any]]) -> dict[str, Any]:
    name = str(tag.value if isinstance(tag, Enum) else tag)
    return described.get(name) or {"name": name}


def _parameter(name: str, field_: ModelField | None) -> dict[str, Any]:
    """An AsyncAPI parameter (a string in the address): its description, allowed values and examples."""
    param: dict[str, Any] = {}
    if field_ is None:
        return param
    info = field_.field_info
    if info.description:
        param["description"] = info.description
    annotation = info.annotation
    values: list[Any] | None = None
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        values = [m.value for m in annotation]
    elif typing.get_origin(annotation) is Literal:
        values = list(typing.get_args(annotation))
    if values:
        param["enum"] = [str(v) for v in values]
    if info.default is not PydanticUndefined and info.default is not None:
        param["default"] = str(info.default.value if isinstance(info.default, Enum) else info.default)
    if info.examples:
        param["examples"] = [str(e) for e in info.examples]
    return param


def _object_schema(fields: Sequence[ModelField], mapping: dict[Any, Any], separate: bool) -> dict[str, Any] | None:
    """The query parameters (or headers) of a route as the ``type: object`` schema a WebSocket binding wants."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in fields:
        if not getattr(f.source, "include_in_schema", True):
            continue
        schema = get_schema_from_model_field(field=f, field_mapping=mapping, separate_input_output_schemas=separate,
                                             field_alias=f.alias)
        if f.field_info.description and "description" not in schema:
            schema["description"] = f.field_info.description
        properties[f.alias] = schema
        if f.field_info.is_required() and f.alias not in required:
            required.append(f.alias)
    if not properties:
        return None
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    return out


def _refs(value: Any, out: set[str]) -> None:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            out.add(ref[len(_REF):])
        for v in value.values():
            _refs(v, out)
    elif isinstance(value, list):
        for v in value:
            _refs(v, out)


def _reachable(roots: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    """The definitions ``roots`` refer to, directly or through other definitions."""
    pending: set[str] = set()
    _refs(roots, pending)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen or name not in definitions:
            continue
        seen.add(name)
        _refs(definitions[name], pending)
    return {k: definitions[k] for k in sorted(seen)}


def asyncapi_servers(servers: Sequence[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """OpenAPI ``servers`` (``FastrAPI(servers=[{"url": "https://api.example.com/v1"}])``) as AsyncAPI servers:
    ``http`` becomes ``ws``, ``https`` becomes ``wss``. Relative URLs have no host and are left out."""
    out: dict[str, dict[str, Any]] = {}
    for server in servers or ():
        parts = urlsplit(str(server.get("url", "")))
        if not parts.netloc or parts.scheme not in ("http", "https", "ws", "wss"):
            continue
        entry: dict[str, Any] = {"host": parts.netloc,
                                 "protocol": "wss" if parts.scheme in ("https", "wss") else "ws"}
        if parts.path and parts.path != "/":
            entry["pathname"] = parts.path.rstrip("/")
        if server.get("description"):
            entry["description"] = server["description"]
        out["default" if not out else f"server{len(out) + 1}"] = entry
    return out


def get_asyncapi(
    *,
    title: str,
    version: str,
    routes: Sequence[Any],
    description: str | None = None,
    servers: dict[str, dict[str, Any]] | None = None,
    tags: list[dict[str, Any]] | None = None,
    terms_of_service: str | None = None,
    contact: dict[str, Any] | None = None,
    license_info: dict[str, Any] | None = None,
    external_docs: dict[str, Any] | None = None,
    separate_input_output_schemas: bool = True,
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document (a JSON-ready dict) of the WebSocket routes among ``routes``.

    ``servers``: AsyncAPI server objects by name (see ``asyncapi_servers``); ``tags``: FastAPI's
    ``openapi_tags``, whose descriptions the channels' tags take."""
    info = info_object(title, version, description=description, terms_of_service=terms_of_service,
                       contact=contact, license_info=license_info)
    described = {str(t["name"]): _encode(t) for t in tags or () if isinstance(t, dict) and t.get("name")}
    if described:
        info["tags"] = list(described.values())
    if external_docs:
        info["externalDocs"] = external_docs
    output: dict[str, Any] = {"asyncapi": ASYNCAPI_VERSION, "info": info, "defaultContentType": "application/json"}
    if servers:
        output["servers"] = servers

    taken: set[str] = set()
    channels = [_channel(prefix, route, taken) for prefix, route in websocket_routes(routes)
                if route.include_in_schema]
    # the HTTP routes' fields go into the same pass so that a model shared with them keeps its OpenAPI name
    fields: list[ModelField] = []
    for doc in (RouteDoc(r) for r in _api_routes(routes)):
        if doc.route.include_in_schema:
            fields.extend(doc.fields())
    for ch in channels:
        fields.extend(ch.query)
        fields.extend(ch.headers)
        fields.extend(ch.path_fields.values())
        for entries in ch.messages.values():
            fields.extend(f for f, _ in entries)
    separate = separate_input_output_schemas
    try:
        mapping, definitions = get_definitions(fields=fields, separate_input_output_schemas=separate)
    except Exception:  # a type pydantic validates but cannot describe: its messages go without a payload schema
        for ch in channels:
            for direction, entries in ch.messages.items():
                ch.messages[direction] = [(f, k) for f, k in entries if _describable(f, separate)]
        fields = [f for f in fields if _describable(f, separate)]
        mapping, definitions = get_definitions(fields=fields, separate_input_output_schemas=separate)

    # (a model called AnyMessage keeps its name; the untyped message takes another)
    any_key = ANY_MESSAGE_KEY if ANY_MESSAGE_KEY not in definitions else "AnyMessage_untyped"
    messages: dict[str, dict[str, Any]] = {}
    out_channels: dict[str, dict[str, Any]] = {}
    operations: dict[str, dict[str, Any]] = {}
    for ch in channels:
        route = ch.route
        channel: dict[str, Any] = {"address": ch.address, "title": route.name.replace("_", " ").title()}
        if route.summary:
            channel["summary"] = route.summary
        if route.description:
            channel["description"] = route.description
        channel_messages: dict[str, dict[str, str]] = {}
        by_direction: dict[str, list[str]] = {}
        for direction in ("receive", "send"):
            keys = by_direction[direction] = []
            for f, kind in ch.messages.get(direction) or ():
                schema = get_schema_from_model_field(field=f, field_mapping=mapping,
                                                     separate_input_output_schemas=separate)
                ref = schema.get("$ref", "")
                key = ref[len(_REF):] if ref.startswith(_REF) else f.name
                if key not in messages:
                    message: dict[str, Any] = {"name": key}
                    shown = definitions.get(key, schema) if ref else schema
                    if kind is not JSON:
                        message["title"] = "Text message" if kind is TEXT else "Binary message"
                        message["contentType"] = _CONTENT_TYPES[kind]
                    elif shown.get("title"):
                        message["title"] = shown["title"]
                    message["payload"] = schema
                    messages[key] = message
                keys.append(key)
            if not keys:
                messages.setdefault(any_key, {**ANY_MESSAGE, "name": any_key})
                keys.append(any_key)
            for key in keys:
                channel_messages[key] = {"$ref": f"#/components/messages/{key}"}
        channel["messages"] = channel_messages
        if ch.path_names:
            channel["parameters"] = {n: _parameter(n, ch.path_fields.get(n)) for n in ch.path_names}
        if route.tags:
            channel["tags"] = [_tag(t, described) for t in route.tags]
        binding: dict[str, Any] = {"method": "GET"}
        query = _object_schema(ch.query, mapping, separate)
        if query is not None:
            binding["query"] = query
        headers = _object_schema(ch.headers, mapping, separate)
        if route.subprotocols:
            headers = headers or {"type": "object", "properties": {}}
            headers["properties"]["Sec-WebSocket-Protocol"] = {
                "type": "string",
                "description": "The subprotocols the client offers, comma-separated; the server accepts: "
                               + ", ".join(route.subprotocols) + ".",
                "examples": list(route.subprotocols),
            }
        if headers is not None:
            binding["headers"] = headers
        binding["bindingVersion"] = WS_BINDING_VERSION
        channel["bindings"] = {"ws": binding}
        out_channels[ch.key] = channel
        for action, who in (("receive", "the client sends to"), ("send", "the server sends on")):
            operation: dict[str, Any] = {"action": action, "channel": {"$ref": f"#/channels/{ch.key}"}}
            if route.summary:
                operation["summary"] = route.summary
            operation["description"] = f"Messages {who} {ch.address}."
            operation["messages"] = [{"$ref": f"#/channels/{ch.key}/messages/{key}"} for key in by_direction[action]]
            if route.tags:
                operation["tags"] = channel["tags"]
            operations[f"{ch.key}_{action}"] = operation

    output["channels"] = out_channels
    output["operations"] = operations
    components: dict[str, Any] = {}
    schemas = _reachable([out_channels, messages], definitions)
    if schemas:
        components["schemas"] = schemas
    if messages:
        components["messages"] = {k: messages[k] for k in sorted(messages)}
    if components:
        output["components"] = components
    return _encode(output)  # type: ignore[no-any-return]
