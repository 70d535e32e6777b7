"""``fastrapi.encoders.jsonable_encoder`` against FastAPI 0.165's, value for value and option for option.

Each case builds its value twice (generators and files are consumed by encoding) and compares the two results
strictly: types included (``1`` is not ``1.0``), dict key order included, and errors by type and message.
The end-to-end part runs one app on FastAPI's TestClient and on our real server and compares the JSON.
"""
# NB: no ``from __future__ import annotations``: FastAPI resolves string annotations from module globals only.
import collections
import dataclasses
import datetime
import enum
import ipaddress
import pathlib
import re
import tempfile
import uuid
import warnings
from decimal import Decimal
from typing import Any, Optional

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field, RootModel, computed_field
from pydantic import dataclasses as pydantic_dataclasses
from pydantic.networks import AnyUrl, HttpUrl, NameEmail
from pydantic.types import SecretBytes, SecretStr
from pydantic_core import PydanticUndefined, Url

import fastrapi
import fastrapi.datastructures
import fastrapi.encoders
from fastrapi.encoders import ENCODERS_BY_TYPE, jsonable_encoder

fastapi = pytest.importorskip("fastapi")
import fastapi.encoders  # noqa: E402
import starlette.datastructures  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pydantic.color import Color
    from pydantic import v1 as pydantic_v1

fastapi_encoder = fastapi.encoders.jsonable_encoder
# pydantic.color.Color is deprecated, but FastAPI still encodes it
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ------------------------------------------------------------------------------------------------ comparison

def canon(x: Any) -> Any:
    """``x`` as nested tuples that keep every type, dict key order and float bits (nan == nan here)."""
    t = type(x)
    if t is dict:
        return ("dict", [(canon(k), canon(v)) for k, v in x.items()])
    if t is list:
        return ("list", [canon(v) for v in x])
    if t is float:
        return ("float", repr(x))
    if t in (str, int, bool, type(None)):
        return (t.__name__, x)
    return (t.__name__, repr(x))


def error_text(exc: BaseException) -> Any:
    if isinstance(exc, ValueError) and exc.args and isinstance(exc.args[0], list):
        return [(type(e).__name__, str(e)) for e in exc.args[0]]
    return str(exc)


def outcome(encoder: Any, value: Any, opts: dict) -> Any:
    try:
        return ("ok", canon(encoder(value, **opts)))
    except Exception as exc:
        return ("error", type(exc).__name__, error_text(exc))


def assert_same(make: Any, **opts: Any) -> Any:
    """``make()`` encoded by both encoders gives the same thing; returns FastAPI's outcome."""
    expected = outcome(fastapi_encoder, make(), opts)
    assert outcome(jsonable_encoder, make(), opts) == expected
    return expected


# ------------------------------------------------------------------------------------------------ values

