"""Running blocking code off the event loop: the thread pool behind sync (``def``) handlers."""
from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

T = TypeVar("T")

# anyio's (and so Starlette's) default: 40 worker threads.
_executor: ThreadPoolExecutor | None = None


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=40, thread_name_prefix="fastrapi-worker")
    return _executor


async def run_in_threadpool(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``func`` in the worker thread pool, with the caller's context variables."""
    if kwargs:
        func = functools.partial(func, **kwargs)
    ctx = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_get_executor(), ctx.run, func, *args)
