"""Turning bytes from ``…/cmd`` into a governor command, or a precise refusal.

Whatever arrives, the answer is exactly one of: a :class:`Command` for the
station, or a :class:`CommandResultPayload` saying what was wrong (field and
expectation). Nothing here raises, and nothing here touches the belt.
"""

from __future__ import annotations

import json
import math

from pydantic import ValidationError

from ..safety.events import Command, CommandKind
from ..validation import describe
from .payloads import CommandPayload, CommandResultPayload

MAX_PAYLOAD = 4096


def _refuse(command_id: str | None, error: str) -> CommandResultPayload:
    return CommandResultPayload(id=command_id, ok=False, error=error)


def _id_of(data: object) -> str | None:
    if isinstance(data, dict):
        value = data.get("id")
        if isinstance(value, str) and 0 < len(value) <= 64:
            return value
    return None


def parse_command(
    raw: bytes, *, retained: bool, wall_now: float, session_now: float, source: str = "mqtt"
) -> Command | CommandResultPayload:
    """A Command for the station, or the refusal to publish on ``…/cmd/result``."""
    if len(raw) > MAX_PAYLOAD:
        return _refuse(None, f"payload is {len(raw)} bytes; at most {MAX_PAYLOAD}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return _refuse(None, f"not JSON: {exc}")
    command_id = _id_of(data)
    if retained:
        return _refuse(command_id, "retained commands are ignored (publish with retain=false)")
    try:
        payload = CommandPayload.model_validate(data)
    except ValidationError as exc:
        return _refuse(command_id, describe(exc))
    if isinstance(payload.value, float) and not math.isfinite(payload.value):
        return _refuse(payload.id, "value: must be a finite number")
    issued_at = None
    if payload.ts is not None:
        if not math.isfinite(payload.ts):
            return _refuse(payload.id, "ts: must be a finite number")
        issued_at = session_now - max(0.0, wall_now - payload.ts)
    ttl_s = payload.ttl_ms / 1000 if payload.ttl_ms is not None else None
    return Command(
        payload.id,
        CommandKind(payload.cmd),
        payload.value,
        issued_at=issued_at,
        ttl_s=ttl_s,
        source=source,
    )
