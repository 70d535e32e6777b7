"""``fastrapi.request``: the original FastrAPI's module name for the request classes (``fastrapi.requests``)."""
from .requests import HTTPConnection, Request

__all__ = ["HTTPConnection", "Request"]
