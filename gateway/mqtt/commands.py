"""Turning bytes from ``…/cmd`` into a governor command, or a precise refusal.

Whatever arrives, the answer is exactly one of: a :class:`Command` for the
station, or a :class:`CommandResultPayload` saying what was wrong (field and
expectation). Nothing here raises, and nothing here touches the belt.
"""

from __future__ import annotations

import json
import math

from pydantic import ValidationError

from ..contract.payloads import CommandPayload, CommandResultPayload
from ..safety.events import Command, CommandKind
from ..validation import describe

MAX_PAYLOAD = 4096
MAX_SKEW_S = 2.0  # a command stamped further in the future than this is refused
MAX_TOPIC = 256


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """JSON objects with a key twice are refused: which one wins is up to the parser."""
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(f"key {key!r} appears twice")
        seen[key] = value
    return seen


def response_topic_error(topic: str, namespace: str) -> str | None:
    """Why an MQTT v5 response topic is refused, or None.

    Replies go only under the documented reply namespace
    (``<prefix>/reply/…``): otherwise a client allowed to write commands
    could make the gateway publish, with its rights, into any topic (its
    telemetry, the command topic itself). Wildcards cannot be published to.
    """
    if not topic or len(topic) > MAX_TOPIC:
        return f"response_topic: 1 to {MAX_TOPIC} characters"
    if any(c in topic for c in "+#\0"):
        return "response_topic: no wildcards (+, #) or NUL"
    if not topic.startswith(namespace) or topic == namespace:
        return f"response_topic: must be under {namespace} (the reply namespace)"
    return None


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
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        return _refuse(None, f"not a command: {exc}")
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
        ahead = payload.ts - wall_now
        if ahead > MAX_SKEW_S:
            return _refuse(
                payload.id,
                f"ts: {ahead:.1f} s in the future (clock skew allowed: {MAX_SKEW_S:g} s; "
                "is this client's clock right?)",
            )
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
