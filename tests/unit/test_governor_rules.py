"""Every rule of the governor (SAFETY.md), one table row each."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest

from gateway.cues.scheduler import CueScheduler
from gateway.ftms.units import centi
from gateway.safety import SafetyLimits, initial_state
from gateway.safety.actions import (
    Action,
    Alert,
    Pause,
    Reconnect,
    RequestControl,
    Rule,
    SetIncline,
    SetTargetSpeed,
    Start,
    ToEngine,
)
from gateway.safety.direction import Direction
from gateway.safety.events import (
    BeltLastSeen,
    Command,
    CommandFailed,
    CommandKind,
    ControlGranted,
    ControlLost,
    EffortTarget,
    Failure,
    HeartRateSample,
    MachineFeatures,
    MachineStopped,
    SegmentChange,
    Shutdown,
    SpeedRangeReported,
    StopKind,
    TargetReported,
    Tick,
    TreadmillRecord,
)
from gateway.safety.governor import Phase, own_echo, view

from .governor_helpers import Run, alerts, of, results, rules, started

FWD, BWD = Direction.FORWARD, Direction.BACKWARD
_ids = iter(range(1_000_000))


def cmd(kind: CommandKind, value: object = None, **kw: object) -> Command:
    return Command(f"c{next(_ids)}", kind, value, **kw)  # type: ignore[arg-type]


def backward_at(speed: float, limits: SafetyLimits | None = None) -> Run:
    """Running backward, settled at ``speed`` (belt reports it)."""
    run = started(limits)
    run.feed(SegmentChange(0, BWD, speed))
    run.feed(cmd(CommandKind.START))
    t = 0.0
    while run.told() != min(speed, 6.0):
        t += 1.0
        run.feed(Tick(), at=t)
    run.feed(TreadmillRecord(run.told()))
    return run


def test_cap_plan_asks_for_more_than_the_cap() -> None:
    run = backward_at(8.0)
    assert max(kmh for _, kmh in run.speeds()) == 6.0
    assert "cap" in rules([a for _, _, acts in run.log for a in acts])


def test_correct_overspeed_in_response_to_that_very_record() -> None:
    run = backward_at(5.0)
    actions = run.feed(TreadmillRecord(6.5), at=run.now + 0.1)
    assert of(actions, SetTargetSpeed) == [SetTargetSpeed(6.0)]
    assert rules(actions) == ["correct_overspeed"]
    assert alerts(actions) == ["overspeed"]


def test_within_tolerance_is_not_corrected() -> None:
    run = backward_at(6.0)
    assert run.feed(TreadmillRecord(6.2), at=run.now + 0.1) == []


def test_correct_target_from_the_console() -> None:
    run = backward_at(5.0)
    actions = run.feed(TargetReported(7.0), at=run.now + 0.1)
    assert of(actions, SetTargetSpeed) == [SetTargetSpeed(6.0)]
    assert rules(actions) == ["correct_target"]


def test_own_target_echo_is_not_a_correction() -> None:
    run = backward_at(5.0)
    assert run.feed(TargetReported(5.0), at=run.now + 0.1) == []


def test_escalate_when_ignored_then_confirm() -> None:
    run = backward_at(5.0)
    t0 = run.now
    for dt in (0.0, 1.0, 2.0):
        assert of(run.feed(TreadmillRecord(7.0), at=t0 + dt), SetTargetSpeed)
    actions = run.feed(TreadmillRecord(7.0), at=t0 + 3.0)
    assert of(actions, Pause) == [Pause()]
    assert rules(actions) == ["escalate"]
    assert run.state.phase is Phase.HALTED
    refused = run.feed(cmd(CommandKind.START))
    assert results(refused)[0].error == "halted after a safety stop: confirm first"
    assert results(run.feed(cmd(CommandKind.CONFIRM)))[0].ok
    assert of(run.feed(cmd(CommandKind.START)), Start) == [Start()]


def test_escalate_on_tick_when_records_stop() -> None:
    run = backward_at(5.0)
    run.notifying = False
    run.feed(TreadmillRecord(7.0), at=run.now + 0.1)
    assert of(run.feed(Tick(), at=run.now + 3.0), Pause) == [Pause()]


def test_turnaround_slows_dwells_counts_down_then_ramps() -> None:
    run = started()
    run.feed(SegmentChange(0, FWD, 8.0))
    run.feed(cmd(CommandKind.START))
    for t in range(1, 12):
        run.feed(Tick(), at=float(t))
    run.feed(TreadmillRecord(8.0))
    actions = run.feed(SegmentChange(1, BWD, 5.0), at=12.0)
    assert of(actions, SetTargetSpeed) == [SetTargetSpeed(2.0)]
    assert run.state.phase is Phase.TURNING
    assert run.state.direction is FWD  # not backward until the dwell is over
    run.feed(TreadmillRecord(5.0), at=13.0)
    assert run.state.phase is Phase.TURNING
    dwell = run.feed(TreadmillRecord(2.1), at=16.0)
    assert alerts(dwell) == ["countdown"]
    counted = [alerts(run.feed(Tick(), at=16.0 + k))[:1] for k in (1, 2, 3, 4)]
    assert counted == [["countdown"]] * 4
    turned = run.feed(Tick(), at=21.0)
    assert "turned" in alerts(turned)
    assert run.state.direction is BWD
    for t in range(22, 40):
        run.feed(Tick(), at=float(t))
    ramp = run.speeds(since=21.0)
    assert ramp[-1][1] == 5.0
    steps = [b - a for (_, a), (_, b) in itertools.pairwise(ramp)]
    assert all(s <= 0.5 for s in steps)  # backward acceleration 0.5 km/h per s
    times = [t for t, _ in ramp]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))


def test_slowing_down_is_not_ramped() -> None:
    run = backward_at(6.0)
    actions = run.feed(cmd(CommandKind.SET_SPEED, 2.0), at=run.now + 0.1)
    assert of(actions, SetTargetSpeed) == [SetTargetSpeed(2.0)]


def test_hr_ceiling_steps_down_and_releases() -> None:
    run = backward_at(5.0, SafetyLimits(age=40, hr_expected=True))  # HRmax 180, ceiling 162
    t = run.now
    first = run.feed(HeartRateSample(165), at=t + 0.5)
    assert of(first, SetTargetSpeed) == [SetTargetSpeed(4.5)]
    assert run.feed(HeartRateSample(166), at=t + 5) == []  # not before the interval
    second = run.feed(HeartRateSample(166), at=t + 10.5)
    assert of(second, SetTargetSpeed) == [SetTargetSpeed(4.0)]
    run.feed(HeartRateSample(150), at=t + 20)
    for k in range(1, 5):
        run.feed(Tick(), at=t + 20 + k)
    assert run.speeds()[-1][1] == 5.0  # back, ramped


def test_hr_ceiling_steps_down_from_the_written_target_while_the_cap_holds() -> None:
    """Defect: the step came off the request (9 - 0.5 n), so nothing was written for 64 s."""
    run = backward_at(9.0, SafetyLimits(age=40, hr_expected=True))  # capped at 6.0
    assert run.speeds()[-1][1] == 6.0
    t = run.now
    first = run.feed(HeartRateSample(165), at=t + 0.5)
    assert of(first, SetTargetSpeed) == [SetTargetSpeed(5.5)]
    assert rules(first) == ["hr_ceiling"]
    second = run.feed(HeartRateSample(166), at=t + 10.5)
    assert of(second, SetTargetSpeed) == [SetTargetSpeed(5.0)]
    for k in range(1, 5):  # ticks do not ramp back up while the heart is high
        assert of(run.feed(Tick(), at=t + 10.5 + k), SetTargetSpeed) == []


def test_hr_ceiling_steps_down_a_set_speed_above_the_cap() -> None:
    run = backward_at(5.0, SafetyLimits(age=40, hr_expected=True))
    run.feed(cmd(CommandKind.SET_SPEED, 10.0), at=run.now + 0.1)
    for _k in range(1, 4):
        run.feed(Tick(), at=run.now + 1)
    assert run.speeds()[-1][1] == 6.0
    actions = run.feed(HeartRateSample(170), at=run.now + 0.1)
    assert of(actions, SetTargetSpeed) == [SetTargetSpeed(5.5)]


def test_hr_step_down_holds_after_a_turnaround() -> None:
    """The limit is on the written target whatever rule wrote it last."""
    run = backward_at(6.0, SafetyLimits(age=40, hr_expected=True))
    t = run.now
    run.feed(HeartRateSample(165), at=t + 0.5)
    assert run.speeds()[-1][1] == 5.5
    run.feed(SegmentChange(1, FWD, 9.0), at=t + 1)
    run.feed(TreadmillRecord(2.0), at=t + 2)
    for k in range(3, 20):
        run.feed(Tick(), at=t + k)
    assert run.state.direction is FWD
    assert max(kmh for at, kmh in run.speeds() if at > t + 1) <= 5.5


def test_hr_far_above_pauses() -> None:
    run = backward_at(5.0, SafetyLimits(age=40, hr_expected=True))  # pause at 171
    actions = run.feed(HeartRateSample(175), at=run.now + 1)
    assert of(actions, Pause) == [Pause()]
    assert run.state.phase is Phase.HALTED


def test_hr_lost_in_backward_slows_to_walking() -> None:
    run = backward_at(5.0, SafetyLimits(hr_expected=True))
    run.feed(HeartRateSample(120), at=run.now)
    t = run.now
    assert of(run.feed(Tick(), at=t + 29), SetTargetSpeed) == []
    actions = run.feed(Tick(), at=t + 30.5)
    assert of(actions, SetTargetSpeed) == [SetTargetSpeed(3.0)]
    assert "hr_lost" in alerts(actions)
    assert "hr_back" in alerts(run.feed(HeartRateSample(118), at=t + 40))


def test_contact_lost_counts_as_no_heart_rate() -> None:
    run = backward_at(5.0, SafetyLimits(hr_expected=True))
    run.feed(HeartRateSample(120), at=run.now)
    t = run.now
    run.feed(HeartRateSample(0, contact=False), at=t + 20)
    assert of(run.feed(Tick(), at=t + 31), SetTargetSpeed) == [SetTargetSpeed(3.0)]


def test_lost_control_is_loud_and_retried_with_backoff() -> None:
    run = backward_at(5.0)
    actions = run.feed(ControlLost("status 0xff"), at=100.0)
    assert "control_lost" in alerts(actions)
    assert not run.state.cap_held
    retries = [
        t
        for t in (100.0, 100.5, 101.0, 102.0, 103.0, 105.0, 109.0)
        if of(run.feed(Tick(), at=t), RequestControl)
    ]
    assert retries == [100.0, 101.0, 103.0, 109.0]  # 1, 2, 4 s apart
    regained = run.feed(ControlGranted(), at=110.0)
    assert of(regained, SetTargetSpeed) == [SetTargetSpeed(5.0)]  # cap re-asserted first
    assert run.state.cap_held


def test_refused_command_means_lost_control() -> None:
    run = backward_at(5.0)
    run.feed(CommandFailed("set_target_speed", "control not permitted"))
    assert not run.state.control.held
    assert of(run.feed(Tick(), at=run.now + 0.1), RequestControl)


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (Command("x1", CommandKind.START, retained=True), "retained commands are ignored"),
        (Command("x2", CommandKind.SET_SPEED, 3.0, issued_at=0.0, ttl_s=5.0), "expired"),
        (Command("x3", CommandKind.SET_SPEED, math.nan), "speed must be a number"),
        (Command("x4", CommandKind.SET_SPEED, "fast"), "speed must be a number"),
        (Command("x5", CommandKind.SET_SPEED, -1.0), "speed must be a number"),
        (Command("x6", CommandKind.SET_SPEED, 1e9), "speed must be a number"),
        (Command("x7", CommandKind.SET_SPEED, True), "speed must be a number"),
        (Command("x8", CommandKind.SET_DIRECTION, "sideways"), "direction must be"),
        (Command("x9", CommandKind.SET_CAP, 7.0), "cap must be a number from 0.5 to 6 km/h"),
        (Command("xa", CommandKind.SET_CAP, 0.0), "cap must be"),
        (Command("xc", CommandKind.SET_CAP, 0.001), "cap must be"),
        (Command("xb", CommandKind.SET_INCLINE, math.inf), "incline must be"),
    ],
)
def test_stale_and_bad_commands_are_refused_and_change_nothing(
    command: Command, error: str
) -> None:
    run = backward_at(5.0)
    run.now = 60.0
    before = run.state
    actions = run.feed(command)
    assert [r.ok for r in results(actions)] == [False]
    assert error in (results(actions)[0].error or "")
    assert of(actions, SetTargetSpeed) == []
    # only the ids and times the admission check remembers may change (a refused id
    # is remembered too: one id, one answer)
    assert command.id in run.state.commands.seen_ids
    assert run.state.commands.recent == before.commands.recent
    assert run.state._replace(commands=before.commands) == before


def test_replayed_command_is_refused() -> None:
    run = backward_at(5.0)
    command = Command("same", CommandKind.SET_SPEED, 4.0)
    assert results(run.feed(command))[0].ok
    assert results(run.feed(command))[0].error == "command 'same' was already handled"


def test_set_cap_lowers_at_once_and_raising_needs_permission() -> None:
    run = backward_at(6.0)
    actions = run.feed(cmd(CommandKind.SET_CAP, 4.0), at=run.now + 0.1)
    assert of(actions, SetTargetSpeed) == [SetTargetSpeed(4.0)]
    allowed = backward_at(6.0, SafetyLimits(allow_raising_cap=True, hr_expected=False))
    assert results(allowed.feed(cmd(CommandKind.SET_CAP, 8.0)))[0].ok
    assert not results(allowed.feed(cmd(CommandKind.SET_CAP, 12.5)))[0].ok


def test_set_speed_result_says_when_capped() -> None:
    run = backward_at(5.0)
    (result,) = results(run.feed(cmd(CommandKind.SET_SPEED, 9.0), at=run.now + 2))
    assert result.ok
    assert result.applied is not None
    assert "capped at 6.00 km/h" in result.applied


def test_forward_console_change_is_followed_not_fought() -> None:
    run = started()
    run.feed(SegmentChange(0, FWD, 8.0))
    run.feed(cmd(CommandKind.START))
    for t in range(1, 12):
        run.feed(Tick(), at=float(t))
    assert run.feed(TargetReported(9.5), at=12.0) == []
    assert [of(run.feed(Tick(), at=float(t)), SetTargetSpeed) for t in (13, 14)] == [[], []]


def test_safety_key_alerts_and_stops_running() -> None:
    run = backward_at(5.0)
    actions = run.feed(MachineStopped(StopKind.SAFETY_KEY))
    assert alerts(actions) == ["safety_key"]
    assert not run.state.running


def test_segment_incline_is_set() -> None:
    run = started()
    actions = run.feed(SegmentChange(0, FWD, 5.0, incline_pct=2.0))
    assert of(actions, SetIncline) == [SetIncline(2.0)]


def test_without_control_nothing_is_written() -> None:
    run = Run(initial_state(SafetyLimits(hr_expected=False)))
    actions = run.feed(SegmentChange(0, BWD, 5.0))
    assert of(actions, SetTargetSpeed) == []


def test_every_command_gets_exactly_one_result_or_goes_to_the_engine() -> None:
    run = backward_at(5.0)
    for kind in CommandKind:
        actions = run.feed(cmd(kind, 1.0))
        engine = kind in (
            CommandKind.NEXT_SEGMENT,
            CommandKind.LOAD_PLAN,
            CommandKind.SET_HR_TARGET,
        )
        assert len(results(actions)) == (0 if engine else 1)
        assert len(of(actions, ToEngine)) == (1 if engine else 0)


@pytest.mark.parametrize(
    "kind", [CommandKind.LOAD_PLAN, CommandKind.NEXT_SEGMENT, CommandKind.SET_HR_TARGET]
)
def test_workout_commands_pass_the_same_door(kind: CommandKind) -> None:
    """Defect: stale and repeated load_plan / next_segment skipped the checks."""
    run = backward_at(5.0)
    now = run.now
    stale = Command("s1", kind, "intro-backward-walk", issued_at=now - 3600, ttl_s=1.0)
    assert results(run.feed(stale))[0].error.startswith("expired")  # type: ignore[union-attr]
    first = run.feed(Command("twice", kind, "intro-backward-walk"))
    assert of(first, ToEngine)
    again = run.feed(Command("twice", kind, "intro-backward-walk"))
    assert not of(again, ToEngine)
    assert "already handled" in str(results(again)[0].error)
    retained = run.feed(Command("r", kind, "intro-backward-walk", retained=True))
    assert not of(retained, ToEngine)


def test_a_flood_of_commands_is_rate_limited() -> None:
    run = backward_at(5.0)
    answers = [results(run.feed(cmd(CommandKind.SET_INCLINE, 1.0)))[0] for _ in range(25)]
    assert [a.ok for a in answers].count(True) == 20
    assert "more than 20 commands" in str(answers[-1].error)
    run.feed(Tick(), at=run.now + 1.5)
    assert results(run.feed(cmd(CommandKind.SET_INCLINE, 1.0)))[0].ok


def test_start_while_running_writes_nothing() -> None:
    """Defect: a second start (a plan loaded while one ran) was 'operation failed', lost control."""
    run = backward_at(5.0)
    actions = run.feed(cmd(CommandKind.START))
    assert results(actions)[0].applied == "already running"
    assert not of(actions, Start)


def forward_at_speed(kmh: float) -> Run:
    run = started()
    run.feed(SegmentChange(0, FWD, kmh))
    run.feed(cmd(CommandKind.START))
    for t in range(1, 20):
        run.feed(Tick(), at=float(t))
    run.feed(TreadmillRecord(kmh))
    return run


def test_slowing_down_for_a_turn_is_not_an_overspeed() -> None:
    """Found running the demo: 7 km/h forward takes 5 s to reach the turnaround speed."""
    run = forward_at_speed(7.0)
    run.feed(SegmentChange(1, BWD, 5.0), at=20.0)
    for k, belt in enumerate((6.0, 5.0, 4.0, 3.0, 2.0), start=1):
        actions = run.feed(TreadmillRecord(belt), at=20.0 + k)
        assert of(actions, Pause) == []
        run.feed(Tick(), at=20.0 + k)
    assert run.state.phase is Phase.DWELL


def test_a_belt_that_never_slows_for_a_turn_is_halted() -> None:
    run = forward_at_speed(7.0)
    run.feed(SegmentChange(1, BWD, 5.0), at=20.0)
    paused = []
    for k in range(1, 25):
        run.feed(TreadmillRecord(7.0), at=20.0 + k)
        paused += of(run.feed(Tick(), at=20.0 + k), Pause)
    assert paused == [Pause()]
    assert run.state.phase is Phase.HALTED
    assert run.state.direction is FWD  # the runner never turned


def test_speed_up_during_the_dwell_is_corrected() -> None:
    run = forward_at_speed(7.0)
    run.feed(SegmentChange(1, BWD, 5.0), at=20.0)
    run.feed(TreadmillRecord(2.0), at=25.0)
    assert run.state.phase is Phase.DWELL
    actions = run.feed(TreadmillRecord(3.0), at=26.0)
    assert of(actions, SetTargetSpeed) == [SetTargetSpeed(2.0)]


def test_a_late_echo_of_our_own_ramp_step_is_not_a_console_change() -> None:
    """Found over BlueZoo: the 0x05 echo of 1.0 km/h arrived after the 2.0 step."""
    run = started()
    run.feed(SegmentChange(0, FWD, 6.0))
    run.feed(cmd(CommandKind.START))
    run.feed(Tick(), at=1.0)
    run.feed(Tick(), at=2.0)
    run.feed(Tick(), at=3.0)
    assert run.speeds()[-1][1] == 3.0
    run.feed(TargetReported(2.0), at=3.05)  # late echo of the previous step
    run.feed(TargetReported(3.0), at=3.06)
    for t in range(3, 8):
        run.feed(Tick(), at=float(t))
    assert run.speeds()[-1][1] == 6.0


def test_no_new_target_while_halted() -> None:
    """Found by hypothesis: a plan segment change after an escalation set a new target."""
    run = backward_at(5.0)
    t0 = run.now
    run.feed(TreadmillRecord(7.0), at=t0 + 0.1)
    run.feed(Tick(), at=t0 + 3.2)
    assert run.state.phase is Phase.HALTED
    assert of(run.feed(SegmentChange(1, FWD, 8.0), at=t0 + 4), SetTargetSpeed) == []
    assert of(run.feed(Tick(), at=t0 + 6), SetTargetSpeed) == []


def test_targets_land_on_the_machine_grid_and_its_echo_is_ours() -> None:
    """Found running the README's demo: 0.93 + 1.0 = 1.93 km/h was echoed as 1.9 and
    taken for a console change, so the warm-up crawled at 1.9 km/h."""
    run = Run(initial_state(SafetyLimits(hr_expected=False)))
    run.feed(SpeedRangeReported(0.5, 16.0, 0.1))
    run.feed(ControlGranted())
    run.feed(SegmentChange(0, FWD, 6.0))
    run.feed(cmd(CommandKind.START))
    run.feed(TreadmillRecord(0.93), at=0.5)
    run.feed(Tick(), at=1.0)
    assert run.speeds()[-1][1] == 1.9  # snapped down onto the 0.1 grid
    run.feed(TargetReported(1.9), at=1.05)
    for t in range(2, 8):
        run.feed(Tick(), at=float(t))
    assert run.speeds()[-1][1] == 6.0


def test_a_cap_off_the_grid_is_commanded_below_it() -> None:
    run = Run(initial_state(SafetyLimits(backward_cap_kmh=6.0, hr_expected=False)))
    run.feed(SpeedRangeReported(0.5, 16.0, 0.4))  # grid 0.5, 0.9, ... 5.7, 6.1: cap lands on 5.7
    run.feed(ControlGranted())
    run.feed(TreadmillRecord(0.0))
    run.feed(SegmentChange(0, BWD, 9.0))
    actions = run.feed(TreadmillRecord(7.0), at=1.0)
    (correction,) = [a for a in actions if isinstance(a, SetTargetSpeed)]
    assert correction.kmh <= 6.0
    assert correction.kmh == 5.7


def test_wind_down_slows_a_backward_belt_then_pauses() -> None:
    run = backward_at(6.0)
    actions = run.feed(Shutdown("SIGTERM"), at=run.now + 0.1)
    moves = [a for a in actions if isinstance(a, SetTargetSpeed | Pause)]
    assert moves == [SetTargetSpeed(2.0), Pause()]
    assert rules(actions) == ["wind_down", "wind_down"]
    # After it nothing moves the belt: no start, no ramp, no correction upwards.
    assert results(run.feed(cmd(CommandKind.START), at=run.now + 0.1))[0].ok is False
    later = [run.feed(Tick(), at=run.now + 1) for _ in range(5)]
    assert not [a for acts in later for a in acts if isinstance(a, SetTargetSpeed | Start)]


def test_wind_down_pauses_a_forward_belt_without_slowing_it_first() -> None:
    run = forward_at_speed(8.0)
    actions = run.feed(Shutdown("SIGINT"), at=run.now + 0.1)
    assert [a for a in actions if isinstance(a, SetTargetSpeed | Pause)] == [Pause()]


def test_wind_down_without_control_says_the_belt_is_not_slowed() -> None:
    run = backward_at(6.0)
    run.feed(ControlLost("gone"), at=run.now + 0.1)
    actions = run.feed(Shutdown("SIGHUP"), at=run.now + 0.1)
    assert not of(actions, SetTargetSpeed)
    assert not of(actions, Pause)
    # Its own code: the voice's "The gateway is stopping. Belt paused." would be a lie here.
    assert alerts(actions) == ["wind_down_no_control"]
    said = CueScheduler()
    for a in of(actions, Alert):
        assert isinstance(a, Alert)
        said.alert(a.level.value, a.code, a.message, run.now, a.facts)
    cue = said.take(run.now)
    assert cue is not None
    assert "not slowed" in cue.text


def test_a_belt_found_moving_at_start_is_slowed_to_the_turnaround_first() -> None:
    run = Run(initial_state(SafetyLimits(hr_expected=False)))
    run.feed(SpeedRangeReported(0.5, 16.0))
    run.feed(ControlGranted())
    actions = run.feed(TreadmillRecord(6.0), at=0.5)
    assert of(actions, SetTargetSpeed) == [SetTargetSpeed(2.0)]
    assert "restart" in alerts(actions)
    # The plan's segment arrives while turning: it waits for the dwell.
    run.feed(SegmentChange(3, BWD, 6.0), at=0.6)
    assert run.speeds()[-1][1] == 2.0
    run.feed(cmd(CommandKind.START), at=0.7)  # already running: no Start written
    for k in range(1, 5):
        run.feed(TreadmillRecord(max(2.0, 6.0 - k)), at=0.7 + k)
    assert run.state.phase.value == "dwell"
    for t in range(6, 12):
        run.feed(Tick(), at=float(t))
    assert run.state.direction is BWD
    assert run.state.phase is Phase.RUNNING
    later = run.speeds(since=5.0)
    assert later
    assert all(b - a <= 0.5 for (_, a), (_, b) in itertools.pairwise(later))
    assert not [a for _, _, acts in run.log for a in acts if isinstance(a, Start)]


def test_a_belt_standing_at_start_is_no_restart() -> None:
    run = Run(initial_state(SafetyLimits(hr_expected=False)))
    run.feed(SpeedRangeReported(0.5, 16.0))
    run.feed(ControlGranted())
    assert run.feed(TreadmillRecord(0.0), at=0.5) == []


def test_silence_while_running_is_lost_control_pause_and_reconnect() -> None:
    run = backward_at(5.0)
    run.notifying = False
    t = run.now
    assert "data_lost" not in alerts(run.feed(Tick(), at=t + 2.9))
    actions = run.feed(Tick(), at=t + 3.1)
    assert "data_lost" in alerts(actions)
    assert of(actions, Pause) == [Pause()]
    assert of(actions, Reconnect) == [Reconnect()]
    assert run.state.cap_held is False
    assert "data_lost" not in alerts(run.feed(Tick(), at=t + 10))  # once
    assert "data_back" in alerts(run.feed(TreadmillRecord(0.0), at=t + 11))


def test_the_data_window_widens_for_a_slow_treadmill() -> None:
    run = started()
    run.feed(cmd(CommandKind.START))
    for k in range(10):  # a record every 2 s
        run.feed(TreadmillRecord(3.0), at=2.0 * k)
    run.notifying = False
    t = run.now
    assert "data_lost" not in alerts(run.feed(Tick(), at=t + 5.0))
    assert "data_lost" in alerts(run.feed(Tick(), at=t + 6.5))


def test_incline_not_supported_is_noted_once_and_not_lost_control() -> None:
    run = started()
    failed = run.feed(
        CommandFailed("set_target_inclination", "op code not supported", Failure.UNSUPPORTED)
    )
    assert "control_lost" not in alerts(failed)
    assert "incline_unsupported" in alerts(failed)
    assert run.state.control.held
    assert not of(run.feed(SegmentChange(1, FWD, 4.0, incline_pct=3.0)), SetIncline)
    refused = results(run.feed(cmd(CommandKind.SET_INCLINE, 2.0)))
    assert refused[0].ok is False


def test_a_machine_without_incline_is_never_sent_one() -> None:
    run = started()
    run.feed(MachineFeatures(incline=False))
    actions = run.feed(SegmentChange(0, FWD, 4.0, incline_pct=3.0))
    assert not of(actions, SetIncline)
    assert alerts(actions) == ["incline_unsupported"]
    assert "incline_unsupported" not in alerts(run.feed(SegmentChange(1, FWD, 4.0, 5.0)))


@pytest.mark.parametrize(
    ("what", "failure", "lost"),
    [
        ("set_target_speed", Failure.NOT_PERMITTED, True),
        ("set_target_speed", Failure.TIMEOUT, True),
        ("set_target_speed", Failure.FAILED, True),
        ("stop_or_pause", Failure.FAILED, True),
        ("start_or_resume", Failure.FAILED, False),
        ("set_target_speed", Failure.INVALID, False),
        ("set_target_inclination", Failure.INVALID, False),
    ],
)
def test_which_refusals_mean_lost_control(what: str, failure: Failure, lost: bool) -> None:
    run = started()
    actions = run.feed(CommandFailed(what, "answer", failure))
    assert ("control_lost" in alerts(actions)) is lost
    assert run.state.control.held is not lost


def test_a_late_tick_is_a_stall_of_ours_not_a_silent_treadmill() -> None:
    """A busy machine (a stalled event loop) delays ticks and records alike."""
    run = backward_at(5.0)
    run.notifying = False
    t = run.now
    run.feed(Tick(), at=t + 0.25)
    assert "data_lost" not in alerts(run.feed(Tick(), at=t + 4.0))  # 3.75 s without a tick
    run.feed(TreadmillRecord(5.0), at=t + 4.01)  # the record that was queued behind it
    assert "data_lost" not in alerts(run.feed(Tick(), at=t + 4.25))
    ticks = [t + 4.25 + 0.25 * k for k in range(1, 40)]
    fired = [at for at in ticks if "data_lost" in alerts(run.feed(Tick(), at=at))]
    assert fired  # with the ticks regular, the silence is the treadmill's
    assert fired[0] - (t + 4.01) > 3.0


# --- one row per rule: the table covers the Rule enum ------------------------------------


def _row_turnaround() -> list[Action]:
    run = started()
    run.feed(SegmentChange(0, FWD, 8.0))
    run.feed(cmd(CommandKind.START))
    for t in range(1, 10):
        run.feed(Tick(), at=float(t))
    run.feed(TreadmillRecord(run.told()))
    return run.feed(SegmentChange(1, BWD, 5.0), at=10.0)


def _row_ramp() -> list[Action]:
    run = started()
    run.feed(SegmentChange(0, FWD, 8.0))
    run.feed(cmd(CommandKind.START))
    return run.feed(Tick(), at=1.0)


def _row_hr_ceiling() -> list[Action]:
    run = backward_at(5.0, SafetyLimits(age=40, hr_expected=True))  # ceiling 162
    return run.feed(HeartRateSample(165), at=run.now + 1)


def _row_hr_lost() -> list[Action]:
    run = backward_at(5.0, SafetyLimits(hr_expected=True))
    run.feed(HeartRateSample(120), at=run.now)
    return run.feed(Tick(), at=run.now + 30.5)


def _row_escalate() -> list[Action]:
    run = backward_at(5.0)
    t0 = run.now
    for dt in (0.0, 1.0, 2.0):
        run.feed(TreadmillRecord(7.0), at=t0 + dt)
    return run.feed(TreadmillRecord(7.0), at=t0 + 3.0)


def _row_restart() -> list[Action]:
    run = Run(initial_state(SafetyLimits()))
    run.feed(SpeedRangeReported(0.5, 16.0))
    run.feed(ControlGranted())
    return run.feed(TreadmillRecord(7.0))


def _row_data_lost() -> list[Action]:
    run = backward_at(5.0)
    run.notifying = False
    t = run.now
    run.feed(Tick(), at=t + 2.9)
    return run.feed(Tick(), at=t + 3.1)


def _row_rate_limited() -> list[Action]:
    run = started()
    actions: list[Action] = []
    for _ in range(25):
        actions += run.feed(cmd(CommandKind.SET_SPEED, 3.0))
    return actions


def _row_control_granted() -> list[Action]:
    run = backward_at(5.0)
    run.feed(ControlLost("status 0xff"), at=100.0)
    return run.feed(ControlGranted(), at=101.0)


def _row_cap() -> list[Action]:
    run = backward_at(5.0)
    return run.feed(cmd(CommandKind.SET_SPEED, 9.0), at=run.now + 2)


def _row_segment() -> list[Action]:
    run = started()
    return run.feed(SegmentChange(0, FWD, 5.0))


ROWS: dict[Rule, Callable[[], list[Action]]] = {
    Rule.CAP: _row_cap,
    Rule.SEGMENT: _row_segment,
    Rule.COMMAND: lambda: started().feed(cmd(CommandKind.START)),
    Rule.RAMP: _row_ramp,
    Rule.CORRECT_OVERSPEED: lambda: backward_at(5.0).feed(TreadmillRecord(6.5)),
    Rule.CORRECT_TARGET: lambda: backward_at(5.0).feed(TargetReported(7.0)),
    Rule.ESCALATE: _row_escalate,
    Rule.TURNAROUND: _row_turnaround,
    Rule.HR_CEILING: _row_hr_ceiling,
    Rule.HR_PAUSE: lambda: backward_at(5.0, SafetyLimits(age=40, hr_expected=True)).feed(
        HeartRateSample(175)
    ),
    Rule.HR_LOST: _row_hr_lost,
    Rule.CONTROL_LOST: lambda: backward_at(5.0).feed(ControlLost("status 0xff")),
    Rule.CONTROL_GRANTED: _row_control_granted,
    Rule.COMMAND_REFUSED: lambda: backward_at(5.0).feed(
        CommandFailed("set_target_inclination", "op code not supported", Failure.UNSUPPORTED)
    ),
    Rule.RESTART: _row_restart,
    Rule.DATA_LOST: _row_data_lost,
    Rule.WIND_DOWN: lambda: backward_at(5.0).feed(Shutdown("SIGTERM")),
    Rule.STALE_COMMAND: lambda: started().feed(Command("r", CommandKind.START, retained=True)),
    Rule.RATE_LIMITED: _row_rate_limited,
    Rule.BAD_COMMAND: lambda: started().feed(cmd(CommandKind.SET_SPEED, -1.0)),
}


def test_every_rule_has_a_row() -> None:
    assert set(ROWS) == set(Rule)


@pytest.mark.parametrize("rule", list(ROWS), ids=[r.value for r in ROWS])
def test_each_rules_row_logs_that_rule(rule: Rule) -> None:
    assert rule in rules(ROWS[rule]())


# --- the HR ceiling on a belt we did not set (found by the hypothesis oracle) -------------


def forward_on_the_console(kmh: float) -> Run:
    """Started, then the runner chose ``kmh`` on the console (we follow it forward)."""
    run = started(SafetyLimits(age=40, hr_expected=True))  # ceiling 162, pause 171
    run.feed(cmd(CommandKind.START))
    run.feed(TargetReported(kmh), at=1.0)
    run.feed(TreadmillRecord(kmh), at=1.5)
    return run


def test_a_console_speed_up_above_the_hr_step_down_is_corrected() -> None:
    run = forward_on_the_console(8.0)
    stepped = run.feed(HeartRateSample(165), at=2.0)
    assert of(stepped, SetTargetSpeed) == [SetTargetSpeed(7.5)]
    actions = run.feed(TargetReported(9.0), at=2.5)  # the runner presses + on the console
    assert of(actions, SetTargetSpeed) == [SetTargetSpeed(7.5)]
    assert rules(actions) == ["correct_target"]


def test_the_hr_step_down_applies_with_no_speed_of_ours() -> None:
    run = forward_on_the_console(8.0)
    run.feed(SegmentChange(0, FWD, 0.0), at=1.8)  # nothing asked of our own
    actions = run.feed(HeartRateSample(165), at=2.0)
    assert of(actions, SetTargetSpeed) == [SetTargetSpeed(7.5)]


def test_set_speed_zero_pauses_the_belt_rather_than_answering_ok_and_doing_nothing() -> None:
    run = forward_on_the_console(8.0)
    actions = run.feed(cmd(CommandKind.SET_SPEED, 0.0), at=2.0)
    assert of(actions, Pause) == [Pause()]
    (result,) = results(actions)
    assert result.ok
    assert result.applied == "pause"


def test_after_the_wind_down_a_console_target_is_not_answered_with_a_write() -> None:
    """The wind-down has the last word (SAFETY.md): nothing is written after it, even
    when the runner restarts the belt at the console and a plan segment arrives late."""
    run = started()
    run.feed(Shutdown("SIGTERM"), at=1.0)
    run.feed(MachineStopped(StopKind.STARTED), at=1.1)
    run.feed(TargetReported(0.01), at=1.2)
    run.feed(SegmentChange(0, BWD, 0.0), at=1.3)
    run.feed(Tick(), at=6.3)
    actions = run.feed(TargetReported(6.01), at=6.4)
    assert of(actions, SetTargetSpeed) == []
    assert run.state.phase is Phase.STOPPED  # a late segment does not lift the wind-down


def test_the_hr_step_down_starts_from_a_console_target_newer_than_our_write() -> None:
    """Backward, the console nudged the target up (below the cap, so not corrected):
    the belt is told that now, and the HR step-down must come down from it."""
    run = started(SafetyLimits(age=40, hr_expected=True))
    run.feed(SegmentChange(0, BWD, 4.0))
    run.feed(cmd(CommandKind.START))
    for t in range(1, 12):
        run.feed(Tick(), at=float(t))
    assert run.told() == 4.0
    run.feed(TargetReported(5.0), at=12.0)  # the console: 5.0, under the cap
    actions = run.feed(HeartRateSample(165), at=12.5)
    # the limit is one step under 5.0 (4.5); the plan asked 4.0, which is under it
    assert run.state.hr.limit_c == 450
    assert of(actions, SetTargetSpeed) == [SetTargetSpeed(4.0)]


def _refused_first(run: Run, how: str, kind: CommandKind) -> None:
    """Get the id ``dup`` refused in one of the admission's ways."""
    if how == "rate":
        for _ in range(20):
            run.feed(cmd(CommandKind.SET_INCLINE, 1.0))
        first = run.feed(Command("dup", CommandKind.CONFIRM))
        assert "more than 20 commands" in str(results(first)[0].error)
        run.feed(Tick(), at=run.now + 1.5)  # the rate window has passed
    elif how == "expired":
        first = run.feed(Command("dup", CommandKind.CONFIRM, issued_at=run.now - 60, ttl_s=1.0))
        assert str(results(first)[0].error).startswith("expired")
    elif how == "retained":
        first = run.feed(Command("dup", kind, 1.0, retained=True))
        assert "retained" in str(results(first)[0].error)
    else:
        first = run.feed(Command("dup", CommandKind.SET_SPEED, "fast"))
        assert "speed must be" in str(results(first)[0].error)


