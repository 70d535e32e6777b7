"""Running blocking code off the event loop: the thread pool behind sync (``def``) handlers and dependencies.

A purpose-built pool rather than ``loop.run_in_executor``. What a hop costs on one core is mostly waking
threads, so the pool wakes as few as it can:

* Jobs go into one deque. A worker that finishes a job takes the next one without sleeping; a sleeping
  worker is woken only when no worker is awake. Under load one hot worker runs job after job, and a
  submit is an append (no futex wake, no GIL hand-off per job).
* Workers blocked in I/O do not starve the queue: while jobs wait, a check every ``STALL_AFTER`` seconds
  wakes (or starts) one more worker when the job at the head of the queue has not moved for two checks,
  up to ``max_workers`` (anyio's 40).
* Results go back in batches: one ``call_soon_threadsafe`` for all results that are ready, delivered to a
  future (``submit``) or straight to a callback (``submit_call``, the server's path for ``def`` handlers,
  which needs no Task and no future).
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
from collections import deque
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any, AsyncIterator, Callable, Iterable, TypeVar

T = TypeVar("T")

#: anyio's (and so Starlette's) default number of worker threads
MAX_WORKERS = 40

logger = logging.getLogger("fastrapi.error")


class _Results:
    """Finished jobs of one event loop, waiting to be delivered in the loop's thread."""

    __slots__ = ("loop", "done", "wake_pending", "flush_pending", "watching")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.done: deque[tuple[Any, Any, Any, BaseException | None]] = deque()
        self.wake_pending = False
        #: a worker wake-up is scheduled for the end of this loop's iteration (``ThreadPool._flush``)
        self.flush_pending = False
        #: a stall check is scheduled on this loop (``ThreadPool._check_stalled``)
        self.watching = False

    def put(self, target: Any, callback: Any, result: Any, error: BaseException | None) -> None:
        """From a worker thread. A wake-up already scheduled will deliver this result too."""
        self.done.append((target, callback, result, error))
        if not self.wake_pending:
            self.wake_pending = True
            try:
                self.loop.call_soon_threadsafe(self.deliver)
            except RuntimeError:  # the loop has been closed: nobody waits any more
                pass

    def deliver(self) -> None:
        # Reset before draining: a result appended after this line schedules a new wake-up.
        self.wake_pending = False
        done = self.done
        while done:
            target, callback, result, error = done.popleft()
            if callback is not None:
                try:
                    callback(result, error)
                except Exception:  # a callback's own bug must not cost the other results their delivery
                    logger.exception("Exception delivering a thread-pool result")
            elif target.cancelled():
                continue
            elif error is None:
                target.set_result(result)
            else:
                target.set_exception(error)