class Color3(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    FAST = "fast"


class Perm(enum.Flag):
    R = 4
    W = 2


class FloatEnum(enum.Enum):
    HALF = 0.5


class TupleEnum(enum.Enum):
    POINT = (1, 2)


class DecimalEnum(enum.Enum):
    PRICE = Decimal("1.5")


class NoneEnum(enum.Enum):
    NOTHING = None


class Sub(BaseModel):
    x: int = 1
    y: Optional[str] = None


class Item(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    item_id: int = Field(alias="itemId")
    name: str = "thing"
    price: Decimal = Decimal("1.50")
    tags: set = set()
    note: Optional[str] = None
    sub: Sub = Sub()
    when: datetime.datetime = datetime.datetime(2024, 1, 2, 3, 4, 5)
    meta: dict = {}


class WithComputed(BaseModel):
    a: int = 2

    @computed_field
    @property
    def double(self) -> int:
        return self.a * 2


class Ints(RootModel[list[int]]):
    pass


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0
    label: Optional[str] = None


@dataclasses.dataclass
class Order:
    id: uuid.UUID
    total: Decimal
    when: datetime.datetime
    tags: set
    color: Color3
    points: list
    extra: dict = dataclasses.field(default_factory=dict)


@pydantic_dataclasses.dataclass
class PydPoint:
    x: int
    y: Decimal = Decimal("2.5")


class Plain:
    def __init__(self) -> None:
        self.a = 1
        self.b = Decimal("2.0")
        self._sa_instance_state = "internal"
        self.c = None


class Pairs:
    """Iterable of pairs: ``dict(obj)`` works, as for FastAPI."""

    def __iter__(self):
        return iter([("k", Decimal("3")), ("n", None)])


class Slotted:
    __slots__ = ("a",)

    def __init__(self) -> None:
        self.a = 1


class V1Model(pydantic_v1.BaseModel):
    a: int = 1


def gen():
    yield 1
    yield Decimal("2.5")
    yield {"a": {1, 2}}


UID = uuid.UUID("12345678-1234-5678-1234-567812345678")
Point3 = collections.namedtuple("Point3", "x y z")
TZ = datetime.timezone(datetime.timedelta(hours=2))

VALUES: dict[str, Any] = {
    # primitives
    "str": lambda: "héllo",
    "int": lambda: 42,
    "big_int": lambda: 2**80,
    "float": lambda: 1.25,
    "nan": lambda: float("nan"),
    "inf": lambda: float("-inf"),
    "bool": lambda: True,
    "none": lambda: None,
    "undefined": lambda: PydanticUndefined,
    # the type table
    "bytes": lambda: b"abc",
    "bytes_invalid_utf8": lambda: b"\xff\xfe",
    "bytearray": lambda: bytearray(b"ab"),
    "color": lambda: Color("red"),
    "color_hex": lambda: Color("#0f0f0f"),
    "date": lambda: datetime.date(2024, 2, 29),
    "datetime": lambda: datetime.datetime(2024, 1, 2, 3, 4, 5, 123456),
    "datetime_tz": lambda: datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=TZ),
    "datetime_utc": lambda: datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc),
    "time": lambda: datetime.time(12, 30, 1, 5),
    "time_tz": lambda: datetime.time(12, 30, tzinfo=TZ),
    "timedelta": lambda: datetime.timedelta(days=1, seconds=5, microseconds=7),
    "timedelta_neg": lambda: datetime.timedelta(seconds=-1.5),
    "decimal_int": lambda: Decimal("10"),
    "decimal_frac": lambda: Decimal("1.50"),
    "decimal_exp": lambda: Decimal("1E+3"),
    "decimal_neg_zero": lambda: Decimal("-0.00"),
    "decimal_nan": lambda: Decimal("NaN"),
    "decimal_inf": lambda: Decimal("Infinity"),
    "enum_str": lambda: Color3.RED,
    "enum_int": lambda: Level.HIGH,
    "enum_strenum": lambda: Mode.FAST,
    "enum_flag": lambda: Perm.R | Perm.W,
    "enum_float": lambda: FloatEnum.HALF,
    "enum_tuple": lambda: TupleEnum.POINT,
    "enum_decimal": lambda: DecimalEnum.PRICE,
    "enum_none": lambda: NoneEnum.NOTHING,
    "frozenset": lambda: frozenset({3}),
    "set": lambda: {1, Decimal("2.5")},
    "set_of_str": lambda: {"a"},
    "deque": lambda: collections.deque([1, Decimal("1.0"), "x"]),
    "generator": gen,
    "generator_expr": lambda: (i * 2 for i in range(3)),
    "tuple": lambda: (1, "a", None),
    "namedtuple": lambda: Point3(1, Decimal("2"), UID),
    "list_nested": lambda: [[1, [2, {3}]], (4,), {"k": [UID]}],
    "ipv4": lambda: ipaddress.IPv4Address("10.0.0.1"),
    "ipv4_if": lambda: ipaddress.IPv4Interface("10.0.0.1/24"),
    "ipv4_net": lambda: ipaddress.IPv4Network("10.0.0.0/24"),
    "ipv6": lambda: ipaddress.IPv6Address("::1"),
    "ipv6_if": lambda: ipaddress.IPv6Interface("::1/64"),
    "ipv6_net": lambda: ipaddress.IPv6Network("2001:db8::/32"),
    "ip_address_fn": lambda: ipaddress.ip_address("192.168.1.1"),
    "name_email": lambda: NameEmail("John Doe", "john@example.com"),
    "path": lambda: pathlib.Path("/tmp/a b/c.txt"),
    "pure_posix_path": lambda: pathlib.PurePosixPath("a/b"),
    "pure_windows_path": lambda: pathlib.PureWindowsPath(r"C:\x\y"),
    "pattern": lambda: re.compile(r"^a+\d$"),
    "secret_bytes": lambda: SecretBytes(b"pw"),
    "secret_str": lambda: SecretStr("pw"),
    "uuid": lambda: UID,
    "url_core": lambda: Url("https://example.com/a?b=1"),
    "any_url": lambda: AnyUrl("https://example.com:8080/path"),
    "http_url": lambda: HttpUrl("http://example.com"),
    # models
    "model_alias": lambda: Item(itemId=1, tags={"a"}, meta={"_sa_x": 1, "k": None, "d": {"_sa": 2}}),
    "model_by_name": lambda: Item(item_id=2, note="n", sub=Sub(x=5, y="y")),
    "model_computed": lambda: WithComputed(a=3),
    "root_model": lambda: Ints([1, 2, 3]),
    "models_in_list": lambda: [Sub(), Sub(x=2, y="b")],
    "models_in_dict": lambda: {"a": Item(itemId=3), "b": [Sub(y="z")]},
    # dataclasses
    "dataclass": lambda: Point(1, 2),
    "dataclass_nested": lambda: Order(UID, Decimal("9.99"), datetime.datetime(2024, 5, 6), {"x"}, Color3.GREEN,
                                      [Point(1), Point(2, 3, "p")], {"_sa_k": 1, "none": None}),
    "dataclass_with_model": lambda: Point(1, Sub(x=9)),  # type: ignore[arg-type]
    "pydantic_dataclass": lambda: PydPoint(1),
    "dataclass_class": lambda: Point,
    # mappings
    "dict_sa_keys": lambda: {"_sa_instance_state": 1, "_sb": 2, "a": {"_sa": 3, "b": None}},
    "dict_non_str_keys": lambda: {1: "a", 2.5: "b", None: "c", False: "d", UID: "e",
                                  datetime.date(2020, 1, 1): "f", Color3.RED: "g", Decimal("3"): "h"},
    "dict_tuple_key": lambda: {(1, 2): "unhashable once encoded"},
    "dict_frozenset_key": lambda: {frozenset(): 1},
    "ordered_dict": lambda: collections.OrderedDict([("b", 1), ("a", Decimal("2")), ("_sa", 3)]),
    "defaultdict": lambda: collections.defaultdict(list, {"a": [1], "n": None}),
    "counter": lambda: collections.Counter("abca"),
    "mapping_proxy": lambda: __import__("types").MappingProxyType({"a": 1, "_sa": 2}),
    # other objects
    "object_with_dict": Plain,
    "iterable_of_pairs": Pairs,
    "slotted": Slotted,
    "object": object,
    "function": lambda: len,
    "plain_class": lambda: Slotted,
    "pydantic_v1_model": lambda: V1Model(),
    "complex": lambda: 1 + 2j,
}