@pytest.mark.parametrize("how", ["rate", "expired", "retained", "bad value"])
@pytest.mark.parametrize("kind", list(CommandKind))
def test_an_id_refused_once_is_never_carried_out_later(how: str, kind: CommandKind) -> None:
    """Defect (issue 23): an id refused for rate or as expired was forgotten, so the
    same id acted later (``confirm`` refused, then ``start`` with that id carried out)."""
    run = backward_at(5.0)
    run.feed(cmd(CommandKind.PAUSE))
    run.feed(TreadmillRecord(0.0))
    _refused_first(run, how, kind)
    value: object = {
        CommandKind.SET_SPEED: 4.0,
        CommandKind.SET_INCLINE: 2.0,
        CommandKind.SET_DIRECTION: "forward",
        CommandKind.SET_CAP: 4.0,
        CommandKind.LOAD_PLAN: "intro-backward-walk",
        CommandKind.SET_HR_TARGET: "zone 2",
    }.get(kind)
    again = run.feed(Command("dup", kind, value))  # type: ignore[arg-type]
    assert [r.error for r in results(again)] == ["command 'dup' was already handled"]
    assert of(again, ToEngine) == []
    assert [a for a in again if isinstance(a, SetTargetSpeed | Start | SetIncline)] == []


def test_nothing_writes_a_speed_to_a_stopped_belt() -> None:
    """Defect (issue 23): after the plan's stop, the heart-rate ceiling wrote "target
    0.90 km/h" to the stopped belt. Only a start writes a speed to a stopped belt."""
    run = backward_at(5.0, SafetyLimits(age=40, hr_expected=True))  # ceiling 162
    run.feed(HeartRateSample(165), at=run.now + 0.5)  # a step-down in force
    t = run.now
    run.feed(Command("end", CommandKind.STOP, source="plan"), at=t + 1)
    run.feed(TreadmillRecord(0.0), at=t + 2)
    after: list[Action] = []
    after += run.feed(HeartRateSample(170), at=t + 12)  # still above: another step?
    after += run.feed(HeartRateSample(150), at=t + 25)  # back under: release
    for k in range(1, 40):
        after += run.feed(Tick(), at=t + 25 + k)  # ramps, and the strap falls silent
    after += run.feed(ControlLost("the treadmill revoked control (0xFF)"), at=t + 70)
    after += run.feed(ControlGranted(), at=t + 71)
    assert of(after, SetTargetSpeed) == []
    started = run.feed(Command("go", CommandKind.START), at=t + 80)
    assert of(started, Start)


