"""FastrAPI chat: rooms, nicknames, join/leave notices and the last messages of each room, in the browser.

Run it:

    python3 examples/chat/app.py                                  # http://127.0.0.1:8000
    python3 examples/chat/app.py --host 0.0.0.0 --port 9000       # or CHAT_HOST / CHAT_PORT
    CHAT_BROADCAST_URL=redis://127.0.0.1:6379 python3 examples/chat/app.py   # several processes, one chat

Routes:
    GET  /                              the chat page (plain HTML + JS, no build step)
    WS   /ws/{room}?nick=NAME           join a room: the room's history, then its live messages and notices;
                                        every text message sent is relayed to the room
    GET  /asyncapi                      the WebSocket protocol, documented (AsyncAPI 3.0; /asyncapi.json)
    GET  /api/rooms                     [{"room": ..., "members": N}, ...]
    GET  /api/rooms/{room}/history      {"room": ..., "messages": [...]} (oldest first; ?limit=)
    POST /api/rooms/{room}/messages?nick=NAME   {"text": ...}: say something from outside a browser

Messages go out on ``app.broadcast`` (fastrapi.broadcast): in memory by default, through Redis when
``CHAT_BROADCAST_URL`` is a redis:// URL, in which case the history and the member counts live in Redis too
(redis.asyncio, imported only then).
"""
import argparse
import logging
import os
import re
import sys
import time
from collections import Counter, deque
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field

from fastrapi import FastrAPI, HTTPException, Path, Query, WebSocket
from fastrapi.broadcast import BroadcastError
from fastrapi.responses import HTMLResponse

logger = logging.getLogger("fastrapi.chat")

INDEX_HTML = (FilePath(__file__).resolve().parent / "static" / "index.html").read_text(encoding="utf-8")

#: the rooms always listed, even when empty
DEFAULT_ROOMS = ("lobby", "random")
#: messages kept per room and sent to a newcomer
HISTORY_SIZE = 50
MAX_TEXT = 2000
#: rooms known at once (listed or with history): a bound on what strangers can make the server remember
MAX_ROOMS = 100
#: names shown in the member list of a join/leave notice
MAX_ONLINE_LISTED = 100
ROOM_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
#: 1-32 characters, no control characters, no leading or trailing blank
NICK_PATTERN = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
_room_re = re.compile(ROOM_PATTERN)
_nick_re = re.compile(NICK_PATTERN)

Nick = Annotated[str, Query(min_length=1, max_length=32, pattern=NICK_PATTERN)]
Room = Annotated[str, Path(pattern=ROOM_PATTERN)]


def now_ms() -> int:
    return int(time.time() * 1000)


def nick_problem(nick: str) -> str | None:
    """Why ``nick`` is not a valid nickname, or None (the same rule as the HTTP routes' Query constraints)."""
    if not 1 <= len(nick) <= 32:
        return "invalid nickname: 1 to 32 characters"
    if not _nick_re.match(nick):
        return "invalid nickname: no control characters, no leading or trailing spaces"
    return None


def room_problem(room: str) -> str | None:
    if not _room_re.match(room):
        return "invalid room: 1 to 32 letters, digits, '-' or '_'"
    return None


def room_order(rooms: dict[str, int]) -> list[dict[str, Any]]:
    """The default rooms first, then the busiest."""
    listed = [{"room": name, "members": rooms.pop(name, 0)} for name in DEFAULT_ROOMS]
    rest = sorted(rooms.items(), key=lambda item: (-item[1], item[0]))
    return listed + [{"room": name, "members": count} for name, count in rest]


