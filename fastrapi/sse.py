"""FastAPI's ``fastapi.sse`` (Server-Sent Events).

NOTE: ``EventSourceResponse``, ``ServerSentEvent``, ``format_sse_event`` and ``KEEPALIVE_COMMENT`` (streaming
path operations, issue 10 items 4-5) are built on their own branch; this module only re-exports what exists
so far, so that ``import fastrapi.sse`` works. That branch's ``fastrapi/sse.py`` replaces this one.
"""
from .responses import StreamingResponse as StreamingResponse

__all__ = ["StreamingResponse"]
