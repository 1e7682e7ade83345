"""``retrogate decode KIND HEX``: turn captured bytes into a readable record.

Users paste captures from their own treadmills into bug reports with this,
so every failure says exactly what was wrong and the next line still runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import RetrogateError

if TYPE_CHECKING:
    pass


_SEPARATORS = str.maketrans("", "", " :\t-")


class HexError(RetrogateError):
    """The text is not a hex string."""


def parse_hex(text: str) -> bytes:
    """Hex digits, optionally split by spaces, colons or dashes, optional 0x prefix."""
    compact = text.strip()
    if compact[:2].lower() == "0x":
        compact = compact[2:]
    compact = compact.translate(_SEPARATORS)
    if not compact:
        raise HexError("no hex digits")
    for i, char in enumerate(compact):
        if char not in "0123456789abcdefABCDEF":
            raise HexError(f"{char!r} is not a hex digit (digit {i + 1})")
    if len(compact) % 2:
        raise HexError(f"odd number of hex digits ({len(compact)}); each byte needs two")
    return bytes.fromhex(compact)


def decode_line(kind: str, text: str) -> dict[str, Any]:
    """Decode one hex string as ``kind``; raises HexError or FtmsDecodeError."""
    from ..ftms import DECODERS, to_jsonable

    return to_jsonable(DECODERS[kind](parse_hex(text)))


def _one(kind: str, text: str, where: str, out: TextIO, err: TextIO) -> bool:
    from ..ftms import FtmsDecodeError

    try:
        record = decode_line(kind, text)
    except HexError as exc:
        print(f"error: {where}bad hex: {exc}", file=err)
        return False
    except FtmsDecodeError as exc:
        print(f"error: {where}{exc}", file=err)
        return False
    print(json.dumps(record, ensure_ascii=False), file=out)
    return True


def run(args: argparse.Namespace) -> int:
    """Decode the argument, or every line of stdin for ``-``."""
    out, err = sys.stdout, sys.stderr
    if args.hex == ["-"]:
        ok = True
        for number, line in enumerate(sys.stdin, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            ok = _one(args.kind, line, f"line {number}: ", out, err) and ok
            out.flush()
        return 0 if ok else 1
    return 0 if _one(args.kind, " ".join(args.hex), "", out, err) else 1


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``decode``."""
    from ..ftms import DECODERS

    parser = sub.add_parser(
        "decode",
        help="decode a captured FTMS / Heart Rate frame to JSON",
        description=(
            "Decode one frame given as hex (spaces and colons allowed) and print it as "
            "JSON with the canonical field names. With '-' read one hex string per line "
            "from stdin. Exit status 1 if any input failed."
        ),
    )
    parser.add_argument("kind", metavar="KIND", choices=sorted(DECODERS), help=", ".join(DECODERS))
    parser.add_argument("hex", metavar="HEX", nargs="+", help="the frame as hex, or - for stdin")
    parser.set_defaults(run=run)