def pairs(ds_module: Any) -> dict[str, Any]:
    """The values that exist in both frameworks' datastructures modules (Starlette's and ours)."""

    def upload(content: bytes, at_end: bool = False, size: int = 1024 * 1024, lines: bool = False) -> Any:
        def make():
            f = tempfile.SpooledTemporaryFile(max_size=size)
            f.write(content)
            f.seek(0, 2) if at_end else f.seek(0)
            headers = ds_module.Headers({"content-type": "text/plain", "x-a": "1"})
            return ds_module.UploadFile(f, size=len(content), filename="a.txt", headers=headers)
        return make

    return {
        "query_params": lambda: ds_module.QueryParams("a=1&a=2&b=&c=%20x"),
        "headers": lambda: ds_module.Headers(raw=[(b"a", b"1"), (b"a", b"2"), (b"b", b"3")]),
        "headers_from_dict": lambda: ds_module.Headers({"X-One": "1"}),
        "form_data": lambda: ds_module.FormData([("a", "1"), ("a", "2"), ("b", "x")]),
        "form_data_with_file": lambda: ds_module.FormData([("f", upload(b"")()), ("t", "v")]),
        "upload_empty": upload(b""),
        "upload_two_bytes": upload(b"ab"),
        "upload_text": upload(b"hello"),
        "upload_lines_at_end": upload(b"a\nbc\n", at_end=True),
        "upload_unlimited": upload(b"xyz", size=0),
        "upload_rolled": upload(b"hello world", size=4),
        "address": lambda: getattr(ds_module, "Address")("127.0.0.1", 80),
        "state": lambda: getattr(ds_module, "State")({"user": "bob", "_sa": 1}),
    }


