"""Work to run after the response has been sent: ``BackgroundTask`` and ``BackgroundTasks``."""
from __future__ import annotations

import inspect
import logging
from typing import Any, Callable, ParamSpec

from .concurrency import run_in_threadpool

logger = logging.getLogger("fastrapi.error")


class BackgroundTask:
    """One call, made after the response is sent (sync functions run in the thread pool)."""

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None))

    async def __call__(self) -> None:
        if self.is_async:
            await self.func(*self.args, **self.kwargs)
        else:
            await run_in_threadpool(self.func, *self.args, **self.kwargs)


class BackgroundTasks(BackgroundTask):
    """Declare ``tasks: BackgroundTasks`` in a handler and ``tasks.add_task(func, ...)``: run in order after
    the response. A task that raises is logged with its traceback and the following tasks still run."""

    def __init__(self, tasks: list[BackgroundTask] | None = None) -> None:
        self.tasks: list[BackgroundTask] = list(tasks or [])

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.tasks.append(BackgroundTask(func, *args, **kwargs))

    async def __call__(self) -> None:
        for task in self.tasks:
            try:
                await task()
            except Exception:
                logger.exception("Background task %s failed", getattr(task.func, "__qualname__", task.func))


class Teardown:
    """The background of a response whose route has ``yield`` dependencies: what runs after the response
    (its own background, then BackgroundTasks), then the exit of the dependencies, last, as in FastAPI."""

    __slots__ = ("before", "stack")

    def __init__(self, before: Callable[[], Any] | None, stack: Any) -> None:
        self.before = before
        self.stack = stack

    async def __call__(self) -> None:
        try:
            if self.before is not None:
                await self.before()
        finally:
            await self.stack.aclose()


def chain(first: Callable[[], Any] | None, then: Callable[[], Any]) -> Callable[[], Any]:
    """One background callable running ``first`` (if any) and then ``then`` (before the teardown of ``yield``
    dependencies when ``first`` is one)."""
    if first is None:
        return then
    if type(first) is Teardown:
        first.before = chain(first.before, then)
        return first

    async def both() -> None:
        try:
            await first()
        finally:
            await then()

    return both


#: FastAPI's names: Starlette's class (here the same one) and the ParamSpec of ``add_task``
StarletteBackgroundTasks = BackgroundTasks
P = ParamSpec("P")