def test_a_belt_recorded_moving_before_a_crash_is_slowed_when_control_is_granted() -> None:
    """Issue 23: crash to a safe belt took 8 s, part of it waiting for the first Treadmill
    Data record after the reconnect. The session's last record says the belt was moving:
    the turnaround speed goes out with control, before any record."""
    run = Run(initial_state(SafetyLimits(hr_expected=False)))
    run.feed(SpeedRangeReported(0.5, 16.0))
    assert of(run.feed(BeltLastSeen(6.0), at=0.0), SetTargetSpeed) == []  # no control yet
    granted = run.feed(ControlGranted(), at=0.1)
    assert of(granted, SetTargetSpeed) == [SetTargetSpeed(2.0)]
    moving = run.feed(TreadmillRecord(5.8), at=0.6)
    assert of(moving, SetTargetSpeed) == []  # already told; no second restart
    assert alerts(run.log[1][2]) == ["restart"]
    for k in range(1, 5):
        run.feed(TreadmillRecord(max(2.0, 5.8 - k)), at=0.6 + k)
    assert run.state.phase.value == "dwell"


def test_a_belt_recorded_moving_that_has_stopped_since_is_left_standing() -> None:
    run = Run(initial_state(SafetyLimits(hr_expected=False)))
    run.feed(SpeedRangeReported(0.5, 16.0))
    run.feed(BeltLastSeen(6.0), at=0.0)
    run.feed(ControlGranted(), at=0.1)
    standing = run.feed(TreadmillRecord(0.0), at=0.6)
    assert rules(standing) == ["restart"]
    assert not run.state.running
    assert run.state.phase is Phase.RUNNING
    later: list[Action] = []
    for t in range(1, 10):
        later += run.feed(Tick(), at=float(t))
    assert of(later, SetTargetSpeed) == []