OPTIONS: dict[str, dict] = {
    "defaults": {},
    "include_set": {"include": {"itemId", "item_id", "a", "x", "name"}},
    "include_list": {"include": ["item_id", "a", "sub"]},
    "include_dict": {"include": {"sub": {"x"}, "item_id": True, "a": True}},
    "include_empty": {"include": set()},
    "exclude_set": {"exclude": {"name", "b", "_sb", "x"}},
    "exclude_dict": {"exclude": {"sub": {"y"}, "price": True}},
    "exclude_tuple": {"exclude": ("a", "note")},
    "by_alias_false": {"by_alias": False},
    "exclude_unset": {"exclude_unset": True},
    "exclude_defaults": {"exclude_defaults": True},
    "exclude_none": {"exclude_none": True},
    "not_sqlalchemy_safe": {"sqlalchemy_safe": False},
    "custom_decimal": {"custom_encoder": {Decimal: lambda d: f"D{d}"}},
    "custom_subclass": {"custom_encoder": {datetime.date: lambda d: "a date", int: lambda i: -i}},
    "custom_model": {"custom_encoder": {BaseModel: lambda m: "a model", uuid.UUID: lambda u: u.hex}},
    "custom_empty": {"custom_encoder": {}},
    "everything": {"include": {"item_id", "sub", "a", "x"}, "by_alias": False, "exclude_none": True,
                   "exclude_defaults": True, "exclude_unset": True, "sqlalchemy_safe": False,
                   "custom_encoder": {set: sorted}},
}

# values compared under every option set (the options matter for containers and models)
OPTION_VALUES = ["model_alias", "model_by_name", "models_in_list", "models_in_dict", "dataclass", "dataclass_nested",
                 "pydantic_dataclass", "dict_sa_keys", "dict_non_str_keys", "ordered_dict", "object_with_dict",
                 "iterable_of_pairs", "set", "generator", "list_nested", "decimal_frac", "enum_str", "date",
                 "root_model", "model_computed", "none", "uuid", "namedtuple"]


@pytest.mark.parametrize("name", list(VALUES))
def test_value_matches_fastapi(name: str) -> None:
    assert_same(VALUES[name])


@pytest.mark.parametrize("opts", list(OPTIONS))
@pytest.mark.parametrize("name", OPTION_VALUES)
def test_options_match_fastapi(name: str, opts: str) -> None:
    assert_same(VALUES[name], **OPTIONS[opts])


@pytest.mark.parametrize("opts", ["defaults", "include_set", "exclude_set", "exclude_none", "not_sqlalchemy_safe",
                                  "custom_empty"])
