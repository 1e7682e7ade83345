"""What the coach needs of a recorded session, read from the store (the same rows as the exports).

Interventions are the governor's decisions that changed what the runner
asked for or did to keep them safe; the plan's routine steps (ramps, segment
speeds, commands carried out) are not. The heart-rate ceiling counts on its
own: a session that reached it is no reason to go faster.
"""

from __future__ import annotations

import dataclasses
import json
import statistics

from ..safety.actions import Rule
from ..workout.coach import SessionFacts
from .db import SessionInfo, SessionSource
from .export import rows
from .timeline import Row, laps_with_rows

INTERVENTIONS = frozenset(
    {
        Rule.CORRECT_OVERSPEED,
        Rule.CORRECT_TARGET,
        Rule.ESCALATE,
        Rule.HR_LOST,
        Rule.DATA_LOST,
        Rule.RESTART,
        Rule.CONTROL_LOST,
    }
)
HR_CEILING = frozenset({Rule.HR_CEILING, Rule.HR_PAUSE})
KIND = "coach/2"  # the facts' name among what the store keeps per ended session (2: held
# speeds, not lap averages: facts kept under "coach" are read again)
MIN_STRETCH_M = 10.0  # a shorter "backward lap" is a turnaround's tail, not a stretch


def facts_of(store: SessionSource, info: SessionInfo) -> SessionFacts:
    """One session, as the coach sees it (an ended one read once, then kept)."""
    kept = store.cached(info.id, KIND) if info.ended is not None else None
    if kept is not None:
        return SessionFacts(**kept)
    facts = _read(store, info)
    if info.ended is not None:
        store.keep(info.id, KIND, dataclasses.asdict(facts))
    return facts


def _read(store: SessionSource, info: SessionInfo) -> SessionFacts:
    interventions = hr_ceiling = 0
    finished = False
    for _, kind, body in store.iter_events(info.id):
        data = json.loads(body)
        if kind == "decision":
            rule = data.get("rule")
            if rule in INTERVENTIONS and not str(data.get("action", "")).startswith("refused"):
                interventions += 1
            elif rule in HR_CEILING:
                hr_ceiling += 1
        elif kind == "alert" and data.get("code") == "plan_done":
            finished = True
    backward = [
        (lap, held)
        for lap, lap_rows in laps_with_rows(rows(store, info.id))
        if lap.direction == "backward" and lap.distance_m >= MIN_STRETCH_M
        and (held := held_kmh(lap_rows)) is not None
    ]  # fmt: skip
    return SessionFacts(
        started=info.started,
        backward_stretches=len(backward),
        backward_m=max((lap.distance_m for lap, _ in backward), default=0.0),
        backward_kmh=statistics.median(held for _, held in backward) if backward else 0.0,
        finished=finished,
        interventions=interventions,
        hr_ceiling=hr_ceiling,
    )


def held_kmh(lap: list[Row]) -> float | None:
    """The speed a backward stretch held: the median belt speed while the runner faced
    backward. Not the lap's average, which counts the slow-down for the turn, the dwell
    and the ramp (a clean 50 m at 4.5 km/h averaged 4.0, and the coach stepped down)."""
    speeds = [r.speed_kmh for r in lap if r.direction == "backward" and r.speed_kmh]
    return statistics.median(speeds) if speeds else None


def history(store: SessionSource, station: str | None = None) -> list[SessionFacts]:
    """Every ended session (of one station, in an archive of many), oldest first."""
    ended = [
        info
        for info in store.sessions()
        if info.ended is not None and station in (None, info.station)
    ]
    return [facts_of(store, info) for info in sorted(ended, key=lambda i: i.started)]