class ThreadPool:
    """Worker threads started on demand, up to ``max_workers``, fed from one deque (see the module doc)."""

    #: seconds the head of the queue may wait before one more worker is woken (the awake ones are blocked)
    STALL_AFTER = 0.002

    def __init__(self, max_workers: int = MAX_WORKERS) -> None:
        self.max_workers = max_workers
        self.jobs: deque[tuple[Callable[[], Any], _Results, Any, Any]] = deque()
        #: workers started / workers not asleep (both changed under ``lock``)
        self.threads = 0
        self.awake = 0
        #: the wake-up lock of each sleeping worker (held while it sleeps; releasing it wakes that worker)
        self.sleepers: list[threading.Lock] = []
        self.lock = threading.Lock()
        self.sinks: dict[asyncio.AbstractEventLoop, _Results] = {}

    def _sink(self, loop: asyncio.AbstractEventLoop) -> _Results:
        sink = self.sinks.get(loop)
        if sink is None:
            with self.lock:  # a new loop (rare): forget the closed ones
                self.sinks = {lp: s for lp, s in self.sinks.items() if not lp.is_closed()}
                sink = self.sinks[loop] = _Results(loop)
        return sink

    def submit(self, loop: asyncio.AbstractEventLoop, func: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``func()`` in a worker; the returned future (of ``loop``) gets its result or exception."""
        fut = loop.create_future()
        sink = self._sink(loop)
        self._put(sink, (func, sink, fut, None))
        return fut

    def submit_call(self, loop: asyncio.AbstractEventLoop, func: Callable[[], Any],
                    callback: Callable[[Any, BaseException | None], None]) -> None:
        """Run ``func()`` in a worker, then ``callback(result, error)`` in ``loop``'s thread (no future)."""
        sink = self._sink(loop)
        self._put(sink, (func, sink, None, callback))

    def _put(self, sink: _Results, job: tuple[Any, ...]) -> None:
        self.jobs.append(job)
        if not self.awake and not sink.flush_pending:
            # Wake a worker once, after this loop iteration's callbacks: it could not take the GIL before
            # anyway, and then it finds every job the iteration submitted (one wake-up for all of them).
            sink.flush_pending = True
            sink.loop.call_soon(self._flush, sink)
        if not sink.watching:
            sink.watching = True
            sink.loop.call_later(self.STALL_AFTER, self._check_stalled, sink, job)

    def _flush(self, sink: _Results) -> None:
        sink.flush_pending = False
        if self.jobs and not self.awake:
            self._wake()

    def _wake(self) -> None:
        """Wake a sleeping worker, or start one (up to ``max_workers``)."""
        with self.lock:
            if self.sleepers:
                self.awake += 1
                self.sleepers.pop().release()
            elif self.threads < self.max_workers:
                self.threads += 1
                self.awake += 1
                threading.Thread(target=self._work, name=f"fastrapi-worker-{self.threads}", daemon=True).start()

    def _check_stalled(self, sink: _Results, head: Any, strikes: int = 0) -> None:
        """While jobs wait: one more worker when the job at the head of the queue has not moved for two checks
        in a row (the awake workers are all blocked), up to ``max_workers``. (One check is not enough: the
        loop thread itself may have held the GIL for the whole interval.)"""
        jobs = self.jobs
        if not jobs:
            sink.watching = False
            return
        first = jobs[0]
        if first is head:
            strikes += 1
            if strikes >= 2:
                self._wake()
                strikes = 0
        else:
            strikes = 0
        sink.loop.call_later(self.STALL_AFTER, self._check_stalled, sink, first, strikes)

    def _work(self) -> None:
        jobs = self.jobs
        wakeup = threading.Lock()
        wakeup.acquire()
        while True:
            try:
                func, sink, target, callback = jobs.popleft()
            except IndexError:
                with self.lock:
                    if jobs:  # appended after the popleft: no waker saw this worker asleep
                        continue
                    self.awake -= 1
                    self.sleepers.append(wakeup)
                wakeup.acquire()  # until _wake releases it (and counted this worker awake again)
                continue
            try:
                result, error = func(), None
            except BaseException as exc:  # delivered to the awaiting coroutine / the callback
                result, error = None, exc
            sink.put(target, callback, result, error)
            del func, sink, target, callback, result, error


_pool = ThreadPool()
#: ``submit_call(loop, func, callback)``: ``func()`` in the pool, then ``callback(result, error)`` on ``loop``
submit_call = _pool.submit_call


async def run_in_threadpool(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``func`` in the worker thread pool, with the caller's context variables."""
    if args or kwargs:
        func = functools.partial(func, *args, **kwargs)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not on asyncio: the app runs as ASGI under trio (anyio's worker threads, then)
        return await _run_in_anyio_thread(functools.partial(contextvars.copy_context().run, func))
    return await _pool.submit(loop, functools.partial(contextvars.copy_context().run, func))


async def _run_in_anyio_thread(func: Callable[[], T]) -> T:
    try:
        import anyio.to_thread
    except ImportError:  # pragma: no cover - trio apps have anyio through httpx / their ASGI server
        raise RuntimeError("a sync handler outside asyncio needs the anyio package (pip install anyio)") from None
    return await anyio.to_thread.run_sync(func)


class ReadAhead:
    """The items of a blocking ``step()`` (a sync generator's ``next``), taken in the thread pool ahead of
    the consumer: one trip to the pool takes up to ``window`` items, each handed to the loop as soon as it
    is made (one loop wake-up for all items ready), instead of one trip per item.

    Nothing is held back: an item goes to the consumer at once, however long the next ``step()`` blocks.
    At most ``window`` items wait unconsumed: then the worker returns to the pool, and the next trip starts
    when the consumer has taken half of them (a slow client stops the generator, as one trip per item
    would). ``step()`` returns ``end`` when there are no more items; an exception it raises is the
    consumer's. ``stop()`` (the consumer is gone) ends the trip after the step in progress.
    """

    __slots__ = ("loop", "step", "end", "window", "items", "waiter", "running", "stopped", "finished",
                 "wake_pending")

    def __init__(self, loop: asyncio.AbstractEventLoop, step: Callable[[], Any], end: Any, window: int = 16) -> None:
        self.loop = loop
        self.step = step
        self.end = end
        self.window = window
        #: (ok, item or exception): appended by the worker, taken by the loop
        self.items: deque[tuple[bool, Any]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.running = False  # a trip is in the pool (set and cleared on the loop)
        self.stopped = False
        self.finished = False  # ``end`` or an exception has been taken
        self.wake_pending = False

    async def next(self) -> Any:
        """The next item, ``end`` after the last one; raises what ``step()`` raised."""
        items = self.items
        while not items:
            if self.finished:
                return self.end
            if not self.running:
                self._start()
            waiter = self.waiter = self.loop.create_future()
            await waiter
        ok, item = items.popleft()
        if not ok:
            self.finished = True
            raise item
        if item is self.end:
            self.finished = True
        elif not self.running and len(items) <= self.window // 2:
            self._start()
        return item

    def stop(self) -> None:
        self.stopped = True

    def _start(self) -> None:
        self.running = True
        _pool.submit_call(self.loop, self._trip, self._tripped)

    def _trip(self) -> None:
        """In a worker: take items until the window is full, the end, an error, or ``stop()``."""
        items = self.items
        step = self.step
        end = self.end
        for _ in range(self.window):
            if self.stopped:
                return
            try:
                entry = (True, step())
            except BaseException as exc:  # the consumer's
                entry = (False, exc)
            items.append(entry)
            if not self.wake_pending:
                self.wake_pending = True
                self.loop.call_soon_threadsafe(self._wake)
            if not entry[0] or entry[1] is end or len(items) >= self.window:
                return

    def _wake(self) -> None:
        self.wake_pending = False
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _tripped(self, result: Any, error: BaseException | None) -> None:
        self.running = False
        self._wake()  # a consumer waiting on an empty buffer starts the next trip


async def iterate_in_threadpool(iterator: Iterable[T]) -> AsyncIterator[T]:
    """A sync iterator driven from the thread pool, as an async iterator (Starlette's)."""
    iterator = iter(iterator)
    done: Any = object()
    while True:
        item = await run_in_threadpool(next, iterator, done)
        if item is done:
            return
        yield item


@asynccontextmanager
async def contextmanager_in_threadpool(cm: AbstractContextManager[T]) -> AsyncIterator[T]:
    """A sync context manager entered and exited in the thread pool (FastAPI's, for sync ``yield``
    dependencies); an exception it swallows on exit is swallowed here too."""
    value = await run_in_threadpool(cm.__enter__)
    try:
        yield value
    except Exception as exc:
        if not await run_in_threadpool(cm.__exit__, type(exc), exc, exc.__traceback__):
            raise
    else:
        await run_in_threadpool(cm.__exit__, None, None, None)


async def run_until_first_complete(*args: tuple[Callable[..., Any], dict[str, Any]]) -> None:
    """Run ``func(**kwargs)`` for each pair concurrently; when one finishes, cancel the others (Starlette's,
    deprecated there)."""
    tasks = [asyncio.ensure_future(func(**kwargs)) for func, kwargs in args]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
    for task in done:
        task.result()