@pytest.mark.parametrize("name", list(pairs(starlette.datastructures)))
def test_request_datastructures_match_fastapi(name: str, opts: str) -> None:
    """Our FormData/QueryParams/Headers/UploadFile/State/Address encode as Starlette's do under FastAPI."""
    ours = pairs(fastrapi.datastructures)[name]
    theirs = pairs(starlette.datastructures)[name]
    kw = OPTIONS[opts]
    assert outcome(jsonable_encoder, ours(), kw) == outcome(fastapi_encoder, theirs(), kw)


def test_everything_at_once() -> None:
    """One deep structure holding every value (the errors left out), under each option set."""
    def make():
        out = {}
        for name, fn in VALUES.items():
            if outcome(fastapi_encoder, fn(), {})[0] == "ok":
                out[name] = fn()
        return {"all": out, "as_list": list(out.values())[:40], "nested": [{"deep": out}]}

    for opts in OPTIONS.values():
        assert_same(make, **opts)


def test_expected_shapes() -> None:
    """A few results spelled out, so a change in FastAPI itself shows here too."""
    assert jsonable_encoder(Item(itemId=1)) == {
        "itemId": 1, "name": "thing", "price": "1.50", "tags": [], "note": None, "sub": {"x": 1, "y": None},
        "when": "2024-01-02T03:04:05", "meta": {}}
    assert jsonable_encoder(Item(itemId=1), by_alias=False, include={"item_id"}) == {"item_id": 1}
    assert jsonable_encoder({"a": None, "_sa_x": 1, "b": Decimal("2")}, exclude_none=True) == {"b": 2}
    assert jsonable_encoder(DecimalEnum.PRICE) == Decimal("1.5")  # an enum's value is not encoded further
    assert jsonable_encoder(datetime.timedelta(minutes=1)) == 60.0
    assert jsonable_encoder(Level.HIGH) == 2
    with pytest.raises(ValueError) as info:
        jsonable_encoder(Slotted())
    assert [type(e) for e in info.value.args[0]] == [TypeError, TypeError]
    with pytest.raises(AssertionError):
        jsonable_encoder(Point)
    with pytest.raises(fastrapi.exceptions.FastAPIError, match="pydantic.v1 models are no longer supported"):
        jsonable_encoder(V1Model())


def test_type_table_is_fastapis() -> None:
    """Same types (the stand-in for the optional ``pydantic_extra_types`` Color compared by name)."""
    def names(table):
        return [(t.__qualname__, t.__module__.replace("fastrapi.", "fastapi.")) for t in table]

    assert names(ENCODERS_BY_TYPE) == names(fastapi.encoders.ENCODERS_BY_TYPE)


def test_registered_type_encoder_is_used() -> None:
    """Adding to ``ENCODERS_BY_TYPE`` works for the exact type, as FastAPI documents for its own table."""
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    assert jsonable_encoder({"m": Money(5)}) == {"m": {"cents": 5}}
    ENCODERS_BY_TYPE[Money] = lambda m: f"{m.cents / 100:.2f}"
    try:
        assert jsonable_encoder({"m": Money(5)}) == {"m": "0.05"}
        assert jsonable_encoder([Money(150)], exclude_none=True) == ["1.50"]
    finally:
        del ENCODERS_BY_TYPE[Money]


def test_class_claiming_another_class() -> None:
    """An object whose ``__class__`` says it is a Decimal is encoded as FastAPI's isinstance checks see it."""
    class Fake:
        @property
        def __class__(self):
            return Decimal

        def as_tuple(self):
            return Decimal("1.5").as_tuple()

        def __float__(self):
            return 1.5

    assert_same(Fake)


# ------------------------------------------------------------------------------------------------ end to end

class Kind(enum.Enum):
    A = "a"
    B = 2


