"""Path operations that ``yield``: their items streamed as JSON Lines, Server-Sent Events or raw chunks.

As FastAPI decides it when the route is declared: a generator (``def`` or ``async def`` with ``yield``)
streams JSON Lines (``application/jsonl``) unless it declares a ``response_class``; with
``EventSourceResponse`` (or a subclass) it streams events; with any other class (``StreamingResponse``...)
its chunks go to that class as they are. The item type of an ``AsyncIterable[Item]``/``Iterable[Item]``
return annotation validates and serializes each item (and documents it as the OpenAPI ``itemSchema``).

Everything here is built once per route; the server's ``StreamingResponse`` writer does the rest (chunked
encoding, flow control, stopping on disconnect). However a stream ends (exhausted, client gone, error),
the path operation's generator is closed, so its ``finally`` runs.
"""
from __future__ import annotations

import asyncio
import collections.abc
import functools
import inspect
import json
import logging
import math
import threading
import typing
from typing import Any, AsyncIterator, Callable, Iterator

from pydantic import TypeAdapter

from .concurrency import ReadAhead, run_in_threadpool
from .datastructures import DefaultPlaceholder
from .exceptions import ResponseValidationError
from . import sse
from .sse import EventSourceResponse, ServerSentEvent, format_sse_event

logger = logging.getLogger("fastrapi.error")

JSONL = "jsonl"
SSE = "sse"
RAW = "raw"

#: return annotations whose argument is the type of each streamed item
_STREAM_ORIGINS = frozenset({
    collections.abc.AsyncIterable, collections.abc.AsyncIterator, collections.abc.AsyncGenerator,
    collections.abc.Iterable, collections.abc.Iterator, collections.abc.Generator,
})


def _is_gen(call: Any, check: Callable[[Any], bool]) -> bool:
    if check(call):
        return True
    if inspect.isclass(call):
        return False
    return check(getattr(call, "__call__", None))


def is_async_generator_function(call: Any) -> bool:
    return _is_gen(call, inspect.isasyncgenfunction)


def is_generator_function(call: Any) -> bool:
    """True for a function (or callable object) whose body ``yield``s, sync or async."""
    return _is_gen(call, inspect.isasyncgenfunction) or _is_gen(call, inspect.isgeneratorfunction)


def stream_kind(endpoint: Any, response_class: Any) -> str | None:
    """``JSONL``, ``SSE`` or ``RAW`` for a generator path operation (by its ``response_class``), else None."""
    if not is_generator_function(endpoint):
        return None
    if isinstance(response_class, DefaultPlaceholder):
        return JSONL
    if isinstance(response_class, type) and issubclass(response_class, EventSourceResponse):
        return SSE
    return RAW


def stream_item_type(annotation: Any) -> Any:
    """``Item`` for ``AsyncIterable[Item]``, ``Iterator[Item]``...; ``Any`` for a bare one; else None."""
    if typing.get_origin(annotation) not in _STREAM_ORIGINS:
        return None
    args = typing.get_args(annotation)
    return args[0] if args else Any


def stream_response_model(annotation: Any, kind: str) -> tuple[Any, Any]:
    """(response_model, item type) of a generator path operation without an explicit ``response_model``,
    from its return annotation: a stream annotation gives no response model, and its item type for JSON
    Lines and events (not for ``ServerSentEvent``, a transport wrapper rather than data)."""
    item = stream_item_type(annotation)
    if item is None:
        return annotation, None
    if kind == RAW or (isinstance(item, type) and issubclass(item, ServerSentEvent)):
        return None, None
    return None, item


