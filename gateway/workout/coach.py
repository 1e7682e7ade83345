"""The coach: from the sessions so far to the next one, the way the practice says (pure).

The practice (docs/energy.md, "Practice"; the rules and their sources are in
docs/coach.md): learn backward walking before backward running, keep
backward stretches short (50-100 m) at first, and increase gradually. The
coach walks a ladder of rungs, one variable at a time:

* walking first: 2.0 → 3.5 km/h, each speed at 50, 75, then 100 m;
* running after ``WALK_SESSIONS_BEFORE_RUNNING`` clean walking sessions at the
  top of the walking ladder: 4.0 km/h up to the backward cap, again each
  speed at 50, 75, then 100 m before the speed goes up by 0.5 km/h (and the
  stretch back to 50 m);
* never a step up after a session with a safety intervention, a heart-rate
  ceiling event or an unfinished plan: the same session again, and one rung
  down after two such sessions in a row;
* one rung down after 14 days without a session, two after 28;
* never above the runner's backward cap, or a rehabilitation profile's lower
  ceiling: only the runner's config moves those.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from ..safety.direction import Direction
from .plan import Plan, Segment

Experience = Literal["new", "experienced", "rehabilitation"]

STRETCHES_M = (50.0, 75.0, 100.0)
WALK_KMH = (2.0, 2.5, 3.0, 3.5)
RUN_FROM_KMH = 4.0
RUN_STEP_KMH = 0.5
WALK_SESSIONS_BEFORE_RUNNING = 3
GAP_STEP_BACK_DAYS = 14
REPS = 6
WARM_UP_S = 600  # ten minutes of forward walking first (the practice's warm-up)
RECOVERY_S = 120
COOL_DOWN_S = 300


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What the coach needs of one recorded session."""

    started: float  # unix time
    backward_stretches: int
    backward_m: float  # the longest backward stretch
    backward_kmh: float  # the speed the backward stretches held (median belt speed facing back)
    finished: bool  # the plan ran to its end
    interventions: int  # safety interventions (not the routine ramps and segments)
    hr_ceiling: int  # heart-rate ceiling step-downs and pauses

    @property
    def clean(self) -> bool:
        """Nothing that forbids a step up."""
        return self.finished and not self.interventions and not self.hr_ceiling


@dataclass(frozen=True, slots=True)
class Rung:
    """One step of the ladder: how fast and how far backward."""

    kmh: float
    stretch_m: float

    @property
    def walking(self) -> bool:
        """Backward walking (below the running speeds)."""
        return self.kmh < RUN_FROM_KMH

    def __str__(self) -> str:
        how = "walking" if self.walking else "running"
        return f"{REPS} x {self.stretch_m:.0f} m backward {how} at {self.kmh:g} km/h"


@dataclass(frozen=True, slots=True)
class Proposal:
    """The next session and why."""

    rung: Rung
    plan: Plan
    reasons: list[str]


def top_kmh(cap_kmh: float, ceiling_kmh: float | None) -> float:
    """The fastest backward rung: the cap, or a lower rehabilitation ceiling."""
    return min(cap_kmh, ceiling_kmh) if ceiling_kmh is not None else cap_kmh


def ladder(top_kmh: float) -> list[Rung]:
    """Every rung up to ``top_kmh`` (the cap, or a rehabilitation ceiling), slowest first."""
    speeds = [s for s in WALK_KMH if s <= top_kmh]
    run = RUN_FROM_KMH
    while run <= top_kmh + 1e-9:
        speeds.append(run)
        run = round(run + RUN_STEP_KMH, 1)
    if not speeds:
        speeds = [top_kmh]
    return [Rung(kmh, m) for kmh in speeds for m in STRETCHES_M]


def start_rung(experience: Experience, rungs: list[Rung]) -> int:
    """Where a runner with no (recent) sessions starts."""
    if experience == "experienced":
        running = [i for i, r in enumerate(rungs) if not r.walking]
        return running[0] if running else len(rungs) - 1
    return 0


def rung_of(facts: SessionFacts, rungs: list[Rung]) -> int:
    """The rung a session was at: the closest speed, then the closest stretch not above it."""
    speeds = sorted({r.kmh for r in rungs})
    kmh = min(speeds, key=lambda s: (abs(s - facts.backward_kmh), s))
    fitting = [
        i for i, r in enumerate(rungs) if r.kmh == kmh and r.stretch_m <= facts.backward_m + 5
    ]
    same_speed = [i for i, r in enumerate(rungs) if r.kmh == kmh]
    return fitting[-1] if fitting else same_speed[0]


