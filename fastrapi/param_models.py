"""Parameter models (FastAPI 0.115+): ``Annotated[FilterParams, Query()]`` (or ``Header()``, ``Cookie()``).

Each field of the pydantic model is its own query parameter, header or cookie. What to read is worked out
once, at registration (``ParamModel``): each field's request names (aliases, ``AliasChoices``,
``populate_by_name``, headers' underscores as hyphens) and whether it takes repeated values. Per request the
values, and the request's other names (for the model's ``extra`` policy), are gathered into one dict that
ONE pydantic call validates, so errors (``missing``, ``extra_forbidden``...) come out as FastAPI reports them.
"""
from __future__ import annotations

import copy
import dataclasses
import types
import typing
from typing import Any, Callable

from pydantic import AliasChoices, AliasPath, BaseModel, ValidationError

_UNIONS: tuple[Any, ...] = (typing.Union, types.UnionType) if hasattr(types, "UnionType") else (typing.Union,)


def model_type(annotation: Any) -> type[BaseModel] | None:
    """The model of a parameter model's annotation: ``Model``, ``Model | None`` (FastAPI's rule), or None."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in _UNIONS:
        args = typing.get_args(annotation)
        if len(args) == 2 and type(None) in args:
            annotation = next(a for a in args if a is not type(None))
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def is_sequence(annotation: Any) -> bool:
    """A list/set/tuple annotation (also inside ``Optional``/``Annotated``): the field takes repeated values."""
    origin = typing.get_origin(annotation)
    if origin in _UNIONS:
        return any(is_sequence(a) for a in typing.get_args(annotation) if a is not type(None))
    if origin is typing.Annotated:
        return is_sequence(typing.get_args(annotation)[0])
    return origin in (list, set, tuple, frozenset) or annotation in (list, set, tuple, frozenset)


def field_config(model: type[BaseModel], annotation: Any) -> dict[str, Any] | None:
    """The config FastAPI gives a model's field: the model's, unless the field is itself a model/dict/dataclass."""
    if isinstance(annotation, type) and (issubclass(annotation, (BaseModel, dict)) or dataclasses.is_dataclass(annotation)):
        return None
    return dict(model.model_config)


def request_names(name: str, info: Any, config: dict[str, Any] | None, convert_underscores: bool) -> list[tuple[str, str]]:
    """(key in the dict given to pydantic, name in the request) pairs of one model field, preferred first
    (FastAPI's ``_get_param_aliases``)."""
    validation_alias = info.validation_alias
    alias = validation_alias if isinstance(validation_alias, str) and validation_alias else (info.alias or name)
    request_alias = alias.replace("_", "-") if convert_underscores and alias == name else alias
    if isinstance(validation_alias, AliasPath):
        return [(alias, request_alias)]
    pairs = [(alias, request_alias)]
    if isinstance(validation_alias, AliasChoices):
        if any(isinstance(choice, AliasPath) for choice in validation_alias.choices):
            return pairs
        pairs = [(choice, choice) for choice in validation_alias.choices]  # literal names, even in headers
    config = config or {}
    if config.get("validate_by_alias") is False or config.get("validate_by_name", config.get("populate_by_name", False)):
        by_name = name.replace("_", "-") if convert_underscores else name
        if config.get("validate_by_alias") is False:
            return [(name, by_name)]
        if name not in [key for key, _ in pairs]:
            pairs.append((name, by_name))
    return pairs


class _Field:
    """One model field: its name pairs, and whether repeated values make a list."""

    __slots__ = ("name", "pairs", "key", "request_key", "multi", "sequence")

    def __init__(self, name: str, pairs: list[tuple[str, str]], multi: bool, sequence: bool) -> None:
        self.name = name
        self.pairs = pairs if len(pairs) > 1 else None  # several choices: the first one sent wins
        self.key, self.request_key = pairs[0]
        self.multi = multi
        #: a list field read as one value (a cookie): an empty value counts as not sent, as in FastAPI
        self.sequence = sequence


class ParamModel:
    """How to fill one parameter model from a request's query parameters, headers or cookies."""

    __slots__ = ("model", "location", "headers", "multidict", "fields", "processed", "renamed", "own_names",
                 "nullable", "required", "default", "default_factory", "validate_default", "validate",
                 "loc_by_alias", "extra_policy")

    def __init__(self, annotation: Any, location: str, info: Any, required: bool, default: Any,
                 default_factory: Callable[[], Any] | None, validate: Callable[[Any], Any]) -> None:
        model = model_type(annotation)
        assert model is not None
        self.model = model
        self.location = location
        self.headers = location == "header"
        #: repeated names are collected (query string and headers; a cookie has one value, as in FastAPI)
        self.multidict = location in ("query", "header")
        convert = getattr(info, "convert_underscores", True)
        self.fields: list[_Field] = []
        processed: set[str] = set()
        renamed: dict[str, str] = {}
        own: set[str] = set()
        for name, field in model.model_fields.items():
            field_convert = self.headers and getattr(field, "convert_underscores", convert)
            pairs = request_names(name, field, field_config(model, field.annotation), field_convert)
            sequence = is_sequence(field.annotation)
            self.fields.append(_Field(name, pairs, self.multidict and sequence, sequence))
            own.update(n.lower() if self.headers else n for _, n in pairs)
            if len(pairs) == 1:  # (with choices, the one sent is marked per request)
                processed.add(pairs[0][1].lower() if self.headers else pairs[0][1])
                if self.headers and pairs[0][0] != pairs[0][1]:
                    renamed[name] = pairs[0][1]
            if self.headers:
                processed.update(key.lower() for key, request in pairs if key != request)
        #: the names that are not "extra" whatever the request holds
        self.processed = frozenset(processed)
        #: field name -> header name, where they differ: errors are reported under the header's name
        self.renamed = renamed
        self.own_names = tuple(own)
        config = model.model_config
        #: a model that forbids or keeps extras: any name sent counts (for a nullable model's "sent at all")
        self.extra_policy = config.get("extra") in ("allow", "forbid")
        self.loc_by_alias = config.get("loc_by_alias", True)
        #: ``Model | None``: when none of its names is sent the parameter gets its default (or is missing)
        base = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation
        self.nullable = base is not model
        self.required = required
        self.default = default
        self.default_factory = default_factory
        self.validate_default = bool(getattr(info, "validate_default", False))
        self.validate = validate

    def solve(self, source: Any) -> tuple[Any, list[dict[str, Any]] | None]:
        """The validated model (or the default) from ``source`` (QueryParams, Headers or the cookies' dict)."""
        data: dict[str, Any] = {}
        processed: Any = self.processed
        renamed = self.renamed
        headers = self.headers
        for f in self.fields:
            if f.pairs is None:
                key, request_key = f.key, f.request_key
            else:
                key, request_key = next((pair for pair in f.pairs if pair[1] in source), (f.key, f.request_key))
                if processed is self.processed:
                    processed = set(processed)
                processed.add(request_key.lower() if headers else request_key)
                if headers and key != request_key:
                    if renamed is self.renamed:
                        renamed = dict(renamed)
                    renamed[f.name] = request_key
            if f.multi:
                values = source.getlist(request_key)
                if values:
                    data[key] = values
            else:
                value = source.get(request_key)
                if value is not None and not (f.sequence and not value):
                    data[key] = value
        # The other names go along too, as FastAPI passes them: for ``extra``, and part of a missing field's input.
        _add_extras(data, source, processed, self.multidict, headers)
        if self.nullable and not (any(n in source for n in self.own_names) or (self.extra_policy and data)):
            if self.required:
                return None, [{"type": "missing", "loc": (self.location,), "msg": "Field required", "input": None}]
            value = copy.deepcopy(self.default) if self.default_factory is None else self.default_factory()
            if not self.validate_default:
                return value, None
            data = value
        try:
            return self.validate(data), None
        except ValidationError as exc:
            errors = [{**e, "loc": (self.location, *e["loc"])} for e in exc.errors(include_url=False)]
        if renamed and self.loc_by_alias:  # report header names, not the fields' names
            for e in errors:
                loc = e["loc"]
                if len(loc) > 1 and loc[1] in renamed:
                    e["loc"] = (loc[0], renamed[loc[1]], *loc[2:])
        return None, errors


def _add_extras(data: dict[str, Any], source: Any, processed: Any, multidict: bool, headers: bool) -> None:
    """The request's other names, passed on for the model's ``extra`` policy (repeated ones as a list)."""
    if not multidict:
        for key in source:
            if key not in processed:
                data[key] = source.get(key)
        return
    grouped: dict[str, list[Any]] = {}
    for key, value in (source.items() if headers else source.multi_items()):
        if key not in processed:
            grouped.setdefault(key, []).append(value)
    for key, values in grouped.items():
        data[key] = values[0] if len(values) == 1 else values
