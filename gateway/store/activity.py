"""A recorded session as the activity a training service receives.

The file is the FIT that ``retrogate export`` writes, byte for byte: built
from the ended session alone, so every attempt sends the same bytes and a
service that checks for duplicates by content recognises a second attempt.
"""

from __future__ import annotations

from dataclasses import dataclass

from .db import SessionStore, StoreError
from .export import rows, to_fit
from .timeline import laps_with_rows, totals


@dataclass(frozen=True, slots=True)
class Activity:
    """What an upload sends: the file and the words around it."""

    session: int
    external_id: str  # ours, unique per session across gateways and stations
    filename: str
    fit: bytes
    name: str
    description: str
    walked: bool


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02}"


def activity_name(plan: str | None, walked: bool) -> str:
    """After the plan ("retro-run-intervals" → "Retro run intervals"), else what it was."""
    if plan:
        words = plan.replace("_", " ").replace("-", " ").strip()
        return words[:1].upper() + words[1:]
    return "Treadmill walk" if walked else "Treadmill run"


def activity_of(store: SessionStore, session: int) -> Activity:
    """The session as an activity (StoreError if it has no treadmill record to send)."""
    info = store.session(session)
    data = rows(store, session)
    if not data:
        raise StoreError(f"session {session} has no treadmill records: nothing to upload")
    whole = totals(data)
    backward = [lap for lap, _ in laps_with_rows(data) if lap.direction == "backward"]
    back_m = sum(lap.distance_m for lap in backward)
    back_s = sum(lap.time_s for lap in backward)
    kind = "walk" if whole.walked else "run"
    lines = [f"Treadmill {kind} with retrogate: {whole.distance_m / 1000:.2f} km in "
             f"{_clock(whole.time_s)}."]  # fmt: skip
    if backward:
        lines.append(
            f"Backward: {back_m:.0f} m in {len(backward)} "
            f"stretch{'es' if len(backward) != 1 else ''} ({_clock(back_s)})."
        )
    else:
        lines.append("Backward: none.")
    lines.append(f"Plan: {info.plan or 'free run'}. Session {info.id} on {info.station}.")
    return Activity(
        session=session,
        external_id=f"retrogate-{info.gateway}-{info.station}-{info.id}",
        filename=f"retrogate-{info.gateway}-{info.station}-{info.id}.fit",
        fit=to_fit(info, data),
        name=activity_name(info.plan, whole.walked),
        description="\n".join(lines),
        walked=whole.walked,
    )