class MemoryStore:
    """History and presence kept in this process: what a single server needs (no await ever suspends here,
    so a newcomer's history and the live messages after it can't interleave)."""

    def __init__(self, history_size: int = HISTORY_SIZE) -> None:
        self.history_size = history_size
        self._history: dict[str, deque[dict[str, Any]]] = {}
        self._seq: dict[str, int] = {}
        self._members: dict[str, Counter[str]] = {}

    async def can_use(self, room: str) -> bool:
        """False when ``room`` is new and MAX_ROOMS rooms are already occupied; a new room beyond MAX_ROOMS
        known ones makes the empty room with the oldest last message forget its history."""
        if room in DEFAULT_ROOMS or room in self._members or room in self._history:
            return True
        if len(self._members.keys() | self._history.keys()) < MAX_ROOMS:
            return True
        idle = [name for name in self._history if name not in self._members and name not in DEFAULT_ROOMS]
        if not idle:
            return False
        oldest = min(idle, key=lambda name: self._history[name][-1]["ts"] if self._history[name] else 0)
        del self._history[oldest]
        self._seq.pop(oldest, None)
        return True

    async def add(self, room: str, message: dict[str, Any]) -> dict[str, Any]:
        """Give ``message`` the room's next id and keep it in the room's history."""
        message["id"] = self._seq[room] = self._seq.get(room, 0) + 1
        history = self._history.get(room)
        if history is None:
            history = self._history[room] = deque(maxlen=self.history_size)
        history.append(message)
        return message

    async def history(self, room: str, limit: int | None = None) -> list[dict[str, Any]]:
        messages = list(self._history.get(room, ()))
        return messages[-limit:] if limit else messages

    async def enter(self, room: str, nick: str) -> tuple[int, list[str]]:
        """Count one more connection of ``nick`` in ``room``; returns (connections, distinct nicks)."""
        members = self._members.setdefault(room, Counter())
        members[nick] += 1
        return self._presence(room)

    async def exit(self, room: str, nick: str) -> tuple[int, list[str]]:
        members = self._members.get(room)
        if members is not None:
            members[nick] -= 1
            if members[nick] <= 0:
                del members[nick]
            if not members:
                del self._members[room]
        return self._presence(room)

    def _presence(self, room: str) -> tuple[int, list[str]]:
        members = self._members.get(room) or Counter()
        return sum(members.values()), sorted(members)[:MAX_ONLINE_LISTED]

    async def rooms(self) -> dict[str, int]:
        """Every known room (default, occupied or with history) and its member count."""
        rooms = {name: 0 for name in self._history}
        rooms.update({name: sum(m.values()) for name, m in self._members.items()})
        return rooms

    async def close(self) -> None:
        pass


class RedisStore:
    """History (``LPUSH``/``LTRIM`` lists) and presence (a hash of nick -> connections per room) in Redis, so
    that every process behind a shared ``redis://`` broadcast shows the same room. A process that dies without
    saying goodbye leaves its members counted: fine for a demo."""

    def __init__(self, url: str, history_size: int = HISTORY_SIZE, prefix: str = "fastrapi-chat:") -> None:
        import redis.asyncio  # only when the chat is configured for Redis

        self.redis = redis.asyncio.from_url(url, decode_responses=True)
        self.history_size = history_size
        self.prefix = prefix

    def _key(self, room: str, what: str) -> str:
        return f"{self.prefix}{room}:{what}"

    async def can_use(self, room: str) -> bool:
        key = self.prefix + "rooms"
        return room in DEFAULT_ROOMS or bool(await self.redis.sismember(key, room)) or \
            await self.redis.scard(key) < MAX_ROOMS

    async def add(self, room: str, message: dict[str, Any]) -> dict[str, Any]:
        import orjson

        message["id"] = await self.redis.incr(self._key(room, "seq"))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self.prefix + "rooms", room)
            pipe.lpush(self._key(room, "history"), orjson.dumps(message))
            pipe.ltrim(self._key(room, "history"), 0, self.history_size - 1)
            await pipe.execute()
        return message

    async def history(self, room: str, limit: int | None = None) -> list[dict[str, Any]]:
        import orjson

        end = (limit or self.history_size) - 1
        raw = await self.redis.lrange(self._key(room, "history"), 0, end)
        return [orjson.loads(item) for item in reversed(raw)]

    async def enter(self, room: str, nick: str) -> tuple[int, list[str]]:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self.prefix + "rooms", room)
            pipe.hincrby(self._key(room, "members"), nick, 1)
            await pipe.execute()
        return await self._presence(room)

    async def exit(self, room: str, nick: str) -> tuple[int, list[str]]:
        key = self._key(room, "members")
        if await self.redis.hincrby(key, nick, -1) <= 0:
            await self.redis.hdel(key, nick)
        return await self._presence(room)

    async def _presence(self, room: str) -> tuple[int, list[str]]:
        members = await self.redis.hgetall(self._key(room, "members"))
        counts = {nick: int(n) for nick, n in members.items() if int(n) > 0}
        return sum(counts.values()), sorted(counts)[:MAX_ONLINE_LISTED]

    async def rooms(self) -> dict[str, int]:
        names = sorted(await self.redis.smembers(self.prefix + "rooms"))
        rooms = {}
        for name in names:
            values = await self.redis.hvals(self._key(name, "members"))
            rooms[name] = sum(max(int(v), 0) for v in values)
        return rooms

    async def close(self) -> None:
        await self.redis.aclose()