def test_a_belt_seen_before_its_last_record_arrives_is_judged_on_what_it_says() -> None:
    run = started()
    assert run.feed(BeltLastSeen(6.0), at=1.0) == []
    assert run.feed(BeltLastSeen(1.5), at=1.0) == []


def _overspeed() -> tuple[Run, list[Action]]:
    run = backward_at(6.0)
    return run, run.feed(TreadmillRecord(7.5), at=run.now + 0.5)


def _target_over_cap() -> tuple[Run, list[Action]]:
    run = backward_at(6.0)
    return run, run.feed(TargetReported(8.0), at=run.now + 0.5)


def _target_over_the_machine() -> tuple[Run, list[Action]]:
    run = forward_on_the_console(8.0)
    return run, run.feed(TargetReported(17.0), at=2.0)  # a console past its own range


def _hr_step_down() -> tuple[Run, list[Action]]:
    run = forward_on_the_console(8.0)
    return run, run.feed(HeartRateSample(165), at=2.0)


def _hr_lost() -> tuple[Run, list[Action]]:
    run = backward_at(6.0, SafetyLimits(backward_cap_kmh=6.0, age=40, hr_expected=True))
    return run, run.feed(Tick(), at=run.now + 60)


def _wind_down() -> tuple[Run, list[Action]]:
    run = backward_at(6.0)
    return run, run.feed(Shutdown("SIGTERM"), at=run.now + 0.1)