def propose(
    history: list[SessionFacts],
    *,
    now: float,
    cap_kmh: float,
    experience: Experience = "new",
    ceiling_kmh: float | None = None,
) -> Proposal:
    """The next session from the sessions so far (oldest first)."""
    top = top_kmh(cap_kmh, ceiling_kmh)
    rungs = ladder(top)
    backward = [f for f in history if f.backward_stretches > 0]
    if not backward:
        at = start_rung(experience, rungs)
        reasons = [f"no backward session recorded yet: start with {rungs[at]}"]
        if rungs[at].walking:
            reasons.append("backward walking comes before backward running")
        return _proposal(rungs[at], reasons)
    last = backward[-1]
    at = rung_of(last, rungs)
    reasons = [f"last session ({_day(last.started)}): {_describe(last, rungs[at])}"]
    days = (now - last.started) / 86400
    if days >= GAP_STEP_BACK_DAYS:
        back = 2 if days >= 2 * GAP_STEP_BACK_DAYS else 1
        at = max(0, at - back)
        reasons.append(f"{days:.0f} days since then: {back} step{'s' if back > 1 else ''} back")
        return _proposal(rungs[at], reasons)
    if not last.clean:
        troubled = 0
        for facts in reversed(backward):
            if facts.clean:
                break
            troubled += 1
        if troubled >= 2:
            at = max(0, at - 1)
            reasons.append("two sessions in a row with trouble: one step back")
        else:
            reasons.append("no step up after a session with trouble: the same again")
        return _proposal(rungs[at], reasons)
    if at + 1 >= len(rungs):
        reasons.append(f"the top of the ladder under the {top:g} km/h ceiling: the same again")
        return _proposal(rungs[at], reasons)
    here, up = rungs[at], rungs[at + 1]
    if here.walking and not up.walking:
        walked = sum(1 for f in backward if f.clean and rung_of(f, rungs) == at)
        if walked < WALK_SESSIONS_BEFORE_RUNNING:
            reasons.append(
                f"{walked} of {WALK_SESSIONS_BEFORE_RUNNING} clean sessions at the top of backward "
                "walking before backward running: the same again"
            )
            return _proposal(here, reasons)
        reasons.append(
            f"{walked} clean sessions of backward walking at {here.kmh:g} km/h: on to running"
        )
    elif up.kmh == here.kmh:
        reasons.append(f"next: {up.stretch_m:.0f} m stretches (longer first, speed later)")
    else:
        reasons.append(
            f"{here.stretch_m:.0f} m done at {here.kmh:g} km/h: {up.kmh:g} km/h, "
            f"stretches back to {up.stretch_m:.0f} m"
        )
    return _proposal(up, reasons)


def _describe(f: SessionFacts, rung: Rung) -> str:
    parts = [f"{f.backward_stretches} x {f.backward_m:.0f} m backward at {f.backward_kmh:.1f} km/h"]
    parts.append("finished" if f.finished else "not finished")
    parts.append(
        f"{f.interventions} safety intervention{'s' if f.interventions != 1 else ''}"
        if f.interventions
        else "no interventions"
    )
    parts.append(
        "heart rate under the ceiling"
        if not f.hr_ceiling
        else f"heart-rate ceiling reached {f.hr_ceiling} time{'s' if f.hr_ceiling != 1 else ''}"
    )
    return ", ".join(parts) + f" (the rung: {rung})"


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def _proposal(rung: Rung, reasons: list[str]) -> Proposal:
    reasons = [*reasons, f"next: {rung}"]
    return Proposal(rung, plan_for(rung, "\n".join(reasons)), reasons)


def plan_for(rung: Rung, why: str = "") -> Plan:
    """The session for a rung: warm-up, the backward stretches with recovery, cool-down."""
    how = "walk" if rung.walking else "run"
    # Forward stays within the plan warnings' 3 km/h of the backward speed (a jog, for fast rungs).
    easy = max(4.0, rung.kmh - 2.5)
    segments = [
        Segment(
            direction=Direction.FORWARD,
            speed_kmh=easy,
            duration_s=WARM_UP_S,
            note="Warm-up: easy forward walk",
        )
    ]
    for n in range(REPS):
        segments.append(
            Segment(
                direction=Direction.BACKWARD,
                speed_kmh=rung.kmh,
                distance_m=rung.stretch_m,
                note=f"Backward {how} {n + 1}/{REPS}",
            )
        )
        segments.append(
            Segment(
                direction=Direction.FORWARD,
                speed_kmh=easy if rung.walking else max(4.5, easy),
                duration_s=RECOVERY_S if n < REPS - 1 else COOL_DOWN_S,
                note="Forward recovery" if n < REPS - 1 else "Cool-down",
            )
        )
    return Plan(
        name=f"Coach: {rung}",
        level=1 if rung.walking else 3,
        description=why or f"The coach's next session: {rung}.",
        segments=tuple(segments),
    )
