"""The codec's own error types.

Decoders raise only :class:`FtmsDecodeError` (or its subclass), whatever the
bytes, so callers on the BLE hot path can count and skip a bad frame with one
``except`` and never crash the session.
"""

from __future__ import annotations

from ..errors import RetrogateError


class FtmsError(RetrogateError, ValueError):
    """Base of every error the codec raises on purpose."""


class FtmsDecodeError(FtmsError):
    """A frame gave no usable record (too short, unknown op code, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class UnsupportedOpCode(FtmsDecodeError):
    """A control-point request named an op code the codec does not know.

    Carries the op code so a peripheral can answer "op code not supported".
    """

    def __init__(self, kind: str, op_code: int) -> None:
        super().__init__(kind, f"op code 0x{op_code:02x} is not supported")
        self.op_code = op_code


class FtmsEncodeError(FtmsError):
    """A record cannot be put on the wire (value out of range, bad resolution)."""
