"""The coach's rules, by tables of session histories (pure: no store, no clock)."""

from __future__ import annotations

import pytest

from gateway.workout.coach import (
    Rung,
    SessionFacts,
    ladder,
    plan_for,
    propose,
)
from gateway.workout.plan import parse_plan, plan_to_toml

DAY = 86400.0
NOW = 1_800_000_000.0


def s(
    kmh: float,
    metres: float,
    days_ago: float = 2,
    *,
    finished: bool = True,
    interventions: int = 0,
    hr_ceiling: int = 0,
) -> SessionFacts:
    return SessionFacts(
        started=NOW - days_ago * DAY,
        backward_stretches=6,
        backward_m=metres,
        backward_kmh=kmh,
        finished=finished,
        interventions=interventions,
        hr_ceiling=hr_ceiling,
    )


FORWARD_ONLY = SessionFacts(NOW - DAY, 0, 0.0, 0.0, True, 0, 0)


@pytest.mark.parametrize(
    ("history", "experience", "expected", "why"),
    [
        ([], "new", Rung(2.0, 50), "backward walking comes before backward running"),
        ([FORWARD_ONLY], "new", Rung(2.0, 50), "no backward session recorded yet"),
        ([], "experienced", Rung(4.0, 50), "no backward session recorded yet"),
        ([s(2.0, 50)], "new", Rung(2.0, 75), "longer first, speed later"),
        ([s(2.0, 75)], "new", Rung(2.0, 100), "longer first, speed later"),
        ([s(2.0, 100)], "new", Rung(2.5, 50), "2.5 km/h, stretches back to 50 m"),
        # a belt that reports a little under the planned speed, a stretch a little long
        ([s(2.46, 52)], "new", Rung(2.5, 75), "longer first"),
        # trouble: the same again; trouble twice: a step back
        ([s(3.0, 75, interventions=1)], "new", Rung(3.0, 75), "the same again"),
        ([s(3.0, 75, hr_ceiling=2)], "new", Rung(3.0, 75), "the same again"),
        ([s(3.0, 75, finished=False)], "new", Rung(3.0, 75), "the same again"),
        ([s(3.0, 75, 4, finished=False), s(3.0, 75, interventions=3)], "new", Rung(3.0, 50),
         "two sessions in a row with trouble"),
        ([s(3.0, 75, 9, interventions=1), s(3.0, 75, 4), s(3.0, 75, interventions=1)], "new",
         Rung(3.0, 75), "the same again"),
        # walking to running only after three clean sessions at the top of walking
        ([s(3.5, 100)], "new", Rung(3.5, 100), "1 of 3 clean sessions"),
        ([s(3.5, 100, 9), s(3.5, 100, 5), s(3.5, 100)], "new", Rung(4.0, 50), "on to running"),
        ([s(3.5, 100, 9), s(3.5, 100, 5, interventions=1), s(3.5, 100)], "new",
         Rung(3.5, 100), "2 of 3"),
        # running: one variable at a time, by a bounded step
        ([s(4.5, 100)], "experienced", Rung(5.0, 50), "5 km/h, stretches back to 50 m"),
        # a long gap: back one rung, two after four weeks
        ([s(4.5, 75, days_ago=20)], "new", Rung(4.5, 50), "20 days since then: 1 step back"),
        ([s(4.5, 75, days_ago=40)], "new", Rung(4.0, 100), "40 days since then: 2 steps back"),
        # the top of the ladder under the cap: never above it
        ([s(6.0, 100)], "experienced", Rung(6.0, 100), "the top of the ladder"),
    ],
)  # fmt: skip
def test_the_next_session(
    history: list[SessionFacts], experience: str, expected: Rung, why: str
) -> None:
    proposal = propose(history, now=NOW, cap_kmh=6.0, experience=experience)  # type: ignore[arg-type]
    assert proposal.rung == expected, proposal.reasons
    assert any(why in reason for reason in proposal.reasons), proposal.reasons
    assert proposal.reasons[-1] == f"next: {expected}"


def test_the_reasons_say_what_the_last_session_was_in_plain_words() -> None:
    proposal = propose([s(4.5, 50)], now=NOW, cap_kmh=6.0)
    assert proposal.reasons[0].startswith(
        "last session (2027-01-13): 6 x 50 m backward at 4.5 km/h, finished, no interventions, "
        "heart rate under the ceiling"
    )
    assert proposal.reasons[-1] == "next: 6 x 75 m backward running at 4.5 km/h"


def test_a_rehabilitation_ceiling_and_the_cap_are_never_exceeded() -> None:
    proposal = propose([s(2.5, 100)], now=NOW, cap_kmh=6.0, ceiling_kmh=2.5)
    assert proposal.rung == Rung(2.5, 100)
    lower_cap = propose([s(4.5, 100)], now=NOW, cap_kmh=4.5, experience="experienced")
    assert lower_cap.rung.kmh <= 4.5


@pytest.mark.parametrize("cap", [2.0, 3.0, 4.5, 6.0, 8.0])
def test_every_rungs_plan_validates_and_passes_the_plan_warnings(cap: float) -> None:
    for rung in ladder(cap):
        plan = plan_for(rung, "why")
        assert plan.warnings(cap, 100.0) == [], rung
        again = parse_plan(plan_to_toml(plan), "next.toml")
        assert again == plan
        assert max(seg.speed_kmh for seg in plan.segments if seg.direction == "backward") <= cap