def _turnaround() -> tuple[Run, list[Action]]:
    run = backward_at(6.0)
    return run, run.feed(SegmentChange(1, FWD, 8.0), at=run.now + 0.1)


def _control_regranted() -> tuple[Run, list[Action]]:
    run = backward_at(6.0)
    run.feed(ControlLost("0xFF"), at=run.now + 0.1)
    return run, run.feed(ControlGranted(), at=run.now + 0.2)


@pytest.mark.parametrize(
    "correction",
    [
        _overspeed,
        _target_over_cap,
        _target_over_the_machine,
        _hr_step_down,
        _hr_lost,
        _wind_down,
        _turnaround,
        _control_regranted,
    ],
)
def test_the_echo_of_every_kind_of_write_is_ours(
    correction: Callable[[], tuple[Run, list[Action]]],
) -> None:
    """Issue 24: a target the governor wrote, whichever rule wrote it, comes back as a
    status echo that is ours (the target correction used to skip the echo filter, so
    forward its echo was taken for the runner's console and replaced the request)."""
    run, actions = correction()
    written = of(actions, SetTargetSpeed)
    assert written, actions
    for w in written:
        assert isinstance(w, SetTargetSpeed)
        assert own_echo(run.state, centi(w.kmh)), (w, run.state.commands.recent)
    requested = view(run.state, run.now).requested_kmh
    last = written[-1]
    assert isinstance(last, SetTargetSpeed)
    run.feed(TargetReported(last.kmh), at=run.now + 0.05)
    assert view(run.state, run.now).requested_kmh == requested


