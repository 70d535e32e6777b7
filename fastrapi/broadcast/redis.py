"""The Redis backend of ``fastrapi.broadcast``: processes and machines share channels through Redis pub/sub.

    app = FastrAPI(broadcast="redis://localhost:6379")      # needs redis-py: pip install 'fastrapi[redis]'

Each process holds one pub/sub connection, read by one task that hands every message to ``Broadcast`` (which
frames it once and writes it to the local subscribers), and publishes on a separate connection. A channel is
SUBSCRIBEd while this process has a local subscriber on it. When the connection is lost (Redis restarted, network
down) the reader reconnects with backoff and re-SUBSCRIBEs every channel that still has subscribers; until then
``publish`` raises ``BroadcastError``, so a message is either sent or reported, never dropped silently.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

try:
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the Redis broadcast backend (redis:// URLs) needs redis-py 5 or later: pip install 'fastrapi[redis]'"
    ) from exc
try:  # redis-py 8: its "maintenance notifications" skip the check for a stale pooled connection
    from redis.maint_notifications import MaintNotificationsConfig
except ImportError:  # pragma: no cover - older redis-py
    MaintNotificationsConfig = None

from .backends import BroadcastError, Deliver

logger = logging.getLogger("fastrapi.broadcast")

#: errors that mean "the Redis connection does not work" (redis-py wraps most socket errors in RedisError)
_CONNECTION_ERRORS = (RedisError, OSError, asyncio.TimeoutError, EOFError)


class RedisBackend:
    """Channels shared through a Redis server (``redis://``, ``rediss://`` or ``unix://`` URL, redis-py options
    in its query string). See the module docstring for the connection model."""

    in_memory = False

    def __init__(self, url: str = "redis://localhost:6379", *, reconnect_delay: float = 0.1,
                 max_reconnect_delay: float = 2.0, connect_timeout: float = 5.0, publish_timeout: float = 5.0,
                 health_check_interval: float = 15.0, subscribe_timeout: float = 10.0,
                 **redis_options: Any) -> None:
        self.url = url
        #: first wait after a failed reconnect attempt, doubled after each failure up to ``max_reconnect_delay``
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.connect_timeout = connect_timeout
        #: the pub/sub connection is PINGed this often; one silent for two intervals is taken as lost
        self.health_check_interval = health_check_interval
        #: how long ``subscribe`` waits for Redis to confirm a SUBSCRIBE
        self.subscribe_timeout = subscribe_timeout
        self._publish_timeout = publish_timeout
        # URL query parameters win over these defaults; no hidden retries, so a failure is reported at once
        self._options: dict[str, Any] = {"socket_connect_timeout": connect_timeout,
                                         "socket_timeout": publish_timeout, **redis_options,
                                         "retry": Retry(NoBackoff(), 0)}
        if MaintNotificationsConfig is not None and "maint_notifications_config" not in redis_options:
            # with it off, a pooled connection closed by the server is replaced before a PUBLISH is sent on it
            self._options["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
        self._pool: Any = None
        self._client: Any = None
        self._deliver: Deliver | None = None
        #: the channels with local subscribers: SUBSCRIBEd now, and again after a reconnect
        self._channels: set[str] = set()
        #: the pub/sub connection while it is open (SUBSCRIBE / UNSUBSCRIBE may be sent on it)
        self._conn: Any = None
        #: set while the pub/sub connection is open and every channel confirmed: publishing is allowed
        self._up = asyncio.Event()
        #: confirmations still expected for the SUBSCRIBE sent right after (re)connecting
        self._batch_left = 0
        #: futures of ``subscribe`` calls waiting for their confirmation, per channel, in order sent
        self._acks: dict[str, deque[asyncio.Future[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
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
        self._deliver = deliver
        self._up = asyncio.Event()  # bound to this loop (a backend may be connected again in another one)
        # a blocking pool: with many publishes in flight, a publish waits for a free connection (up to
        # publish_timeout) instead of failing at once with MaxConnectionsError
        self._pool = BlockingConnectionPool.from_url(self.url, **{"timeout": self._publish_timeout, **self._options})
        # payloads are bytes whatever the URL says: never decode them
        self._pool.connection_kwargs["decode_responses"] = False
        self._client = Redis(connection_pool=self._pool)
        self.where = _describe(self._pool.connection_kwargs, self.url)
        try:
            conn = await self._open()
        except _CONNECTION_ERRORS as exc:
            await self._close_publisher()
            raise BroadcastError(f"cannot connect to Redis at {self.where}: {exc}") from exc
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(conn), name="fastrapi-broadcast-redis-reader"),
                       loop.create_task(self._keepalive(), name="fastrapi-broadcast-redis-keepalive")]
        if not self._up.is_set():  # channels kept from an earlier connect: wait for their confirmation
            try:
                await asyncio.wait_for(self._up.wait(), self.subscribe_timeout)
            except asyncio.TimeoutError:
                pass

    async def disconnect(self) -> None:
        """Stop the reader and close both connections."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        conn, self._conn = self._conn, None
        self._up.clear()
        self._batch_left = 0
        self._release_acks()
        self._error = BroadcastError("the broadcast is disconnected")
        self._outage_since = None
        if conn is not None:
            await _discard(conn)
        await self._close_publisher()
        self._deliver = None

    async def _drop_publisher_connections(self) -> None:
        """After an outage the pooled publishing connections are most likely dead too: close them now rather
        than fail the first publishes after Redis is back."""
        try:
            if self._pool is not None:
                await self._pool.disconnect()
        except _CONNECTION_ERRORS:
            pass

    async def _close_publisher(self) -> None:
        client, pool, self._client, self._pool = self._client, self._pool, None, None
        try:
            if client is not None:
                await client.aclose()
            if pool is not None:
                await pool.disconnect()
        except _CONNECTION_ERRORS:
            pass

    # ------------------------------------------------------------------ channels
    async def subscribe(self, channel: str) -> None:
        """SUBSCRIBE and wait for Redis to confirm it; while disconnected, only remember it (the reconnect
        subscribes it)."""
        self._channels.add(channel)
        conn = self._conn
        if conn is None:
            return
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks.setdefault(channel, deque()).append(ack)
        if await self._send(conn, "SUBSCRIBE", channel):
            await asyncio.wait([ack], timeout=self.subscribe_timeout)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        conn = self._conn
        if conn is not None:
            await self._send(conn, "UNSUBSCRIBE", channel)

    async def publish(self, channel: str, payload: bytes) -> None:
        """PUBLISH; BroadcastError (with the cause) if Redis is unreachable or the subscriptions are not back
        yet after an outage: the message was not sent."""
        if not self._up.is_set():
            cause = self._error
            reason = f": {cause}" if cause is not None else ""
            raise BroadcastError(f"not connected to Redis at {self.where}{reason}; the message was not sent") \
                from cause
        try:
            await self._client.publish(channel, payload)
        except _CONNECTION_ERRORS as exc:
            raise BroadcastError(f"could not publish to Redis at {self.where}: {exc}") from exc

    # ------------------------------------------------------------------ the pub/sub connection
    async def _open(self) -> Any:
        """Connect the pub/sub connection and SUBSCRIBE every wanted channel in one command."""
        kwargs = dict(self._pool.connection_kwargs)
        kwargs["socket_timeout"] = None  # reads block until a message comes; _keepalive detects dead peers
        conn = self._pool.connection_class(**kwargs)
        try:
            await asyncio.wait_for(conn.connect(), self.connect_timeout)
        except BaseException:
            await _discard(conn)
            raise
        self._last_seen = asyncio.get_running_loop().time()
        # no await from here to the write below: a concurrent subscribe() must send after this batch
        channels = list(self._channels)
        self._conn = conn
        self._batch_left = len(channels)
        if not channels:
            self._set_up()
            return conn
        try:
            await asyncio.shield(conn.send_command("SUBSCRIBE", *channels, check_health=False))
        except BaseException:
            self._conn = None
            self._batch_left = 0
            await _discard(conn)
            raise
        return conn

    async def _run(self, conn: Any) -> None:
        """The reader: deliver messages until the connection is lost, then reconnect with backoff."""
        delay = 0.0
        while True:
            try:
                while True:
                    self._on_reply(await conn.read_response(disconnect_on_error=False, push_request=True))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error: BaseException = self._silent or exc
            self._silent = None
            if self._up.is_set():
                delay = 0.0  # it was working: try again at once (a restarted Redis is usually back already)
            self._lost(conn, error)
            await _discard(conn)
            await self._drop_publisher_connections()
            while True:
                if delay:
                    await asyncio.sleep(delay)
                delay = min(max(delay * 2, self.reconnect_delay), self.max_reconnect_delay)
                try:
                    conn = await self._open()
                    break
                except Exception as exc:  # keep trying whatever it is: publish reports it as the cause
                    self._error = exc
                    logger.debug("reconnecting to Redis at %s failed: %r", self.where, exc)

    def _on_reply(self, reply: Any) -> None:
        self._last_seen = asyncio.get_running_loop().time()
        if not isinstance(reply, list) or len(reply) < 3:
            return  # PONG
        kind = reply[0]
        if kind == b"message":
            deliver = self._deliver
            if deliver is not None:
                try:
                    deliver(reply[1].decode("utf-8", "surrogateescape"), reply[2])
                except Exception:
                    logger.exception("error delivering a broadcast message on %r", reply[1])
        elif kind == b"subscribe":
            if self._batch_left:
                self._batch_left -= 1
                if not self._batch_left:
                    self._set_up()
                return
            name = reply[1].decode("utf-8", "surrogateescape")
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

    def _lost(self, conn: Any, error: BaseException) -> None:
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

    async def _send(self, conn: Any, *command: Any) -> bool:
        """Send a command on the pub/sub connection if it is still the open one; False if it failed
        (the reader then reconnects). Never lets redis-py reconnect it behind the reader's back."""
        if self._conn is not conn or not conn.is_connected:
            return False
        try:
            # shielded: a caller cancelled mid-write must not cut the shared connection
            await asyncio.shield(conn.send_command(*command, check_health=False))
            return True
        except _CONNECTION_ERRORS as exc:
            logger.debug("sending %s to Redis at %s failed: %s", command[0], self.where, exc)
            await _discard(conn)  # the reader's pending read fails and it reconnects
            return False

    async def _keepalive(self) -> None:
        """PING the pub/sub connection; close it when nothing came back for two intervals (a dead peer)."""
        interval = self.health_check_interval
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            conn = self._conn
            if conn is None:
                continue
            silent = loop.time() - self._last_seen
            if silent > 2 * interval:
                self._silent = TimeoutError(f"no answer to PING for {silent:.1f} s")
                await _discard(conn)
            else:
                await self._send(conn, "PING")


async def _discard(conn: Any) -> None:
    try:
        await conn.disconnect(nowait=True)
    except Exception:  # already broken: nothing more to release
        pass


def _describe(kwargs: dict[str, Any], url: str) -> str:
    """host:port (or the socket path) for messages: never the password of the URL."""
    if kwargs.get("path"):
        return str(kwargs["path"])
    if kwargs.get("host"):
        return f"{kwargs['host']}:{kwargs.get('port', 6379)}"
    return url.split("@")[-1]
