"""The Redis backend of ``fastrapi.broadcast``: processes and machines share channels through Redis pub/sub.

    app = FastrAPI(broadcast="redis://localhost:6379")      # needs redis-py and hiredis: pip install 'fastrapi[redis]'

Each process holds two connections (opened by redis-py, then read and written by ``resp.RespConnection``):

- the pub/sub connection: a channel is SUBSCRIBEd while this process has a local subscriber on it. Everything one
  read brings is parsed at once and handed to ``Broadcast`` as one batch, which frames each message once and
  writes each subscriber once for all of them.
- the publishing connection: each PUBLISH is written at once, in the order ``publish`` is called, so a
  process's messages keep their order. ``publish`` returns once its command is written, while fewer than
  ``publish_window`` bytes (1 MiB) wait for Redis's acknowledgement; past that it waits for its own. A publisher
  thus never waits a round trip per message, and what it publishes in a row reaches every process together.
  With ``publish_window=0`` (or ``?publish_window=0`` in the URL) every publish waits for the acknowledgement:
  a message published after another one's ``publish`` returned, in any process, then comes after it
  everywhere. Without it, messages of different processes are in the order Redis received them.

When the pub/sub connection is lost (Redis restarted, network down) the backend reconnects with backoff and
re-SUBSCRIBEs every channel that still has subscribers; until then ``publish`` raises ``BroadcastError``. A
publish that returned was handed to a live connection; if that connection is lost before Redis acknowledged
it, a warning says how many messages may not have been delivered. Nothing is dropped silently.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

try:
    from redis.asyncio import ConnectionPool
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the Redis broadcast backend (redis:// URLs) needs redis-py 5 or later: pip install 'fastrapi[redis]'"
    ) from exc
try:  # redis-py 8: its "maintenance notifications" are not wanted on these connections
    from redis.maint_notifications import MaintNotificationsConfig
except ImportError:  # pragma: no cover - older redis-py
    MaintNotificationsConfig = None

from .backends import BroadcastError, Deliver, DeliverMany
from .resp import ReplyError, RespConnection, open_connection, pack, publish_head

logger = logging.getLogger("fastrapi.broadcast")

#: errors that mean "the Redis connection does not work" (redis-py wraps most socket errors in RedisError)
_CONNECTION_ERRORS = (RedisError, OSError, asyncio.TimeoutError, EOFError)
_MESSAGE, _SUBSCRIBE = b"message", b"subscribe"
#: RedisBackend's own settings, also accepted in the URL's query string (the rest of it goes to redis-py)
_SETTINGS = {"publish_window": int, "publish_timeout": float, "connect_timeout": float, "reconnect_delay": float,
             "max_reconnect_delay": float, "health_check_interval": float, "subscribe_timeout": float}


class RedisBackend:
    """Channels shared through a Redis server (``redis://``, ``rediss://`` or ``unix://`` URL, redis-py options
    in its query string). See the module docstring for the connection model."""

    in_memory = False

    def __init__(self, url: str = "redis://localhost:6379", *, reconnect_delay: float = 0.1,
                 max_reconnect_delay: float = 2.0, connect_timeout: float = 5.0, publish_timeout: float = 5.0,
                 health_check_interval: float = 15.0, subscribe_timeout: float = 10.0,
                 publish_window: int = 1 << 20, **redis_options: Any) -> None:
        self.url = url
        url, settings = _split_settings(url)
        self._redis_url = url
        reconnect_delay = settings.get("reconnect_delay", reconnect_delay)
        max_reconnect_delay = settings.get("max_reconnect_delay", max_reconnect_delay)
        connect_timeout = settings.get("connect_timeout", connect_timeout)
        publish_timeout = settings.get("publish_timeout", publish_timeout)
        health_check_interval = settings.get("health_check_interval", health_check_interval)
        subscribe_timeout = settings.get("subscribe_timeout", subscribe_timeout)
        publish_window = settings.get("publish_window", publish_window)
        #: first wait after a failed reconnect attempt, doubled after each failure up to ``max_reconnect_delay``
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.connect_timeout = connect_timeout
        #: the pub/sub connection is PINGed this often; one silent for two intervals is taken as lost
        self.health_check_interval = health_check_interval
        #: how long ``subscribe`` waits for Redis to confirm a SUBSCRIBE
        self.subscribe_timeout = subscribe_timeout
        #: a publishing connection with PUBLISHes unacknowledged this long is taken as lost
        self.publish_timeout = publish_timeout
        #: bytes of PUBLISH commands that may await Redis's acknowledgement before ``publish`` waits for its own
        #: (0: every publish waits for its acknowledgement)
        self.publish_window = publish_window
        # URL query parameters win over these defaults; no hidden retries, so a failure is reported at once
        self._options: dict[str, Any] = {"socket_connect_timeout": connect_timeout, **redis_options,
                                         "retry": Retry(NoBackoff(), 0)}
        if MaintNotificationsConfig is not None and "maint_notifications_config" not in redis_options:
            self._options["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
        self._connection_class: Any = None
        self._kwargs: dict[str, Any] = {}
        self._deliver_many: DeliverMany | None = None
        #: the channels with local subscribers: SUBSCRIBEd now, and again after a reconnect
        self._channels: set[str] = set()
        #: the pub/sub connection while it is open (SUBSCRIBE / UNSUBSCRIBE may be sent on it)
        self._conn: RespConnection | None = None
        #: the publishing connection while it is open, and the task opening one
        self._pub: RespConnection | None = None
        self._pub_opening: asyncio.Task[RespConnection] | None = None
        #: PUBLISHes sent and not yet acknowledged, oldest first: [size, channel, future of a waiting caller]
        self._unacked: deque[list[Any]] = deque()
        self._unacked_bytes = 0
        #: acknowledgements received so far, and the watchdog that takes a silent publishing connection as lost
        self._acked = 0
        self._watchdog: asyncio.TimerHandle | None = None
        #: set while the pub/sub connection is open and every channel confirmed: publishing is allowed
        self._up = asyncio.Event()
        #: confirmations still expected for the SUBSCRIBE sent right after (re)connecting
        self._batch_left = 0
        #: futures of ``subscribe`` calls waiting for their confirmation, per channel, in order sent
        self._acks: dict[str, deque[asyncio.Future[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        #: between connect() and disconnect(): the reconnect loop and the publisher opener stop when it is unset
        #: (a cancellation may be lost: on Python 3.11 wait_for swallows one that comes as its operation ends)
        self._active = False
        #: why this backend is not connected (the cause given with BroadcastError)
        self._error: BaseException | None = None
        #: loop time the connection was lost (None while connected): one warning per outage
        self._outage_since: float | None = None
        self._last_seen = 0.0
        #: set by _keepalive when it closes a silent connection: the reason to report instead of "closed"
        self._silent: BaseException | None = None
        self.where = _describe({}, url)

    @property
    def connected(self) -> bool:
        """True while the pub/sub connection is up with every channel subscribed (publishing works)."""
        return self._up.is_set()

    # ------------------------------------------------------------------ lifecycle
    async def connect(self, deliver: Deliver) -> None:
        """Open both connections; raise BroadcastError if Redis cannot be reached now."""
        if self._tasks:
            return
        many = getattr(deliver, "many", None)
        if many is None:  # a plain function: one call per message
            def many(messages: list[tuple[str, bytes]]) -> None:
                for channel, payload in messages:
                    deliver(channel, payload)
        self._deliver_many = many
        self._up = asyncio.Event()  # bound to this loop (a backend may be connected again in another one)
        pool = ConnectionPool.from_url(self._redis_url, **self._options)  # parses the URL; never connects
        self._connection_class = pool.connection_class
        kwargs = dict(pool.connection_kwargs)
        # our own parser reads RESP2 (pub/sub messages as plain arrays), whatever the URL asks of redis-py
        kwargs.update(protocol=2, decode_responses=False)
        kwargs.setdefault("socket_timeout", self.connect_timeout)  # bounds the handshake (AUTH, SELECT...)
        self._kwargs = kwargs
        self.where = _describe(kwargs, self.url)
        self._active = True
        try:
            conn = await self._open()
            await self._publisher()
        except (BroadcastError, *_CONNECTION_ERRORS) as exc:
            self._active = False
            self._close_connections()
            cause = exc.__cause__ if isinstance(exc, BroadcastError) and exc.__cause__ is not None else exc
            raise BroadcastError(f"cannot connect to Redis at {self.where}: {cause}") from cause
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(conn), name="fastrapi-broadcast-redis-reader"),
                       loop.create_task(self._keepalive(), name="fastrapi-broadcast-redis-keepalive")]
        if not self._up.is_set():  # channels kept from an earlier connect: wait for their confirmation
            try:
                await asyncio.wait_for(self._up.wait(), self.subscribe_timeout)
            except asyncio.TimeoutError:
                pass

    async def disconnect(self) -> None:
        """Stop the reader and close both connections (PUBLISHes already queued are still sent)."""
        self._active = False
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._up.clear()
        self._batch_left = 0
        self._release_acks()
        self._error = BroadcastError("the broadcast is disconnected")
        self._outage_since = None
        self._close_connections()
        self._deliver_many = None

    def _close_connections(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        opening, self._pub_opening = self._pub_opening, None
        if opening is not None:
            opening.cancel()
        pub, self._pub = self._pub, None
        self._forget_unacked(BroadcastError("the broadcast is disconnected"), warn=False)
        if pub is not None:
            pub.close()

    # ------------------------------------------------------------------ channels
    async def subscribe(self, channel: str) -> None:
        """SUBSCRIBE and wait for Redis to confirm it; while disconnected, only remember it (the reconnect
        subscribes it)."""
        self._channels.add(channel)
        conn = self._conn
        if conn is None or not conn.open:
            return
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks.setdefault(channel, deque()).append(ack)
        conn.send(pack(b"SUBSCRIBE", _encode(channel)))
        await asyncio.wait([ack], timeout=self.subscribe_timeout)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        conn = self._conn
        if conn is not None:
            conn.send(pack(b"UNSUBSCRIBE", _encode(channel)))

    # ------------------------------------------------------------------ publishing
    async def publish(self, channel: str, payload: bytes) -> None:
        """Queue a PUBLISH (see the module docstring); BroadcastError (with the cause) if Redis is unreachable
        or the subscriptions are not back yet after an outage: the message was not sent."""
        if not self._up.is_set():
            cause = self._error
            reason = f": {cause}" if cause is not None else ""
            raise BroadcastError(f"not connected to Redis at {self.where}{reason}; the message was not sent") \
                from cause
        pub = self._pub
        if pub is None or not pub.open:
            pub = await self._publisher()
        name = _encode(channel)
        size = len(payload) + len(name) + 32
        pub.send(publish_head(name, len(payload)), payload, b"\r\n")
        entry = [size, channel, None]
        unacked = self._unacked
        unacked.append(entry)
        self._unacked_bytes += size
        if self._watchdog is None:
            self._watch(pub)
        if self._unacked_bytes > self.publish_window:
            # too much in flight (or acknowledgements wanted): wait for this one's
            entry[2] = waiter = pub.loop.create_future()
            try:
                await asyncio.wait_for(waiter, self.publish_timeout)
            except asyncio.TimeoutError:
                error = TimeoutError(f"Redis did not acknowledge a PUBLISH within {self.publish_timeout:g} s")
                if self._pub is pub:
                    pub.abort(error)
                raise BroadcastError(f"could not publish to Redis at {self.where}: {error}") from error

    async def _publisher(self) -> RespConnection:
        """The publishing connection, opened if there is none (one attempt shared by concurrent callers)."""
        pub = self._pub
        if pub is not None:
            if pub.open:
                return pub
            self._publisher_lost(pub, ConnectionError("connection closed"))
        opening = self._pub_opening
        if opening is None:
            opening = self._pub_opening = asyncio.get_running_loop().create_task(self._open_publisher())
        try:
            return await asyncio.shield(opening)
        except _CONNECTION_ERRORS as exc:
            raise BroadcastError(f"could not publish to Redis at {self.where}: {exc}") from exc
        finally:
            if opening.done() and self._pub_opening is opening:
                self._pub_opening = None

    async def _open_publisher(self) -> RespConnection:
        pub = await open_connection(self._connection_class, self._kwargs, self.connect_timeout, self._on_acks)
        if not self._active:
            pub.abort()
            raise BroadcastError("the broadcast is disconnected")
        self._pub = pub
        pub.lost.add_done_callback(lambda lost: self._publisher_lost(pub, lost.result()))
        return pub

    def _on_acks(self, replies: list[Any]) -> None:
        """Replies on the publishing connection: one per PUBLISH, in order."""
        unacked = self._unacked
        done = 0
        for reply in replies:
            if not unacked:
                break
            size, channel, waiter = unacked.popleft()
            self._unacked_bytes -= size
            done += 1
            if isinstance(reply, ReplyError):
                if waiter is not None and not waiter.done():
                    waiter.set_exception(BroadcastError(f"Redis at {self.where} refused the message: {reply}"))
                else:
                    logger.warning("Redis at %s refused a message published to %r: %s", self.where, channel, reply)
            elif waiter is not None and not waiter.done():
                waiter.set_result(None)
        self._acked += done

    def _watch(self, pub: RespConnection) -> None:
        """While PUBLISHes await acknowledgement, take the connection as lost if none comes for publish_timeout."""
        acked = self._acked

        def check() -> None:
            self._watchdog = None
            if not self._unacked or self._pub is not pub:
                return
            if self._acked == acked:
                pub.abort(TimeoutError(f"Redis did not acknowledge a PUBLISH within {self.publish_timeout:g} s"))
            else:
                self._watch(pub)

        self._watchdog = pub.loop.call_later(self.publish_timeout, check)

    def _publisher_lost(self, pub: RespConnection, error: BaseException) -> None:
        if self._pub is not pub:
            return
        self._pub = None
        pub.abort()
        self._forget_unacked(BroadcastError(f"the connection to Redis at {self.where} was lost before Redis "
                                            f"acknowledged the message: {error}"), warn=True)

    def _forget_unacked(self, error: BroadcastError, warn: bool) -> None:
        """The publishing connection is gone: fail the callers still waiting, count the others."""
        unacked, self._unacked = self._unacked, deque()
        self._unacked_bytes = 0
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        unknown = 0
        for _size, _channel, waiter in unacked:
            if waiter is not None:
                if not waiter.done():
                    waiter.set_exception(error)
            else:
                unknown += 1
        if unknown and warn:
            logger.warning("%d message(s) published to Redis at %s were not acknowledged before the connection "
                           "was lost (%s): they may not have been delivered", unknown, self.where, error.__cause__
                           or error)

    # ------------------------------------------------------------------ the pub/sub connection
    async def _open(self) -> RespConnection:
        """Connect the pub/sub connection and SUBSCRIBE every wanted channel in one command."""
        conn = await open_connection(self._connection_class, self._kwargs, self.connect_timeout, self._on_replies)
        if not self._active:
            conn.abort()
            raise BroadcastError("the broadcast is disconnected")
        self._last_seen = asyncio.get_running_loop().time()
        # no await from here to the send below: a concurrent subscribe() must send after this batch
        channels = list(self._channels)
        self._conn = conn
        self._batch_left = len(channels)
        if not channels:
            self._set_up()
        else:
            conn.send(pack(b"SUBSCRIBE", *map(_encode, channels)))
        return conn

    async def _run(self, conn: RespConnection) -> None:
        """Wait for the pub/sub connection to be lost, then reconnect with backoff (messages are handled by
        ``_on_replies`` as they are read)."""
        delay = 0.0
        while True:
            error: BaseException = await asyncio.shield(conn.lost)
            error = self._silent or error
            self._silent = None
            if self._up.is_set():
                delay = 0.0  # it was working: try again at once (a restarted Redis is usually back already)
            self._lost(conn, error)
            conn.abort()
            # the publishing connection is most likely dead too: drop it now rather than lose the first
            # messages published after Redis is back
            pub = self._pub
            if pub is not None:
                pub.abort(error)
            while True:
                if delay:
                    await asyncio.sleep(delay)
                delay = min(max(delay * 2, self.reconnect_delay), self.max_reconnect_delay)
                if not self._active:
                    return
                try:
                    conn = await self._open()
                    break
                except Exception as exc:  # keep trying whatever it is: publish reports it as the cause
                    self._error = exc
                    logger.debug("reconnecting to Redis at %s failed: %r", self.where, exc)

    def _on_replies(self, replies: list[Any]) -> None:
        """What one read of the pub/sub connection brought: its messages are delivered as one batch."""
        self._last_seen = asyncio.get_running_loop().time()
        messages = []
        for reply in replies:
            if type(reply) is list and len(reply) >= 3:
                kind = reply[0]
                if kind == _MESSAGE:
                    messages.append((reply[1].decode("utf-8", "surrogateescape"), reply[2]))
                elif kind == _SUBSCRIBE:
                    self._confirmed(reply[1])
            elif isinstance(reply, ReplyError):  # e.g. SUBSCRIBE refused by an ACL: reconnect, report it
                conn = self._conn
                if conn is not None:
                    conn.abort(ConnectionError(f"Redis answered an error on the pub/sub connection: {reply}"))
        if messages and self._deliver_many is not None:
            try:
                self._deliver_many(messages)
            except Exception:
                logger.exception("error delivering broadcast messages")

    def _confirmed(self, channel: bytes) -> None:
        if self._batch_left:
            self._batch_left -= 1
            if not self._batch_left:
                self._set_up()
            return
        name = channel.decode("utf-8", "surrogateescape")
        waiting = self._acks.get(name)
        if waiting:
            ack = waiting.popleft()
            if not waiting:
                del self._acks[name]
            if not ack.done():
                ack.set_result(None)

    def _set_up(self) -> None:
        self._up.set()
        self._error = None
        if self._outage_since is not None:
            down = asyncio.get_running_loop().time() - self._outage_since
            self._outage_since = None
            logger.info("Redis broadcast connection to %s is back after %.1f s; %d channel(s) resubscribed",
                        self.where, down, len(self._channels))

    def _lost(self, conn: RespConnection, error: BaseException) -> None:
        """The pub/sub connection failed: stop publishing, release waiters, warn once per outage."""
        if self._conn is conn:
            self._conn = None
        self._up.clear()
        self._batch_left = 0
        self._error = error
        self._release_acks()
        if self._outage_since is None:
            self._outage_since = asyncio.get_running_loop().time()
            logger.warning("Redis broadcast connection to %s lost (%s): reconnecting; publishing fails until "
                           "it is back", self.where, str(error) or type(error).__name__)

    def _release_acks(self) -> None:
        acks, self._acks = self._acks, {}
        for waiting in acks.values():
            for ack in waiting:
                if not ack.done():
                    ack.set_result(None)

    async def _keepalive(self) -> None:
        """PING the pub/sub connection; drop it when nothing came back for two intervals (a dead peer)."""
        interval = self.health_check_interval
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            conn = self._conn
            if conn is None or not conn.open:
                continue
            silent = loop.time() - self._last_seen
            if silent > 2 * interval:
                self._silent = TimeoutError(f"no answer to PING for {silent:.1f} s")
                conn.abort(self._silent)
            else:
                conn.send(b"*1\r\n$4\r\nPING\r\n")


def _encode(channel: str) -> bytes:
    """A channel name as sent to Redis (read back with the same error handler)."""
    return channel.encode("utf-8", "surrogateescape")


def _split_settings(url: str) -> tuple[str, dict[str, Any]]:
    """Take RedisBackend's own settings (``?publish_window=0``...) out of a URL's query string."""
    parts = urlsplit(url)
    if not parts.query:
        return url, {}
    settings: dict[str, Any] = {}
    rest = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        kind = _SETTINGS.get(name)
        if kind is None:
            rest.append((name, value))
            continue
        try:
            settings[name] = number = kind(value)
        except ValueError:
            raise ValueError(f"invalid {name}={value!r} in the broadcast URL: a number is expected") from None
        if number < 0:
            raise ValueError(f"invalid {name}={value!r} in the broadcast URL: it cannot be negative")
    return urlunsplit(parts._replace(query=urlencode(rest))), settings


def _describe(kwargs: dict[str, Any], url: str) -> str:
    """host:port (or the socket path) for messages: never the password of the URL."""
    if kwargs.get("path"):
        return str(kwargs["path"])
    if kwargs.get("host"):
        return f"{kwargs['host']}:{kwargs.get('port', 6379)}"
    return url.split("@")[-1]
