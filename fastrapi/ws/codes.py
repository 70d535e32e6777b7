"""Named WebSocket states and close codes (RFC 6455 7.4.1, IANA registry): one definition for every layer.

Both are IntEnums, so they compare equal to the plain ints the seed's API documents (``client_state == 1``,
``close_code == 1000``).
"""
from __future__ import annotations

from enum import IntEnum

__all__ = ["CloseCode", "State"]


class State(IntEnum):
    """A side of a connection: ours (``application_state``) or the peer's (``client_state``)."""

    CONNECTING = 0  #: before the handshake's answer
    CONNECTED = 1
    DISCONNECTED = 3  #: a close frame went (ours) or came (theirs), or TCP is gone
    RESPONSE = 4  #: (Starlette's: the handshake was answered with an HTTP response)


class CloseCode(IntEnum):
    """Close frame status codes."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001  #: the server shuts down
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005  #: never sent: a close frame without a code
    ABNORMAL_CLOSURE = 1006  #: never sent: TCP closed without a close frame
    INVALID_DATA = 1007  #: e.g. invalid UTF-8 in a text message
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  #: never sent