def test_the_turn_and_the_corrections_carry_their_facts() -> None:
    """Issue 24: whoever words an alert (the voice) reads its facts, not its text."""
    run = backward_at(6.0)
    over = [a for a in run.feed(TreadmillRecord(7.5), at=run.now + 0.5) if isinstance(a, Alert)]
    assert [(a.code, a.facts.speed_kmh, a.facts.limit_kmh) for a in over] == [
        ("overspeed", 7.5, 6.0)
    ]
    turn = [a for a in run.feed(SegmentChange(1, FWD, 8.0), at=run.now + 1) if isinstance(a, Alert)]
    assert ("turnaround", "forward") in [(a.code, a.facts.direction) for a in turn]
    said: list[Alert] = []
    run.feed(TreadmillRecord(2.0), at=run.now + 0.5)
    for _ in range(7):
        said += [a for a in run.feed(Tick(), at=run.now + 1) if isinstance(a, Alert)]
    assert [a.facts.seconds for a in said if a.code == "countdown"] == [4, 3, 2, 1]
    assert [(a.code, a.facts.direction) for a in said if a.code == "turned"] == [
        ("turned", "forward")
    ]


def watching(limits: SafetyLimits | None = None) -> Run:
    """A treadmill with no control point (watch mode), facing backward: the runner pressed
    start and sets the speed by hand."""
    run = Run(initial_state(limits or SafetyLimits(backward_cap_kmh=6.0, hr_expected=False)))
    run.feed(SpeedRangeReported(0.5, 16.0))
    run.feed(MachineFeatures(incline=False, control=False))
    run.feed(SegmentChange(0, BWD, 5.0), at=0.2)
    run.feed(MachineStopped(StopKind.STARTED), at=0.3)
    run.feed(TreadmillRecord(4.0), at=0.5)
    return run


