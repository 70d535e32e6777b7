"""Form fields and file uploads: ``Form()``, ``File()``, ``UploadFile``, form models and ``request.form()``.

The same app runs through FastAPI's TestClient and through our server; each case compares status and JSON
body. Then what only our server can show: large uploads spooled to disk, files closed after the response,
and the parsing limits over a real socket.
"""

import hashlib
import random
import time
from typing import Annotated

import httpx
import pytest
from pydantic import BaseModel

import fastrapi
from fastrapi.server import Server

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

MiB = 1024 * 1024


class Person(BaseModel):
    name: str
    age: int = 0
    tags: list[str] = []
    nick: str | None = None


class Strict(BaseModel):
    model_config = {"extra": "forbid"}
    a: str
    b: int = 1


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _describe(value):
    """A form value as JSON: a string as is, a file by its metadata."""
    if isinstance(value, str):
        return value
    return {"filename": value.filename, "size": value.size, "content_type": value.content_type}


async def _info(f) -> dict:
    data = await f.read()
    return {
        "filename": f.filename, "content_type": f.content_type, "size": f.size, "len": len(data),
        "md5": _md5(data), "headers": dict(f.headers), "type": type(f).__name__,
    }


def make_app(fw):
    """The same routes for ``fw`` = the fastapi or the fastrapi module."""
    app = fw.FastAPI()
    Form, File, UploadFile, Depends, Request = fw.Form, fw.File, fw.UploadFile, fw.Depends, fw.Request

    @app.post("/basic")
    async def basic(username: str = Form(), age: int = Form(), active: bool = Form(False), score: float = Form(1.5)):
        return {"username": username, "age": age, "active": active, "score": score}

    @app.post("/constrained")
    async def constrained(code: Annotated[str, Form(min_length=3, max_length=5, pattern="^[a-z]+$")],
                          n: Annotated[int, Form(gt=0, le=10)] = 5):
        return {"code": code, "n": n}

    @app.post("/defaults")
    async def defaults(note: str = Form("none"), opt: str | None = Form(None), num: int | None = Form(None)):
        return {"note": note, "opt": opt, "num": num}

    @app.post("/lists")
    async def lists(tags: list[str] = Form(), nums: list[int] = Form([])):
        return {"tags": tags, "nums": nums}

    @app.post("/alias")
    async def alias(item_name: str = Form(alias="item-name"), qty: Annotated[int, Form(alias="q")] = 1):
        return {"item_name": item_name, "qty": qty}

    @app.post("/model")
    async def model(person: Annotated[Person, Form()]):
        return person.model_dump()

    @app.post("/model-strict")
    async def model_strict(data: Annotated[Strict, Form()]):
        return data.model_dump()

    @app.post("/upload")
    async def upload(file: UploadFile):
        return await _info(file)

    @app.post("/upload-declared")
    async def upload_declared(file: Annotated[UploadFile, File(description="a file")], note: str = Form("")):
        return {"file": await _info(file), "note": note}

    @app.post("/bytes")
    async def raw_bytes(raw: bytes = File()):
        return {"len": len(raw), "md5": _md5(raw)}

    @app.post("/files")
    async def files(files: list[UploadFile]):
        return [await _info(f) for f in files]

    @app.post("/files-bytes")
    async def files_bytes(files: list[bytes] = File()):
        return [{"len": len(b), "md5": _md5(b)} for b in files]

    @app.post("/optional-file")
    async def optional_file(file: UploadFile | None = None):
        return None if file is None else await _info(file)

    @app.post("/optional-file-form")
    async def optional_file_form(file: Annotated[UploadFile | None, File()] = None, note: str = Form("-")):
        return {"file": None if file is None else await _info(file), "note": note}

    @app.post("/mixed")
    async def mixed(title: str = Form(), file: UploadFile = File(), tags: list[str] = Form([])):
        return {"title": title, "file": await _info(file), "tags": tags}

    def get_user(token: str = Form()):
        return token.upper()

    @app.post("/dep")
    async def dep(user: str = Depends(get_user), text: str = Form()):
        return {"user": user, "text": text}

    @app.post("/sync-upload")
    def sync_upload(file: UploadFile, note: str = Form("")):
        data = file.file.read()
        return {"filename": file.filename, "len": len(data), "md5": _md5(data), "note": note}

    @app.post("/big")
    async def big(file: UploadFile):
        rolled = file.file._rolled
        h = hashlib.md5()
        total = 0
        while chunk := await file.read(65536):
            h.update(chunk)
            total += len(chunk)
        return {"rolled": rolled, "md5": h.hexdigest(), "len": total, "size": file.size}

    @app.post("/raw-form")
    async def raw_form(request: Request):
        form = await request.form()
        return {
            "items": [[k, _describe(v)] for k, v in form.multi_items()],
            "a": [_describe(v) for v in form.getlist("a")], "keys": sorted(form.keys()), "len": len(form),
            "last_a": _describe(form.get("a", "")), "missing": form.get("zzz", "default"),
        }

    @app.post("/form-ctx")
    async def form_ctx(request: Request):
        async with request.form() as form:
            uploads = [v for _, v in form.multi_items() if not isinstance(v, str)]
            inside = [f.file.closed for f in uploads]
            first = (await uploads[0].read()).decode() if uploads else None
        return {"inside": inside, "after": [f.file.closed for f in uploads], "first": first}

    @app.post("/limited")
    async def limited(request: Request):
        q = request.query_params
        form = await request.form(
            max_files=int(q.get("max_files", 1000)), max_fields=int(q.get("max_fields", 1000)),
            max_part_size=int(q.get("max_part_size", MiB)),
        )
        return {"n": len(form.multi_items())}

    return app


