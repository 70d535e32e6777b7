"""The WebSocket wire protocol (RFC 6455 + RFC 7692): framing, handshake and permessage-deflate.

Sans-I/O helpers with no asyncio in them; the connection state machine that uses them lives in
``fastrapi.server.websocket``.
"""
