"""Records as plain JSON-ready dicts with the canonical field names (FTMS.md).

One vocabulary everywhere: the ``decode`` command, MQTT payloads and the
session store all go through this, so a field is named the same in each.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, NamedTuple


def _plain(value: object) -> object:
    if isinstance(value, IntEnum):
        return value.name.lower()
    if isinstance(value, bytes):
        return value.hex(" ")
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def to_jsonable(record: NamedTuple) -> dict[str, Any]:
    """A record as a dict: absent fields and empty warnings are left out."""
    out: dict[str, Any] = {}
    for name, value in zip(record._fields, record, strict=True):
        if value is None or (name in ("warnings", "parameter") and not value):
            continue
        out[name] = _plain(value)
    if getattr(record, "more_data", False):
        out["more_data"] = True
    return out