# ----------------------------------------------------------------------------------------- request builders


def multipart(parts: list[tuple[list[tuple[str, str]], bytes]], boundary: str = "b0undary") -> dict:
    """An httpx request kwargs dict with a hand-built multipart body: ``parts`` is (headers, body) each."""
    out = bytearray()
    for headers, body in parts:
        out += f"--{boundary}\r\n".encode()
        for name, value in headers:
            out += f"{name}: {value}\r\n".encode("utf-8")
        out += b"\r\n" + body + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return {"content": bytes(out), "headers": {"content-type": f"multipart/form-data; boundary={boundary}"}}


def field(name: str, value: str) -> tuple[list[tuple[str, str]], bytes]:
    return [("Content-Disposition", f'form-data; name="{name}"')], value.encode()


def filepart(name: str, filename: str, content: bytes, ctype: str = "text/plain", extra=()):
    headers = [("Content-Disposition", f'form-data; name="{name}"; filename="{filename}"'), ("Content-Type", ctype)]
    return headers + list(extra), content


def mp_fields(*pairs: tuple[str, str]) -> dict:
    """Only text fields, but sent as multipart/form-data (httpx: ``files=`` with no filename)."""
    return {"files": [(k, (None, v)) for k, v in pairs]}


# (id, path, httpx request kwargs)
CASES: list[tuple[str, str, dict]] = [
    # Form params: types, urlencoded vs multipart
    ("basic-urlencoded", "/basic", {"data": {"username": "bob", "age": "42", "active": "true", "score": "2.5"}}),
    ("basic-multipart", "/basic", mp_fields(("username", "bob"), ("age", "42"), ("active", "on"))),
    ("basic-defaults", "/basic", {"data": {"username": "bob", "age": "1"}}),
    ("basic-non-ascii", "/basic", {"data": {"username": "zoë ☃ & co=1+2", "age": "7"}}),
    ("basic-non-ascii-multipart", "/basic", mp_fields(("username", "zoë ☃"), ("age", "7"))),
    ("basic-bad-int", "/basic", {"data": {"username": "bob", "age": "x", "score": "nan?"}}),
    ("basic-bad-bool", "/basic", {"data": {"username": "bob", "age": "1", "active": "maybe"}}),
    ("basic-missing-all", "/basic", {"data": {}}),
    ("basic-no-body", "/basic", {}),
    ("basic-json-body", "/basic", {"json": {"username": "bob", "age": 1}}),
    ("basic-text-body", "/basic", {"content": b"username=bob&age=1", "headers": {"content-type": "text/plain"}}),
    ("basic-empty-username", "/basic", {"data": {"username": "", "age": "3"}}),
    ("basic-empty-multipart", "/basic", mp_fields(("username", ""), ("age", ""))),
    ("basic-repeated-last-wins", "/basic", {"data": {"username": ["a", "b"], "age": "1"}}),
    ("basic-extra-fields", "/basic", {"data": {"username": "u", "age": "1", "other": "x"}}),
    ("basic-urlencoded-plus", "/basic", {"content": b"username=a+b%20c&age=%34", "headers": {
        "content-type": "application/x-www-form-urlencoded"}}),
    ("basic-urlencoded-charset", "/basic", {"content": b"username=x&age=3", "headers": {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8"}}),
    # constraints
    ("constrained-ok", "/constrained", {"data": {"code": "abcd", "n": "10"}}),
    ("constrained-short", "/constrained", {"data": {"code": "ab"}}),
    ("constrained-long", "/constrained", {"data": {"code": "abcdef", "n": "0"}}),
    ("constrained-pattern", "/constrained", {"data": {"code": "AB1", "n": "11"}}),
    ("constrained-multipart", "/constrained", mp_fields(("code", "xyz"), ("n", "3"))),
    # defaults and optional fields
    ("defaults-none", "/defaults", {"data": {}}),
    ("defaults-given", "/defaults", {"data": {"note": "n", "opt": "o", "num": "3"}}),
    ("defaults-empty", "/defaults", {"data": {"note": "", "opt": "", "num": ""}}),
    ("defaults-bad-num", "/defaults", {"data": {"num": "abc"}}),
    # lists
    ("lists-urlencoded", "/lists", {"data": {"tags": ["a", "b", "c"], "nums": ["1", "2"]}}),
    ("lists-multipart", "/lists", mp_fields(("tags", "x"), ("nums", "5"), ("tags", "y"))),
    ("lists-one", "/lists", {"data": {"tags": "only"}}),
    ("lists-missing", "/lists", {"data": {"nums": "1"}}),
    ("lists-bad-item", "/lists", {"data": {"tags": "a", "nums": ["1", "x", "3"]}}),
    ("lists-empty-item", "/lists", {"data": {"tags": ["", "a"]}}),
    # aliases
    ("alias-ok", "/alias", {"data": {"item-name": "pen", "q": "3"}}),
    ("alias-python-name", "/alias", {"data": {"item_name": "pen", "qty": "3"}}),
    ("alias-bad", "/alias", {"data": {"item-name": "pen", "q": "many"}}),
    # form models
    ("model-ok", "/model", {"data": {"name": "ann", "age": "30", "tags": ["x", "y"], "nick": "a"}}),
    ("model-multipart", "/model", mp_fields(("name", "ann"), ("tags", "t1"), ("tags", "t2"))),
    ("model-defaults", "/model", {"data": {"name": "ann"}}),
    ("model-missing", "/model", {"data": {"age": "3"}}),
    ("model-bad-age", "/model", {"data": {"name": "ann", "age": "old"}}),
    ("model-empty-name", "/model", {"data": {"name": "", "nick": ""}}),
    ("model-extra-ignored", "/model", {"data": {"name": "ann", "zzz": "1"}}),
    ("model-json-body", "/model", {"json": {"name": "ann"}}),
    ("model-strict-ok", "/model-strict", {"data": {"a": "x", "b": "2"}}),
    ("model-strict-extra", "/model-strict", {"data": {"a": "x", "c": "3"}}),
    # UploadFile
    ("upload", "/upload", {"files": {"file": ("hello.txt", b"hello world", "text/plain")}}),
    ("upload-no-content-type", "/upload", multipart([(
        [("Content-Disposition", 'form-data; name="file"; filename="a.bin"')], b"\x00\x01\x02")])),
    ("upload-non-ascii-name", "/upload", {"files": {"file": ("résumé ☃.txt", "é".encode(), "text/plain")}}),
    ("upload-non-ascii-raw", "/upload", multipart([filepart("file", "naïve-日本.txt", b"x")])),
    ("upload-rfc2231-name", "/upload", multipart([(
        [("Content-Disposition", "form-data; name=\"file\"; filename*=utf-8''%E2%82%AC.txt")], b"euro")])),
    ("upload-extra-headers", "/upload", multipart([filepart(
        "file", "h.json", b'{"a":1}', "application/json", [("X-Custom", "yes"), ("Content-Language", "en")])])),
    ("upload-empty-content", "/upload", {"files": {"file": ("empty.txt", b"", "text/plain")}}),
    ("upload-empty-filename", "/upload", {"files": {"file": ("", b"data", "text/plain")}}),
    ("upload-crlf-content", "/upload", {"files": {"file": ("c.txt", b"a\r\n--b0undary\r\nb\r\n\r\n", "text/plain")}}),
    ("upload-missing", "/upload", {"files": {"other": ("o.txt", b"x")}}),
    ("upload-string-given", "/upload", mp_fields(("file", "just text"))),
    ("upload-urlencoded", "/upload", {"data": {"file": "x"}}),
    ("upload-no-body", "/upload", {}),
    ("upload-declared", "/upload-declared", {"files": {"file": ("d.csv", b"1,2\n", "text/csv")}, "data": {"note": "n"}}),
    ("upload-declared-missing", "/upload-declared", {"data": {"note": "n"}}),
    # bytes File()
    ("bytes", "/bytes", {"files": {"raw": ("r.bin", bytes(range(256)) * 10, "application/octet-stream")}}),
    ("bytes-as-field", "/bytes", mp_fields(("raw", "abc"))),
    ("bytes-missing", "/bytes", {"files": {"nope": ("r.bin", b"x")}}),
    # several files
    ("files", "/files", {"files": [("files", ("a.txt", b"aaa", "text/plain")),
                                   ("files", ("b.png", b"\x89PNG", "image/png"))]}),
    ("files-one", "/files", {"files": [("files", ("a.txt", b"aaa", "text/plain"))]}),
    ("files-missing", "/files", {"files": [("x", ("a.txt", b"aaa"))]}),
    ("files-with-string", "/files", {"files": [("files", ("a.txt", b"aaa")), ("files", (None, "str"))]}),
    ("files-bytes", "/files-bytes", {"files": [("files", ("a", b"1")), ("files", ("b", b"22"))]}),
    ("files-bytes-missing", "/files-bytes", {"data": {"q": "1"}}),
    # Optional files
    ("optional-file-none", "/optional-file", {"data": {"x": "1"}}),
    ("optional-file-no-body", "/optional-file", {}),
    ("optional-file-given", "/optional-file", {"files": {"file": ("o.txt", b"opt")}}),
    ("optional-file-form-none", "/optional-file-form", mp_fields(("note", "n"))),
    ("optional-file-form-given", "/optional-file-form", {"files": {"file": ("o.txt", b"opt")}}),
    # fields + files
    ("mixed", "/mixed", {"data": {"title": "t", "tags": ["a", "b"]}, "files": {"file": ("m.txt", b"mm")}}),
    ("mixed-missing-both", "/mixed", {"data": {"tags": ["a"]}}),
    ("mixed-empty-title", "/mixed", {"data": {"title": ""}, "files": {"file": ("m.txt", b"mm")}}),
    # Depends + Form
    ("dep", "/dep", {"data": {"token": "abc", "text": "hi"}}),
    ("dep-multipart", "/dep", mp_fields(("token", "abc"), ("text", "hi"))),
    ("dep-missing", "/dep", {"data": {"text": "hi"}}),
    ("dep-missing-all", "/dep", {"data": {}}),
    # sync handler
    ("sync-upload", "/sync-upload", {"files": {"file": ("s.txt", b"sync data")}, "data": {"note": "n"}}),
    ("sync-upload-missing", "/sync-upload", {"data": {"note": "n"}}),
    # request.form()
    ("raw-form-urlencoded", "/raw-form", {"data": {"a": ["1", "2"], "b": "3"}}),
    ("raw-form-multipart", "/raw-form", {"data": {"a": ["x", "y"]}, "files": [("f", ("f.txt", b"ff", "text/plain")),
                                                                               ("a", ("a.bin", b"aa", "x/y"))]}),
    ("raw-form-empty-values", "/raw-form", {"content": b"a=&b&=c&a=1", "headers": {
        "content-type": "application/x-www-form-urlencoded"}}),
    ("raw-form-json", "/raw-form", {"json": {"a": 1}}),
    ("raw-form-no-body", "/raw-form", {}),
    ("raw-form-latin1-charset", "/raw-form", {
        "content": b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\ncaf\xe9\r\n--xx--\r\n',
        "headers": {"content-type": "multipart/form-data; charset=latin-1; boundary=xx"}}),
    ("raw-form-bad-charset", "/raw-form", {
        "content": b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\ncaf\xe9\r\n--xx--\r\n',
        "headers": {"content-type": "multipart/form-data; charset=nope; boundary=xx"}}),
    ("raw-form-invalid-utf8", "/raw-form", {
        "content": b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\xfe\r\n--xx--\r\n',
        "headers": {"content-type": "multipart/form-data; boundary=xx"}}),
    ("raw-form-quoted-boundary", "/raw-form", {
        "content": b'--a b\r\nContent-Disposition: form-data; name="a"\r\n\r\nq\r\n--a b--\r\n',
        "headers": {"content-type": 'multipart/form-data; boundary="a b"'}}),
    ("form-ctx", "/form-ctx", {"files": [("f", ("f.txt", b"first", "text/plain")), ("g", ("g.txt", b"g"))]}),
    ("form-ctx-no-files", "/form-ctx", {"data": {"x": "1"}}),
    # limits and broken bodies (400 + {"detail": message})
    ("limit-files", "/limited?max_files=2", {"files": [("f", (f"{i}.txt", b"x")) for i in range(3)]}),
    ("limit-files-ok", "/limited?max_files=3", {"files": [("f", (f"{i}.txt", b"x")) for i in range(3)]}),
    ("limit-fields-multipart", "/limited?max_fields=2", mp_fields(("a", "1"), ("b", "2"), ("c", "3"))),
    ("limit-fields-urlencoded", "/limited?max_fields=2", {"data": {"a": "1", "b": "2", "c": "3"}}),
    ("limit-fields-ok", "/limited?max_fields=3", {"data": {"a": "1", "b": "2", "c": "3"}}),
    ("limit-fields-files-separate", "/limited?max_fields=1&max_files=1",
     {"data": {"a": "1"}, "files": {"f": ("f.txt", b"x")}}),
    ("limit-part-size", "/limited?max_part_size=10", mp_fields(("a", "x" * 11))),
    ("limit-part-size-ok", "/limited?max_part_size=10", mp_fields(("a", "x" * 10))),
    ("limit-part-size-file-exempt", "/limited?max_part_size=10", {"files": {"f": ("f.txt", b"x" * 1000)}}),
    ("limit-part-size-urlencoded", "/limited?max_part_size=10", {"data": {"a": "x" * 11}}),
    ("limit-default-fields-multipart", "/basic", mp_fields(*[(f"k{i}", "v") for i in range(1001)])),
    ("limit-default-fields-urlencoded", "/basic", {"data": {f"k{i}": "v" for i in range(1001)}}),
    ("limit-default-files", "/files", {"files": [("files", (f"{i}", b"")) for i in range(1001)]}),
    ("limit-default-part-size", "/basic", mp_fields(("username", "u" * (MiB + 1)), ("age", "1"))),
    ("limit-default-part-size-ok", "/basic", mp_fields(("username", "u" * MiB), ("age", "1"))),
    ("limit-default-field-size-urlencoded", "/basic", {"data": {"username": "u" * (MiB + 1), "age": "1"}}),
    ("missing-boundary", "/basic", {"content": b"--x\r\n\r\n", "headers": {"content-type": "multipart/form-data"}}),
    ("missing-boundary-raw-form", "/raw-form", {"content": b"", "headers": {"content-type": "multipart/form-data"}}),
    ("invalid-multipart", "/raw-form", {"content": b"garbage\r\n--zz\r\nno-colon-here\r\n\r\nx\r\n--zz--\r\n",
                                        "headers": {"content-type": "multipart/form-data; boundary=zz"}}),
    ("no-name", "/raw-form", multipart([([("Content-Disposition", 'form-data; filename="a.txt"')], b"x")])),
    ("no-content-disposition", "/raw-form", multipart([([("Content-Type", "text/plain")], b"x")])),
    ("truncated", "/raw-form", {"content": b'--zz\r\nContent-Disposition: form-data; name="a"\r\n\r\nhal',
                                "headers": {"content-type": "multipart/form-data; boundary=zz"}}),
    ("no-parts", "/raw-form", {"content": b"--zz--\r\n", "headers": {"content-type": "multipart/form-data; boundary=zz"}}),
]


def _serve_module(app) -> Server:
    return Server(app, host="127.0.0.1", port=0).start_in_thread()


@pytest.fixture(scope="module")
def fa_client():
    with TestClient(make_app(fastapi), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def our_client():
    srv = _serve_module(make_app(fastrapi))
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        yield client
    srv.stop()


def _summary(r: httpx.Response):
    try:
        body = r.json()
    except ValueError:
        body = r.text
    return r.status_code, body


@pytest.mark.parametrize("path,kwargs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_same_as_fastapi(fa_client, our_client, path, kwargs):
    expected = _summary(fa_client.post(path, **kwargs))
    actual = _summary(our_client.post(path, **kwargs))
    assert actual == expected


def test_some_cases_mean_what_they_say(our_client):
    """Spot checks that the matrix exercises what it claims (not only 'same as FastAPI')."""
    r = our_client.post("/basic", data={"username": "", "age": "3"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "username"]
    assert r.json()["detail"][0]["type"] == "missing"
    r = our_client.post("/limited?max_files=2", files=[("f", (f"{i}.txt", b"x")) for i in range(3)])
    assert r.status_code == 400
    assert r.json() == {"detail": "Too many files. Maximum number of files is 2."}
    r = our_client.post("/basic", **mp_fields(("username", "u" * (MiB + 1)), ("age", "1")))
    assert r.json() == {"detail": "Part exceeded maximum size of 1024KB."}
    r = our_client.post("/basic", content=b"x", headers={"content-type": "multipart/form-data"})
    assert r.status_code == 400 and r.json() == {"detail": "Missing boundary in multipart."}
    r = our_client.post("/upload", files={"file": ("résumé ☃.txt", b"abc", "text/plain")})
    assert r.status_code == 200
    assert r.json()["filename"] == "résumé ☃.txt" and r.json()["size"] == 3
    assert r.json()["content_type"] == "text/plain"
    assert r.json()["type"] == "UploadFile"


# ----------------------------------------------------------------------------------------- big uploads


def test_big_upload_spools_to_disk_same_as_fastapi(fa_client, our_client):
    data = random.Random(5).randbytes(5 * MiB + 123)
    kwargs = {"files": {"file": ("big.bin", data, "application/octet-stream")}}
    actual = our_client.post("/big", **kwargs)
    assert actual.status_code == 200
    assert actual.json() == {"rolled": True, "md5": _md5(data), "len": len(data), "size": len(data)}
    assert _summary(fa_client.post("/big", **kwargs)) == _summary(actual)


def test_small_upload_stays_in_memory(serve):
    app = fastrapi.FastAPI()

    @app.post("/f")
    async def f(file: fastrapi.UploadFile):
        return {"rolled": file.file._rolled, "data": (await file.read()).decode()}

    srv = serve(app)
    r = httpx.post(srv.url + "/f", files={"file": ("s.txt", b"small")})
    assert r.json() == {"rolled": False, "data": "small"}


def test_big_upload_with_fields_and_several_files(serve):
    """Fields before, between and after two multi-MiB files, sent chunked (no Content-Length)."""
    app = fastrapi.FastAPI()

    @app.post("/up")
    async def up(a: str = fastrapi.Form(), files: list[fastrapi.UploadFile] = fastrapi.File(),
                 b: str = fastrapi.Form(), c: list[int] = fastrapi.Form()):
        out = []
        for f in files:
            out.append({"name": f.filename, "md5": _md5(await f.read()), "size": f.size, "rolled": f.file._rolled})
        return {"a": a, "b": b, "c": c, "files": out}

    srv = serve(app)
    rnd = random.Random(7)
    d1, d2 = rnd.randbytes(3 * MiB), rnd.randbytes(2 * MiB + 5)
    req = multipart([field("a", "A"), filepart("files", "one.bin", d1), field("c", "1"),
                     filepart("files", "two.bin", d2), field("b", "B"), field("c", "2")])
    body = req["content"]

    def gen():
        for i in range(0, len(body), 100_000):
            yield body[i:i + 100_000]

    r = httpx.post(srv.url + "/up", content=gen(), headers=req["headers"], timeout=30)
    assert r.status_code == 200, r.text
    assert r.json() == {"a": "A", "b": "B", "c": [1, 2], "files": [
        {"name": "one.bin", "md5": _md5(d1), "size": len(d1), "rolled": True},
        {"name": "two.bin", "md5": _md5(d2), "size": len(d2), "rolled": True},
    ]}


def test_sync_handler_reads_big_upload(serve):
    app = fastrapi.FastAPI()

    @app.post("/s")
    def s(file: fastrapi.UploadFile, raw: bytes = fastrapi.File()):
        data = file.file.read()
        return {"md5": _md5(data), "raw": _md5(raw), "rolled": file.file._rolled}

    srv = serve(app)
    data = random.Random(3).randbytes(2 * MiB)
    r = httpx.post(srv.url + "/s", files={"file": ("a.bin", data), "raw": ("r.bin", data[:1000])}, timeout=30)
    assert r.json() == {"md5": _md5(data), "raw": _md5(data[:1000]), "rolled": True}


# ----------------------------------------------------------------------------------------- file lifetime


def test_form_files_closed_after_response(serve):
    kept: list = []
    app = fastrapi.FastAPI()

    @app.post("/keep")
    async def keep(file: fastrapi.UploadFile, other: fastrapi.UploadFile | None = None):
        kept.extend(f for f in (file, other) if f is not None)
        return {"closed": [f.file.closed for f in kept]}

    @app.post("/keep-form")
    async def keep_form(request: fastrapi.Request):
        form = await request.form()
        kept.extend(v for _, v in form.multi_items() if not isinstance(v, str))
        return {"closed": [f.file.closed for f in kept]}

    srv = serve(app)
    big = b"z" * (2 * MiB)
    r = httpx.post(srv.url + "/keep", files={"file": ("a", b"small"), "other": ("b", big)}, timeout=30)
    assert r.json() == {"closed": [False, False]}
    r = httpx.post(srv.url + "/keep-form", files={"f": ("c", b"c")}, timeout=30)
    assert r.json()["closed"][-1] is False
    deadline = time.monotonic() + 3
    while not all(f.file.closed for f in kept) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [f.file.closed for f in kept] == [True, True, True]


def test_async_with_form_closes_files_and_limits(serve):
    app = fastrapi.FastAPI()

    @app.post("/ctx")
    async def ctx(request: fastrapi.Request):
        async with request.form(max_files=1, max_fields=2) as form:
            f = form["f"]
            content = await f.read()
            inside = f.file.closed
        return {"content": content.decode(), "inside": inside, "after": f.file.closed,
                "fields": form.getlist("x"), "items": [[k, _describe(v)] for k, v in form.multi_items()]}

    srv = serve(app)
    r = httpx.post(srv.url + "/ctx", data={"x": ["1", "2"]}, files={"f": ("f.txt", b"hello", "text/plain")})
    assert r.status_code == 200
    assert r.json() == {"content": "hello", "inside": False, "after": True, "fields": ["1", "2"], "items": [
        ["x", "1"], ["x", "2"], ["f", {"filename": "f.txt", "size": 5, "content_type": "text/plain"}]]}
    r = httpx.post(srv.url + "/ctx", files=[("f", ("1", b"1")), ("f", ("2", b"2"))])
    assert r.status_code == 400 and r.json() == {"detail": "Too many files. Maximum number of files is 1."}
    r = httpx.post(srv.url + "/ctx", data={"x": ["1", "2", "3"]}, files={"f": ("f.txt", b"hello")})
    assert r.status_code == 400 and r.json() == {"detail": "Too many fields. Maximum number of fields is 2."}


def test_form_read_twice_returns_same_form(serve):
    """``request.form()`` again (e.g. a dependency and the handler) gives the parsed form, not an error."""
    app = fastrapi.FastAPI()

    async def first_field(request: fastrapi.Request):
        return (await request.form())["a"]

    @app.post("/twice")
    async def twice(request: fastrapi.Request, a0: str = fastrapi.Depends(first_field), a: str = fastrapi.Form()):
        form = await request.form()
        return {"a0": a0, "a": a, "again": form["a"], "same": form is await request.form()}

    srv = serve(app)
    big = "v" * 200_000  # streamed body (over 64 KiB)
    for value in ("small", big):
        r = httpx.post(srv.url + "/twice", data={"a": value})
        assert r.json() == {"a0": value, "a": value, "again": value, "same": True}


def test_upload_server_keeps_serving_after_limit_errors(serve):
    """A 400 for a broken form in the middle of a big body: the answer arrives, and the server serves on."""
    app = fastrapi.FastAPI()

    @app.post("/f")
    async def f(x: str = fastrapi.Form()):
        return {"x": len(x)}

    @app.get("/ping")
    async def ping():
        return {"ok": True}

    srv = serve(app)
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        r = client.post("/f", **mp_fields(("x", "y" * (3 * MiB))))
        assert r.status_code == 400 and r.json() == {"detail": "Part exceeded maximum size of 1024KB."}
        assert client.get("/ping").json() == {"ok": True}
        r = client.post("/f", data={"x": "ok"})
        assert r.json() == {"x": 2}