class Product(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    product_id: int = Field(alias="productId")
    unit_price: Decimal = Field(alias="unitPrice")
    tags: set[str] = set()
    kind: Kind = Kind.A


@dataclasses.dataclass
class Shipment:
    id: uuid.UUID
    weight: Decimal
    sent: datetime.datetime
    day: datetime.date
    tags: frozenset
    kind: Kind
    items: list


def e2e_values():
    return {
        "id": UID, "ids": [UID, uuid.UUID(int=1)], "price": Decimal("12.50"), "count": Decimal("3"),
        "when": datetime.datetime(2024, 3, 4, 5, 6, 7, 890000), "when_tz": datetime.datetime(2024, 3, 4, tzinfo=TZ),
        "day": datetime.date(2024, 3, 4), "at": datetime.time(1, 2, 3), "took": datetime.timedelta(hours=1),
        "set": {3, 1, 2}, "frozen": frozenset({"x"}), "kinds": [Kind.A, Kind.B], "level": Level.LOW,
        "path": pathlib.PurePosixPath("/a/b"), "ip": ipaddress.IPv4Address("1.2.3.4"), "bytes": b"raw",
        "secret": SecretStr("s"), "url": AnyUrl("https://x.org/"),
        "product": Product(productId=7, unitPrice=Decimal("1.25"), tags={"t"}),
        "products": [Product(productId=8, unitPrice=Decimal("2"), kind=Kind.B)],
        "nested": {"deep": {"d": Decimal("0.1"), "s": {Decimal("1")}}},
        "none": None,
    }


def make_app(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.get("/dict")
    def as_dict():
        return e2e_values()

    @app.get("/dataclass")
    async def as_dataclass():
        return Shipment(UID, Decimal("2.500"), datetime.datetime(2024, 1, 1, 12), datetime.date(2024, 1, 2),
                        frozenset({"fragile"}), Kind.B, [Decimal("1"), {"a": Decimal("1.1")}])

    @app.get("/model")
    async def as_model():
        return Product(productId=1, unitPrice=Decimal("9.90"))

    @app.get("/list")
    async def as_list():
        return [Product(productId=2, unitPrice=Decimal("1")), {"u": UID}, (1, Decimal("2")), {Kind.A}]

    @app.get("/set")
    async def as_set():
        return {Decimal("1.5"), Decimal("2")}

    @app.get("/decimal")
    async def as_decimal():
        return Decimal("4.20")

    @app.get("/encoded")
    async def encoded():
        # the handler calls the encoder itself (FastAPI's documented use) with options
        values = {**e2e_values(), "_sa_hidden": "dropped (sqlalchemy_safe)", "plain": Plain()}
        return fw.encoders.jsonable_encoder(values, exclude_none=True, custom_encoder={Decimal: str})

    @app.post("/form")
    async def form(request: fw.Request):
        return await request.form()

    @app.post("/upload")
    async def upload(f: fw.UploadFile):
        return {"file": f, "name": f.filename}

    return app


E2E_REQUESTS = [("GET", "/dict", {}), ("GET", "/dataclass", {}), ("GET", "/model", {}), ("GET", "/list", {}),
                ("GET", "/set", {}), ("GET", "/decimal", {}), ("GET", "/encoded", {}),
                ("POST", "/form", {"data": {"a": "1", "b": "2"}}),
                ("POST", "/form", {"data": {"a": "1"}, "files": {"up": ("u.txt", b"", "text/plain")}}),
                ("POST", "/upload", {"files": {"f": ("u.txt", b"hello", "text/plain")}}),
                ("POST", "/upload", {"files": {"f": ("u.txt", b"", "text/plain")}})]


def test_end_to_end_same_json_as_fastapi(serve: Any) -> None:
    with TestClient(make_app(fastapi)) as client:
        expected = [client.request(m, u, **kw) for m, u, kw in E2E_REQUESTS]
    srv = serve(make_app(fastrapi))
    with httpx.Client(base_url=srv.url) as client:
        actual = [client.request(m, u, **kw) for m, u, kw in E2E_REQUESTS]
    for (method, url, _), want, got in zip(E2E_REQUESTS, expected, actual):
        assert want.status_code == 200, (url, want.text)
        assert (got.status_code, got.headers["content-type"]) == (want.status_code, want.headers["content-type"])
        assert got.json() == want.json(), (method, url)