def test_watch_mode_writes_nothing_and_says_slow_down_every_few_seconds() -> None:
    """Issue 26: backward over the cap with no control point: no write, no halt, and the
    runner is told (spoken: "too fast for backward: slow down to 6") until it is under."""
    run = watching()
    said: list[tuple[float, Alert]] = []
    for t in range(2, 30):
        for action in run.feed(TreadmillRecord(7.0), at=float(t)):
            assert not isinstance(action, SetTargetSpeed | Pause | Start | RequestControl)
            if isinstance(action, Alert) and action.code == "too_fast":
                said.append((float(t), action))
        run.feed(Tick(), at=t + 0.5)
    assert [t for t, _ in said] == [2.0, 10.0, 18.0, 26.0]
    assert said[0][1].facts.limit_kmh == 6.0
    assert run.state.phase is Phase.RUNNING  # no halt: nothing could be paused
    quiet = run.feed(TreadmillRecord(5.8), at=31.0)
    assert alerts(quiet) == []


def test_no_incline_is_written_without_a_control_point_or_without_control() -> None:
    """Hypothesis found it: a heart-rate controller's (or a segment's) incline was written
    in watch mode, past the guard every speed goes through. An incline write needs what a
    speed write needs; one not made is made when control is back."""
    run = Run(initial_state(SafetyLimits(hr_expected=False)))
    run.feed(SpeedRangeReported(0.5, 16.0))
    run.feed(MachineFeatures(incline=True, control=False))
    run.feed(SegmentChange(0, Direction.FORWARD, 5.0, incline_pct=2.0), at=0.2)
    run.feed(MachineStopped(StopKind.STARTED), at=0.3)
    run.feed(TreadmillRecord(4.0), at=0.5)
    run.feed(EffortTarget(0, 4.5, 3.0, "hr target"), at=1.0)
    assert not [a for _, _, acts in run.log for a in acts if isinstance(a, SetIncline)]

    held = started()
    held.feed(MachineFeatures(incline=True))
    held.feed(ControlLost("0xFF"), at=0.5)
    held.feed(SegmentChange(0, Direction.FORWARD, 5.0, incline_pct=2.0), at=1.0)
    assert not [a for _, _, acts in held.log for a in acts if isinstance(a, SetIncline)]
    held.feed(ControlGranted(), at=2.0)
    held.feed(EffortTarget(0, 5.0, 2.0, "hr target"), at=3.0)
    inclines = [a for _, _, acts in held.log for a in acts if isinstance(a, SetIncline)]
    assert inclines == [SetIncline(2.0)]


def test_watch_mode_refuses_the_commands_that_would_write() -> None:
    run = watching()
    for kind, value in [(CommandKind.SET_SPEED, 5.0), (CommandKind.START, None)]:
        (result,) = results(run.feed(cmd(kind, value), at=2.0))
        assert not result.ok
        assert "watch mode" in (result.error or "")
    (cap,) = results(run.feed(cmd(CommandKind.SET_CAP, 5.0), at=2.1))
    assert cap.ok  # no write: the cap still shapes the warnings
    assert not [a for _, _, acts in run.log for a in acts if isinstance(a, RequestControl)]


def test_control_lost_on_a_controllable_machine_still_escalates_and_says_slow_down() -> None:
    run = backward_at(6.0)
    run.feed(ControlLost("0xFF"), at=run.now + 0.1)
    t0 = run.now
    said = alerts(run.feed(TreadmillRecord(7.5), at=t0 + 0.5))
    assert "too_fast" in said
    run.notifying = False
    for t in (1.5, 2.5, 3.6):
        run.feed(TreadmillRecord(7.5), at=t0 + t)
    assert run.state.phase is Phase.HALTED  # the pause is tried: control may be back
