"""FastrAPI's own HTTP/1.1 + WebSocket server on uvloop and httptools."""
from .config import ServerConfig
from .server import Server

__all__ = ["Server", "ServerConfig"]