# ---------------------------------------------------------------- items -> bytes
def _finite(data: Any) -> Any:
    """NaN and infinities (not JSON) as null, at any depth of JSON-ready data."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_finite(value) for value in data]
    return data


def _plain_json(data: Any) -> bytes:
    """An item without a declared type: JSON as FastAPI writes it then (the standard library's layout)."""
    from .encoders import jsonable_encoder

    return json.dumps(_finite(jsonable_encoder(data))).encode("utf-8")


def item_encoder(item_type: Any, dump_options: dict[str, Any]) -> Callable[[Any], bytes]:
    """Item -> JSON bytes: validated against ``item_type`` and dumped with the route's ``response_model_*``
    options, or (no item type) encoded as it is. An invalid item raises ResponseValidationError."""
    if item_type is None:
        return _plain_json
    adapter = TypeAdapter(item_type)
    validate = adapter.validator.validate_python
    dump = functools.partial(adapter.serializer.to_json, **dump_options)

    def encode(item: Any) -> bytes:
        try:
            value = validate(item, from_attributes=True)
        except Exception as exc:
            errors = exc.errors(include_url=False) if hasattr(exc, "errors") else [{"msg": str(exc)}]
            raise ResponseValidationError([{**e, "loc": ("response", *e.get("loc", ()))} for e in errors]) from None
        return dump(value)

    return encode


def jsonl_encoder(encode: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    def line(item: Any) -> bytes:
        return encode(item) + b"\n"

    return line


def sse_encoder(encode: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    """Item -> one event: a ``ServerSentEvent`` with its fields (its ``data`` as JSON, ``raw_data`` as it
    is), anything else as the JSON ``data`` of an event."""

    def event(item: Any) -> bytes:
        if isinstance(item, ServerSentEvent):
            if item.raw_data is not None:
                data: str | None = item.raw_data
            elif item.data is not None:
                if hasattr(item.data, "model_dump_json"):
                    data = item.data.model_dump_json()
                else:
                    data = _plain_json(item.data).decode("utf-8")
            else:
                data = None
            return format_sse_event(data_str=data, event=item.event, id=item.id, retry=item.retry,
                                    comment=item.comment)
        return format_sse_event(data_str=encode(item).decode("utf-8"))

    return event


# ---------------------------------------------------------------- generators -> async iterators of chunks
async def iterate_async(gen: Any, encode: Callable[[Any], Any] | None) -> AsyncIterator[Any]:
    """The items of an async generator, encoded; the generator is closed however the iteration ends."""
    try:
        if encode is None:
            async for item in gen:
                yield item
        else:
            async for item in gen:
                yield encode(item)
    finally:
        await gen.aclose()


_DONE = object()


async def iterate_sync(gen: Iterator[Any], encode: Callable[[Any], Any] | None) -> AsyncIterator[Any]:
    """The items of a sync generator, taken (and encoded) in the thread pool, so that a generator that
    blocks does not stall the loop; read ahead by up to 16 items per trip to the pool (``ReadAhead``), each
    item passed on as soon as it is made. Stopped early, the generator is closed in the pool once the step
    in progress (if any) is over, so its ``finally`` runs."""
    lock = threading.Lock()

    def step() -> Any:
        with lock:
            try:
                item = next(gen)
            except StopIteration:
                return _DONE
            return item if encode is None else encode(item)

    try:
        reader: Any = ReadAhead(asyncio.get_running_loop(), step, _DONE)
        take = reader.next
    except RuntimeError:  # not on asyncio (ASGI under trio): one trip to anyio's threads per item
        reader = None

        async def take() -> Any:
            return await run_in_threadpool(step)
    try:
        while True:
            chunk = await take()
            if chunk is _DONE:
                return
            yield chunk
    finally:
        if reader is not None:
            reader.stop()
        if getattr(gen, "gi_frame", None) is not None:  # not finished: suspended, or still in a step
            _close_later(gen, lock)


async def iterate_here(gen: Iterator[Any], encode: Callable[[Any], Any] | None) -> AsyncIterator[Any]:
    """The items of a sync generator, taken on the event loop (``sync_to_threadpool=False``, as its plain
    ``def`` handlers run); closed however the iteration ends."""
    try:
        for item in gen:
            yield item if encode is None else encode(item)
    finally:
        gen.close()  # type: ignore[attr-defined]


def _close_later(gen: Any, lock: threading.Lock) -> None:
    """Close a sync generator in the thread pool, after the step that may still run in another thread."""
    close = getattr(gen, "close", None)
    if close is None:
        return

    def closing() -> None:
        with lock:
            close()

    try:
        fut = asyncio.ensure_future(run_in_threadpool(closing))
    except RuntimeError:  # no running loop: close here
        closing()
        return
    fut.add_done_callback(_log_close_error)


def _log_close_error(fut: "asyncio.Future[Any]") -> None:
    if not fut.cancelled() and fut.exception() is not None:
        logger.error("Exception while closing a streaming generator", exc_info=fut.exception())


async def _closing(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


async def _next(chunks: AsyncIterator[bytes]) -> bytes:
    return await chunks.__anext__()


async def with_keepalive(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Events as they come, and a ``: ping`` comment after each ``_PING_INTERVAL`` seconds without one.

    The next item is awaited in its own task, so that a ping never interrupts the generator; stopped
    early, that task is cancelled (the generator sees the cancellation, its ``finally`` runs).
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not on asyncio (an ASGI server on trio): the events, without pings
        async for chunk in _closing(chunks):
            yield chunk
        return
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = loop.create_task(_next(chunks))
            done, _ = await asyncio.wait((pending,), timeout=sse._PING_INTERVAL)
            if not done:
                yield sse.KEEPALIVE_COMMENT
                continue
            fut, pending = pending, None
            try:
                chunk = fut.result()
            except StopAsyncIteration:
                return
            yield chunk
    finally:
        if pending is not None:
            pending.cancel()
            try:
                await pending
            except BaseException:
                pass
        await chunks.aclose()


# ---------------------------------------------------------------- the route's serializer
def build_stream_serializer(route: Any) -> Callable[[Any], Any]:
    """What a generator route's handler result (the generator object) becomes: a StreamingResponse (of
    the route's ``response_class`` for raw chunks) whose body is the encoded items."""
    from .responses import StreamingResponse

    kind = route.stream_kind
    is_async = is_async_generator_function(route.endpoint)
    # a ``def`` generator is stepped where the app runs plain ``def`` handlers: the thread pool, or the loop
    iterate_sync_gen = iterate_sync if getattr(route, "sync_to_threadpool", True) else iterate_here
    status_kwargs: dict[str, Any] = {} if route.status_code is None else {"status_code": route.status_code}
    if kind == RAW:
        cls = route.response_class

        def raw(gen: Any) -> Any:
            body = iterate_async(gen, None) if is_async else iterate_sync_gen(gen, None)
            return cls(content=body, **status_kwargs)

        return raw

    encode = item_encoder(route.stream_item_type, route._dump_options())
    if kind == JSONL:
        encode_item = jsonl_encoder(encode)
        media_type = "application/jsonl"
        extra: list[tuple[bytes, bytes]] = []
    else:
        encode_item = sse_encoder(encode)
        media_type = "text/event-stream"
        extra = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]

    def stream(gen: Any) -> Any:
        body = iterate_async(gen, encode_item) if is_async else iterate_sync_gen(gen, encode_item)
        if kind == SSE:
            body = with_keepalive(body)
        response = StreamingResponse(body, media_type=media_type, **status_kwargs)
        if extra:
            response.raw_headers.extend(extra)
        return response

    return stream


async def close_on_abort(chunks: AsyncIterator[Any], aclose: Callable[[], Any]) -> AsyncIterator[Any]:
    """The chunks of a stream; if it is stopped early or fails, ``aclose()`` runs once the stream is
    closed (the teardown of ``yield`` dependencies, which otherwise runs after the response)."""
    try:
        async for chunk in chunks:
            yield chunk
    except BaseException:
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            await closer()
        await aclose()
        raise