class Say(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT)


# The WebSocket protocol of /ws/{room}, declared on the route: the page at /asyncapi documents it (AsyncAPI 3.0)
# and ws.receive_model() / ws.send_model() check it. The client sends plain text messages (a ``str`` type is the
# text message itself, not JSON); the server sends one JSON object per event, told apart by ``type``.
ChatText = Annotated[str, Field(description=f"What to say: plain text, 1 to {MAX_TEXT} characters, not blank")]


class ChatMessage(BaseModel):
    """Something said in the room (relayed to every member, the sender included)."""

    type: Literal["message"]
    room: str
    nick: str
    text: str
    ts: int = Field(description="When it was said: milliseconds since the epoch")
    id: int = Field(description="The room's message number, from 1")


class History(BaseModel):
    """The room's last messages, oldest first: the first thing a newcomer gets."""

    type: Literal["history"]
    room: str
    messages: list[ChatMessage]


class Notice(BaseModel):
    """Someone joined or left the room."""

    type: Literal["join", "leave"]
    room: str
    nick: str
    text: str
    ts: int
    members: int = Field(description="Connections in the room now")
    online: list[str] = Field(description=f"Nicknames in the room (the first {MAX_ONLINE_LISTED})")


class ChatError(BaseModel):
    """A message the server refused, told to its sender only."""

    type: Literal["error"]
    room: str
    nick: str
    text: str
    ts: int


ServerEvent = Annotated[Union[History, ChatMessage, Notice, ChatError], Field(discriminator="type")]


