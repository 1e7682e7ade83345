"""The governor's phases are the table ``PHASES`` (issue 24; h11's state table is
the model): every phase change a scenario makes is a row of the table, and every
row of the table is made by a scenario here. The Hypothesis machine in
test_governor_invariants.py checks the first half over random events too."""

from __future__ import annotations

import typing
from collections.abc import Callable

import pytest

from gateway.safety import Action, SafetyLimits, step
from gateway.safety.direction import Direction
from gateway.safety.events import (
    Command,
    CommandKind,
    Event,
    SegmentChange,
    Shutdown,
    Tick,
    TreadmillRecord,
)
from gateway.safety.governor import HANDLERS, PHASES, Phase

from .governor_helpers import Run, started

FWD, BWD = Direction.FORWARD, Direction.BACKWARD
_ids = iter(range(1_000_000))


def table_pairs() -> set[tuple[Phase, Phase]]:
    """The phase changes the table allows (a trigger back to the same phase is no change)."""
    return {(a, b) for a, row in PHASES.items() for b in row.values() if a is not b}


def changes(run: Run, scenario: Callable[[Run], None]) -> set[tuple[Phase, Phase]]:
    seen: set[tuple[Phase, Phase]] = set()
    feed = run.feed

    def watched(event: Event, at: float | None = None) -> list[Action]:
        before = run.state.phase
        actions = feed(event, at)
        if run.state.phase is not before:
            seen.add((before, run.state.phase))
        return actions

    run.feed = watched  # type: ignore[method-assign]
    scenario(run)
    return seen


def cmd(kind: CommandKind) -> Command:
    return Command(f"p{next(_ids)}", kind)


def backward(run: Run) -> None:
    run.feed(SegmentChange(0, BWD, 5.0))
    run.feed(cmd(CommandKind.START))
    for t in range(1, 8):
        run.feed(Tick(), at=float(t))
    run.feed(TreadmillRecord(5.0), at=8.0)


def in_dwell(run: Run) -> None:
    backward(run)
    run.feed(SegmentChange(1, FWD, 6.0), at=8.5)  # turning: slow to 2 km/h
    run.feed(TreadmillRecord(2.0), at=9.0)  # the dwell


def turn_and_go(run: Run) -> None:
    in_dwell(run)
    for t in range(10, 16):
        run.feed(Tick(), at=float(t))  # counted down: running forward


def called_off_while_turning(run: Run) -> None:
    backward(run)
    run.feed(SegmentChange(1, FWD, 6.0), at=8.5)
    run.feed(SegmentChange(2, BWD, 5.0), at=8.6)  # back the way we were facing


def called_off_in_the_dwell(run: Run) -> None:
    in_dwell(run)
    run.feed(SegmentChange(2, BWD, 5.0), at=9.5)


def turned_again_in_the_dwell(run: Run) -> None:
    in_dwell(run)
    run.feed(TreadmillRecord(3.0), at=9.2)  # the belt speeds up during the dwell
    run.feed(SegmentChange(2, FWD, 6.0), at=9.3)


def turning_never_slows(run: Run) -> None:
    backward(run)
    run.feed(SegmentChange(1, FWD, 6.0), at=8.5)
    run.notifying = False
    for t in range(9, 31):
        run.feed(TreadmillRecord(5.0), at=float(t))  # never slower: halted
        run.feed(Tick(), at=t + 0.5)


def halted_in_the_dwell(run: Run) -> None:
    in_dwell(run)
    run.notifying = False
    for t in (9.5, 10.0, 11.0, 12.0, 13.0):
        run.feed(TreadmillRecord(5.0), at=t)  # far above the turnaround, for the window


def overspeed_halt_confirm_shutdown(run: Run) -> None:
    backward(run)
    run.notifying = False
    for t in (9.0, 10.0, 11.0, 12.0):
        run.feed(TreadmillRecord(8.0), at=t)
    run.feed(cmd(CommandKind.CONFIRM), at=12.5)
    run.feed(Shutdown("SIGTERM"), at=13.0)


def shutdown_halted(run: Run) -> None:
    backward(run)
    run.notifying = False
    for t in (9.0, 10.0, 11.0, 12.0):
        run.feed(TreadmillRecord(8.0), at=t)
    run.feed(Shutdown("SIGTERM"), at=13.0)


def shutdown_turning(run: Run) -> None:
    backward(run)
    run.feed(SegmentChange(1, FWD, 6.0), at=8.5)
    run.feed(Shutdown("SIGTERM"), at=8.6)


def shutdown_in_the_dwell(run: Run) -> None:
    in_dwell(run)
    run.feed(Shutdown("SIGTERM"), at=9.5)


SCENARIOS = [
    turn_and_go,
    called_off_while_turning,
    called_off_in_the_dwell,
    turned_again_in_the_dwell,
    turning_never_slows,
    halted_in_the_dwell,
    overspeed_halt_confirm_shutdown,
    shutdown_halted,
    shutdown_turning,
    shutdown_in_the_dwell,
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_phase_change_is_a_row_of_the_table(scenario: Callable[[Run], None]) -> None:
    seen = changes(started(SafetyLimits(backward_cap_kmh=6.0, hr_expected=False)), scenario)
    assert seen, "the scenario changed no phase"
    assert seen <= table_pairs(), seen - table_pairs()


def test_every_row_of_the_table_is_made_by_a_scenario() -> None:
    seen: set[tuple[Phase, Phase]] = set()
    for scenario in SCENARIOS:
        seen |= changes(started(SafetyLimits(backward_cap_kmh=6.0, hr_expected=False)), scenario)
    assert table_pairs() - seen == set()


def test_every_phase_has_a_row_and_stopped_is_the_end() -> None:
    assert set(PHASES) == set(Phase)
    assert PHASES[Phase.STOPPED] == {}


def test_one_dispatch_knows_every_event_and_every_command() -> None:
    events = set(typing.get_args(Event)) - {Command}  # a command: by its kind, once admitted
    assert events <= set(HANDLERS), events - set(HANDLERS)
    assert set(CommandKind) <= set(HANDLERS)


def test_an_event_with_no_handler_is_an_error_not_a_lost_treadmill() -> None:
    run = started()

    class Stranger:
        pass

    with pytest.raises(TypeError, match="no handler"):
        step(run.state, Stranger(), 1.0)  # type: ignore[arg-type]
