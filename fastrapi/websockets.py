"""FastAPI's ``fastapi.websockets``: the WebSocket a handler gets, its states and the disconnect exception."""
from .exceptions import WebSocketDisconnect as WebSocketDisconnect
from .websocket import WebSocket as WebSocket
from .websocket import WebSocketState as WebSocketState

__all__ = ["WebSocket", "WebSocketDisconnect", "WebSocketState"]