def create_app(broadcast_url: str | None = None, history_size: int = HISTORY_SIZE,
               store: "MemoryStore | RedisStore | None" = None) -> FastrAPI:
    """Build a chat app: ``broadcast_url`` None or ``memory://`` keeps everything in this process; a
    ``redis://`` URL shares the rooms, their history and member counts between processes (``store``: where
    history and presence live, by default chosen from the URL)."""
    app = FastrAPI(broadcast=broadcast_url) if broadcast_url else FastrAPI()
    if store is None:
        url = app.broadcast.url
        if url.split(":", 1)[0].lower() in ("redis", "rediss", "unix"):
            store = RedisStore(url, history_size)
        else:
            store = MemoryStore(history_size)
    app.add_event_handler("shutdown", store.close)
    app.state.store = store

    async def publish(room: str, message: dict[str, Any]) -> None:
        try:
            await app.broadcast.publish(room, message)
        except BroadcastError:
            logger.warning("could not publish to room %r", room)

    async def notice(kind: str, room: str, nick: str) -> None:
        members, online = await (store.enter(room, nick) if kind == "join" else store.exit(room, nick))
        verb = "joined" if kind == "join" else "left"
        await publish(room, {"type": kind, "room": room, "nick": nick, "text": f"{nick} {verb}",
                             "ts": now_ms(), "members": members, "online": online})

    async def say(room: str, nick: str, text: str) -> dict[str, Any]:
        message = await store.add(room, {"type": "message", "room": room, "nick": nick, "text": text,
                                         "ts": now_ms()})
        await publish(room, message)
        return message

    @app.get("/")
    async def index():
        return HTMLResponse(INDEX_HTML)

    @app.get("/api/rooms")
    async def rooms():
        return room_order(await store.rooms())

    @app.get("/api/rooms/{room}/history")
    async def history(room: Room, limit: Annotated[int | None, Query(ge=1, le=store.history_size)] = None):
        return {"room": room, "messages": await store.history(room, limit)}

    @app.post("/api/rooms/{room}/messages", status_code=201)
    async def post_message(room: Room, nick: Nick, body: Say):
        if not await store.can_use(room):
            raise HTTPException(409, f"too many rooms (at most {MAX_ROOMS})")
        return await say(room, nick, body.text)

    @app.websocket("/ws/{room}", receive=ChatText, send=ServerEvent, summary="Chat in a room", tags=["chat"])
    async def chat(ws: WebSocket, room: Annotated[str, Path(description="1 to 32 letters, digits, '-' or '_'")],
                   nick: Annotated[str, Query(description="Your nickname: 1 to 32 characters")] = ""):
        """Join ``room`` as ``nick``: the room's history comes first, then its live messages and join/leave
        notices. Every text message sent is relayed to the room. A bad room or nickname closes the connection
        with 1008 and the reason."""
        await ws.accept()  # accept first: a refusal after it has a close code and reason the page can show
        problem = nick_problem(nick) or room_problem(room)
        if problem is None and not await store.can_use(room):
            problem = f"too many rooms (at most {MAX_ROOMS})"
        if problem is not None:
            await ws.close(1008, problem)
            return
        await ws.join(room)  # before reading the history: nothing published after it is missed
        await ws.send_model({"type": "history", "room": room, "messages": await store.history(room)})
        await notice("join", room, nick)
        try:
            while True:
                try:
                    text = await ws.receive_model()  # the text message itself (the route's ``str`` type)
                except TypeError:  # a binary message
                    await ws.send_model(error(room, nick, "send text messages, not binary"))
                    continue
                if len(text) > MAX_TEXT:
                    await ws.send_model(error(room, nick, f"message too long: {len(text)} characters "
                                                          f"(at most {MAX_TEXT})"))
                elif not text.strip():
                    await ws.send_model(error(room, nick, "empty message"))
                else:
                    await say(room, nick, text)
        except ConnectionError:  # WebSocketDisconnect: the page closed or switched rooms
            pass
        finally:
            await notice("leave", room, nick)

    return app


def error(room: str, nick: str, text: str) -> dict[str, Any]:
    """An error for the sender only."""
    return {"type": "error", "room": room, "nick": nick, "text": text, "ts": now_ms()}


app = create_app(os.environ.get("CHAT_BROADCAST_URL") or None,
                 int(os.environ.get("CHAT_HISTORY", HISTORY_SIZE)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="FastrAPI chat demo")
    parser.add_argument("--host", default=os.environ.get("CHAT_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("CHAT_PORT", "8000")))
    args = parser.parse_args(argv)
    where = app.broadcast.url
    print(f"FastrAPI chat on http://{args.host}:{args.port}/  (broadcast: {where}; Ctrl-C to stop)", flush=True)
    # 2000 characters are at most 8000 bytes: a bigger WebSocket message is refused whole (close 1009)
    app.serve(host=args.host, port=args.port, ws_max_size=64 * 1024)


if __name__ == "__main__":
    main(sys.argv[1:])
