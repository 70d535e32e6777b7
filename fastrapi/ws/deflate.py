"""permessage-deflate (RFC 7692): negotiation of the client's offer and per-message (de)compression."""
from __future__ import annotations

import zlib

from .frames import ProtocolError

_TAIL = b"\x00\x00\xff\xff"

# Messages shorter than this go out uncompressed (RSV1 clear), which RFC 7692 allows per message:
# deflate can't shrink them and it would cost more than the whole send.
MIN_COMPRESS_SIZE = 64


class PerMessageDeflate:
    """One connection's negotiated permessage-deflate state."""

    __slots__ = (
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "_compressor",
        "_decompressor",
    )

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int = 15,
        client_max_window_bits: int = 15,
    ) -> None:
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self._compressor: "zlib._Compress | None" = None
        self._decompressor: "zlib._Decompress | None" = None

    # -- negotiation -------------------------------------------------------------------------------
    @classmethod
    def negotiate(cls, headers: list[tuple[bytes, bytes]]) -> "tuple[bytes, PerMessageDeflate] | None":
        """Accept the first acceptable permessage-deflate offer: (response header value, state) or None."""
        for name, value in headers:
            if name != b"sec-websocket-extensions":
                continue
            for offer in value.decode("latin-1").split(","):
                accepted = cls._accept_offer(offer)
                if accepted is not None:
                    return accepted
        return None

    @classmethod
    def _accept_offer(cls, offer: str) -> "tuple[bytes, PerMessageDeflate] | None":
        parts = [p.strip() for p in offer.split(";")]
        if parts[0].lower() != "permessage-deflate":
            return None
        seen: set[str] = set()
        snct = cnct = False
        smwb: int | None = None
        cmwb: int | None = None
        cmwb_offered = False
        for param in parts[1:]:
            if not param:
                return None
            key, _, val = param.partition("=")
            key = key.strip().lower()
            val = val.strip().strip('"')
            if key in seen:
                return None  # a parameter may appear once (RFC 7692 section 7)
            seen.add(key)
            if key == "server_no_context_takeover":
                if val:
                    return None
                snct = True
            elif key == "client_no_context_takeover":
                if val:
                    return None
                cnct = True
            elif key == "server_max_window_bits":
                if not (val.isdigit() and 8 <= int(val) <= 15) or val != str(int(val)):
                    return None
                smwb = int(val)
            elif key == "client_max_window_bits":
                cmwb_offered = True
                if val:
                    if not (val.isdigit() and 8 <= int(val) <= 15) or val != str(int(val)):
                        return None
                    cmwb = int(val)
            else:
                return None
        # zlib cannot compress with a 256-byte window (it silently uses 512), so an offer that demands it
        # is declined rather than answered with a stream the client might not be able to inflate.
        if smwb == 8:
            return None
        response = ["permessage-deflate"]
        if snct:
            response.append("server_no_context_takeover")
        if cnct:
            response.append("client_no_context_takeover")
        if smwb is not None:
            response.append(f"server_max_window_bits={smwb}")
        if cmwb_offered and cmwb is not None:
            response.append(f"client_max_window_bits={cmwb}")
        state = cls(snct, cnct, smwb or 15, cmwb or 15)
        return "; ".join(response).encode("latin-1"), state

    # -- compression -------------------------------------------------------------------------------
    def compress(self, data: bytes) -> bytes:
        """Deflate one whole message (without the 00 00 ff ff tail)."""
        comp = self._compressor
        if comp is None:
            comp = self._compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.server_max_window_bits)
        flush = zlib.Z_FULL_FLUSH if self.server_no_context_takeover else zlib.Z_SYNC_FLUSH
        return _strip_tail(comp.compress(data) + comp.flush(flush))

    def reset_compressor(self) -> None:
        """Start the next message with an empty window: a message compressed elsewhere (a broadcast frame)
        was sent in between, so earlier history no longer lines up with the peer's."""
        self._compressor = None

    def decompress(self, data: bytes, final: bool, limit: int) -> bytes:
        """Inflate one fragment of a compressed message; ``limit`` bytes at most, else close 1009.

        ``final`` marks the message's last fragment, after which the RFC's 00 00 ff ff tail is appended.
        """
        d = self._decompressor
        if d is None:
            d = self._decompressor = zlib.decompressobj(-15)
        if final:
            data = data + _TAIL
        try:
            out = d.decompress(data, limit + 1)
        except zlib.error as exc:
            raise ProtocolError(1007, f"invalid compressed data: {exc}") from None
        if len(out) > limit or d.unconsumed_tail:
            raise ProtocolError(1009, "message too big")
        if final and self.client_no_context_takeover:
            self._decompressor = None
        return out


def compress_standalone(data: bytes, window_bits: int) -> bytes:
    """Deflate one message with a fresh compressor: it refers to nothing sent before, so any peer that
    negotiated ``window_bits`` can inflate it whatever its history (broadcast frames shared by many)."""
    comp = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -window_bits)
    return _strip_tail(comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH))


def _strip_tail(out: bytes) -> bytes:
    """RFC 7692 7.2.1: the 00 00 ff ff of the final flush is not sent (an empty block stands for nothing)."""
    if out.endswith(_TAIL):
        out = out[:-4]
    return out or b"\x00"
