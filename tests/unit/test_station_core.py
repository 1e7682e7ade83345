"""The station core, table by table: bytes in, effects out, no I/O and no clock.

Each mapping the core owns (notification bytes to governor events, governor
actions to control-point bytes, the treadmill's answers to events, the
heart-rate source) is checked against the governor itself or against the
bytes of the FTMS specification, never against the core's own tables.
"""

from __future__ import annotations

import inspect
import logging

import pytest

from gateway.ftms import (
    FitnessMachineFeature,
    HeartRate,
    MachineStatus,
    MachineStatusOp,
    ResultCode,
    SpeedRange,
    StopPause,
    TreadmillData,
    encode_feature,
    encode_heart_rate,
    encode_machine_status,
    encode_speed_range,
    encode_treadmill_data,
)
from gateway.ftms import uuids as U
from gateway.ftms.control import encode_control_request
from gateway.ftms.machine import InclineRange, encode_incline_range
from gateway.hub import AlertMessage, HeartRateMessage, ResultMessage, TelemetrySample
from gateway.safety import SafetyLimits, step
from gateway.safety.actions import Pause, RequestControl, SetIncline, SetTargetSpeed, Start, Stop
from gateway.safety.direction import Direction
from gateway.safety.events import (
    Command,
    CommandFailed,
    CommandKind,
    ControlLost,
    Event,
    Failure,
    MachineStopped,
    StopKind,
    Tick,
)
from gateway.safety.governor import ceiling_c
from gateway.station.core import (
    Answered,
    Connected,
    ControlAction,
    Drop,
    Effect,
    LoadPlan,
    Log,
    PlanLoaded,
    Publish,
    Raw,
    StationCore,
    TreadmillReady,
    Update,
    Write,
    write,
)
from gateway.workout.plan import Plan, Segment

SPEED_AND_INCLINE = encode_feature(
    FitnessMachineFeature(("total_distance", "elapsed_time"), ("speed", "inclination"))
)
SPEEDS = encode_speed_range(SpeedRange(0.5, 16.0, 0.1))


def ready(feature: bytes = SPEED_AND_INCLINE, **kw: object) -> TreadmillReady:
    return TreadmillReady("AA:BB", feature, SPEEDS, **kw)  # type: ignore[arg-type]


def data(speed: float, distance: int = 0, **kw: object) -> Raw:
    record = TreadmillData(speed_kmh=speed, distance_m=distance, elapsed_s=1, **kw)  # type: ignore[arg-type]
    return Raw(U.TREADMILL_DATA, encode_treadmill_data(record))


def status(op: MachineStatusOp, **kw: object) -> Raw:
    return Raw(U.FITNESS_MACHINE_STATUS, encode_machine_status(MachineStatus(op, **kw)))  # type: ignore[arg-type]


def writes(effects: list[Effect]) -> list[bytes]:
    return [encode_control_request(e.request) for e in effects if isinstance(e, Write)]


def alerts(effects: list[Effect]) -> list[str]:
    return [
        e.message.alert.code
        for e in effects
        if isinstance(e, Publish) and isinstance(e.message, AlertMessage)
    ]


def changes(effects: list[Effect]) -> dict[str, object]:
    merged: dict[str, object] = {}
    for e in effects:
        if isinstance(e, Update):
            merged.update(e.changes)
    return merged


def connected(
    core: StationCore, at: float = 0.0, feature: bytes = SPEED_AND_INCLINE, **kw: object
) -> list[Effect]:
    """Connect, be granted control, see a standing belt: the usual start."""
    effects = core.feed(ready(feature, **kw), at)
    effects += core.feed(Connected("treadmill", True), at)
    effects += core.feed(Answered(write(RequestControl()), ResultCode.SUCCESS), at)
    effects += core.feed(data(0.0), at)
    return effects


# --- governor actions become control-point bytes (FTMS 4.16.1) --------------------------


@pytest.mark.parametrize(
    ("action", "wire"),
    [
        (RequestControl(), "00"),
        (Start(), "07"),
        (Stop(), "08 01"),
        (Pause(), "08 02"),
        (SetTargetSpeed(5.5), "02 26 02"),  # 0.01 km/h
        (SetIncline(2.5), "03 19 00"),  # 0.1 %
    ],
)
def test_actions_become_the_specs_bytes(action: ControlAction, wire: str) -> None:
    assert encode_control_request(write(action).request) == bytes.fromhex(wire)


# --- notification bytes become governor events ---------------------------------------------


@pytest.mark.parametrize(
    ("op", "event"),
    [
        (MachineStatusOp.STOPPED_OR_PAUSED_BY_USER, MachineStopped(StopKind.USER)),
        (MachineStatusOp.STOPPED_BY_SAFETY_KEY, MachineStopped(StopKind.SAFETY_KEY)),
        (MachineStatusOp.STARTED_OR_RESUMED_BY_USER, MachineStopped(StopKind.STARTED)),
        (MachineStatusOp.CONTROL_PERMISSION_LOST, ControlLost("revoked")),
        (MachineStatusOp.RESET, ControlLost("reset")),
    ],
)
def test_machine_status_becomes_the_governors_event(op: MachineStatusOp, event: Event) -> None:
    core = StationCore("tm1", SafetyLimits())
    connected(core)
    core.feed(data(8.0), 1.0)
    expected, _ = step(core.state, event, 2.0)
    extra = (
        {"stop_pause": StopPause.STOP} if op is MachineStatusOp.STOPPED_OR_PAUSED_BY_USER else {}
    )
    core.feed(status(op, **extra), 2.0)
    assert core.state == expected


def test_a_console_target_change_is_reported_and_corrected_backward() -> None:
    core = StationCore("tm1", SafetyLimits(backward_cap_kmh=6.0))
    connected(core)
    core.feed(Command("c1", CommandKind.SET_DIRECTION, "backward"), 0.0)
    effects = core.feed(status(MachineStatusOp.TARGET_SPEED_CHANGED, target_speed_kmh=9.0), 1.0)
    assert changes(effects)["target_kmh"] == 9.0
    assert encode_control_request(write(SetTargetSpeed(6.0)).request) in writes(effects)


def test_a_record_is_published_numbered_with_the_governors_view() -> None:
    core = StationCore("tm1", SafetyLimits())
    connected(core)
    effects = core.feed(data(4.2, distance=120), 5.0)
    samples = [
        e.message
        for e in effects
        if isinstance(e, Publish) and isinstance(e.message, TelemetrySample)
    ]
    assert [(s.seq, s.at, s.record.speed_kmh, s.direction) for s in samples] == [
        (2, 5.0, 4.2, Direction.FORWARD)
    ]
    seen = changes(effects)
    assert (seen["speed_kmh"], seen["distance_m"], seen["last_sample_at"]) == (4.2, 120, 5.0)
    assert core.state.reported_c == 420


def test_a_strap_sample_is_published_and_stepped() -> None:
    core = StationCore("tm1", SafetyLimits())
    connected(core, strap=True)
    raw = Raw(U.HEART_RATE_MEASUREMENT, encode_heart_rate(HeartRate(131, True)))
    effects = core.feed(raw, 3.0)
    published = [e.message for e in effects if isinstance(e, Publish)]
    assert [m.seq for m in published if isinstance(m, HeartRateMessage)] == [1]
    assert isinstance(effects[0], Publish)
    assert isinstance(effects[0].message, HeartRateMessage)
    assert core.state.hr.bpm == 131
    assert changes(effects)["heart_rate_bpm"] == 131


@pytest.mark.parametrize("frame", ["", "00"], ids=["empty", "half-flags"])
def test_an_undecodable_frame_is_counted_logged_and_changes_nothing(frame: str) -> None:
    core = StationCore("tm1", SafetyLimits())
    connected(core)
    before = core.state
    effects = core.feed(Raw(U.TREADMILL_DATA, bytes.fromhex(frame)), 9.0)
    assert core.counters["decode_errors"] == 1
    assert [type(e) for e in effects] == [Log]
    assert isinstance(effects[0], Log)
    assert effects[0].level == logging.WARNING
    assert core.state == before


# --- the treadmill's answers become events ---------------------------------------------------


@pytest.mark.parametrize(
    ("result", "timeout", "failure"),
    [
        (ResultCode.CONTROL_NOT_PERMITTED, False, Failure.NOT_PERMITTED),
        (ResultCode.OP_CODE_NOT_SUPPORTED, False, Failure.UNSUPPORTED),
        (ResultCode.INVALID_PARAMETER, False, Failure.INVALID),
        (ResultCode.OPERATION_FAILED, False, Failure.FAILED),
        (0x7E, False, Failure.NOT_PERMITTED),  # a result the spec does not define
        (None, True, Failure.TIMEOUT),
        (None, False, Failure.LINK),
    ],
)
def test_a_refused_write_is_the_governors_command_failed(
    result: ResultCode | int | None, timeout: bool, failure: Failure
) -> None:
    core = StationCore("tm1", SafetyLimits())
    connected(core)
    expected, _ = step(core.state, CommandFailed("set_target_speed", "x", failure), 4.0)
    core.feed(Answered(write(SetTargetSpeed(5.0)), result, "gone", timeout), 4.0)
    assert core.state == expected


def test_control_is_held_only_once_the_treadmill_says_success() -> None:
    core = StationCore("tm1", SafetyLimits())
    core.feed(ready(), 0.0)
    effects = core.feed(Connected("treadmill", True), 0.0)
    assert writes(effects) == [bytes.fromhex("00")]
    assert not core.state.control.held
    core.feed(Answered(write(RequestControl()), ResultCode.SUCCESS), 0.1)
    assert core.state.control.held


def test_a_disconnect_loses_control_and_says_so() -> None:
    core = StationCore("tm1", SafetyLimits())
    connected(core)
    effects = core.feed(Connected("treadmill", False), 1.0)
    assert not core.state.control.held
    assert changes(effects)["treadmill_connected"] is False


def test_a_treadmill_without_speed_targets_is_a_danger() -> None:
    core = StationCore("tm1", SafetyLimits())
    feature = encode_feature(FitnessMachineFeature(("total_distance",), ()))
    assert alerts(core.feed(ready(feature), 0.0)) == ["no_speed_control"]


def test_incline_is_used_only_when_the_machine_has_a_range() -> None:
    with_range = StationCore("tm1", SafetyLimits())
    incline = encode_incline_range(InclineRange(0.0, 15.0, 0.5))
    with_range.feed(ready(incline_range=incline), 0.0)
    without = StationCore("tm1", SafetyLimits())
    without.feed(ready(), 0.0)
    assert (with_range.state.incline_supported, without.state.incline_supported) == (True, False)


# --- where heart rate comes from (SAFETY.md 14) ------------------------------------------------

WITH_HR = encode_feature(
    FitnessMachineFeature(("heart_rate_measurement",), ("speed", "inclination"))
)


@pytest.mark.parametrize(
    ("kw", "feature", "source", "alerted"),
    [
        ({"strap": True}, SPEED_AND_INCLINE, "strap", []),
        ({"hr_service": True}, SPEED_AND_INCLINE, "treadmill", []),
        ({}, WITH_HR, "treadmill", []),  # a receiver in the console: Treadmill Data
        ({}, SPEED_AND_INCLINE, None, ["no_hr_source"]),
    ],
)
def test_the_heart_rate_source_is_decided_at_connect_and_said_once(
    kw: dict[str, bool], feature: bytes, source: str | None, alerted: list[str]
) -> None:
    core = StationCore("tm1", SafetyLimits())
    effects = connected(core, feature=feature, **kw)
    assert changes(effects)["hr_source"] == source
    assert alerts(effects) == alerted
    assert alerts(core.feed(data(0.0), 1.0)) == []  # once


def test_heart_rate_in_treadmill_data_feeds_the_ceiling() -> None:
    core = StationCore("tm1", SafetyLimits())
    connected(core, feature=WITH_HR)
    core.feed(data(5.0, heart_rate_bpm=150), 1.0)
    assert core.state.hr.bpm == 150


# --- the workout ------------------------------------------------------------------------------

PLAN = Plan(
    name="two",
    segments=(
        Segment(direction=Direction.FORWARD, speed_kmh=5.0, duration_s=60),
        Segment(direction=Direction.BACKWARD, speed_kmh=9.0, distance_m=50),
    ),
)


def test_a_plan_waits_for_control_and_a_record_then_starts() -> None:
    core = StationCore("tm1", SafetyLimits(), plan=PLAN)
    core.feed(ready(), 0.0)
    early = core.feed(Connected("treadmill", True), 0.0)
    early += core.feed(Answered(write(RequestControl()), ResultCode.SUCCESS), 0.0)
    assert bytes.fromhex("07") not in writes(early)  # no start before the belt is seen
    started = core.feed(data(0.0), 0.5)
    assert bytes.fromhex("07") in writes(started)
    assert core.session.engine is not None
    assert core.session.engine.index == 0


def test_a_plans_backward_speed_above_the_cap_is_warned_and_capped() -> None:
    core = StationCore("tm1", SafetyLimits(backward_cap_kmh=6.0), plan=PLAN)
    effects = connected(core)
    assert "plan_warning" in alerts(effects)
    core.feed(Command("n", CommandKind.NEXT_SEGMENT), 1.0)
    assert core.state.direction is Direction.BACKWARD
    assert ceiling_c(core.state, 1.0) <= 600


def test_next_segment_without_a_plan_is_refused() -> None:
    core = StationCore("tm1", SafetyLimits())
    connected(core)
    effects = core.feed(Command("n1", CommandKind.NEXT_SEGMENT), 1.0)
    answers = [
        e.message.result
        for e in effects
        if isinstance(e, Publish) and isinstance(e.message, ResultMessage)
    ]
    assert [(a.id, a.ok) for a in answers] == [("n1", False)]


def test_load_plan_reads_off_the_loop_and_answers_once_loaded() -> None:
    core = StationCore("tm1", SafetyLimits())
    connected(core)
    command = Command("p1", CommandKind.LOAD_PLAN, "two")
    effects = core.feed(command, 1.0)
    assert [e for e in effects if isinstance(e, LoadPlan)] == [LoadPlan(command)]
    loaded = core.feed(PlanLoaded(command, PLAN), 1.2)
    results = [
        e.message.result
        for e in loaded
        if isinstance(e, Publish) and isinstance(e.message, ResultMessage)
    ]
    assert [(r.id, r.ok) for r in results] == [("p1", True)]
    assert core.session.plan is PLAN
    failed = core.feed(PlanLoaded(command, None, "no plan 'x'"), 1.3)
    assert [
        (e.message.result.ok, e.message.result.error)
        for e in failed
        if isinstance(e, Publish) and isinstance(e.message, ResultMessage)
    ] == [(False, "no plan 'x'")]


def test_the_data_watchdog_asks_the_shell_to_drop_the_link() -> None:
    core = StationCore("tm1", SafetyLimits())
    connected(core)
    core.feed(Command("go", CommandKind.START), 0.0)
    core.feed(data(3.0), 0.5)
    effects: list[Effect] = []
    for t in range(1, 12):
        effects += core.feed(Tick(), float(t))
    assert Drop() in effects
    assert "data_lost" in alerts(effects)


def test_the_cap_is_said_to_limit_only_when_it_holds_something_down() -> None:
    """CAPPED on the dashboard at 2 km/h in a turnaround, or after a stop, was noise:
    the cap limits when the request or the belt is above it."""
    core = StationCore("tm1", SafetyLimits(backward_cap_kmh=6.0))
    connected(core)
    core.feed(Command("go", CommandKind.START), 0.0)
    core.feed(Command("b", CommandKind.SET_DIRECTION, "backward"), 0.1)
    under = core.feed(Command("s1", CommandKind.SET_SPEED, 4.0), 0.2)
    assert changes(under)["capped"] is True  # the cap applies (backward) ...
    assert changes(under)["cap_limiting"] is False  # ... but holds nothing down
    over = core.feed(Command("s2", CommandKind.SET_SPEED, 9.0), 0.3)
    assert changes(over)["cap_limiting"] is True


def test_the_state_tells_home_assistant_when_the_next_turnaround_comes() -> None:
    """HA saw the turnaround only after the slow-down: the state now carries the
    seconds to the next turnaround, the metres left backward and the last alert."""
    core = StationCore("tm1", SafetyLimits(), plan=PLAN)  # 60 s forward, then 50 m backward
    connected(core)
    effects = core.feed(data(5.0, distance=10), 20.0)
    seen = changes(effects)
    assert seen["next_turn_s"] == pytest.approx(40.0, abs=0.5)
    assert seen["backward_left_m"] is None
    core.feed(Command("n", CommandKind.NEXT_SEGMENT), 21.0)
    backward = changes(core.feed(data(3.0, distance=30), 22.0))
    assert backward["backward_left_m"] == pytest.approx(30.0, abs=0.5)  # 20 of 50 m done
    alerted = changes(core.feed(Command("x", CommandKind.SET_SPEED, "fast"), 23.0))
    assert alerted.get("last_alert") is None  # a refusal is an answer, not an alert
    lost = changes(core.feed(Connected("treadmill", False), 24.0))
    assert "control" in str(lost["last_alert"]).lower()


def test_a_finished_plan_stays_finished() -> None:
    """Found by the spoken cues: "Workout complete" came five times. After the last
    segment the core started the plan again on the next record (START written, the
    belt moving off to the warm-up) and finished it again, over and over."""
    core = StationCore("tm1", SafetyLimits(), plan=PLAN)
    connected(core)
    core.feed(Command("n1", CommandKind.NEXT_SEGMENT), 1.0)
    done = core.feed(Command("n2", CommandKind.NEXT_SEGMENT), 2.0)
    assert alerts(done).count("plan_done") == 1
    after: list[Effect] = []
    for t in range(3, 30):
        after += core.feed(data(0.0, distance=100), float(t))
    assert bytes.fromhex("07") not in writes(after), "the finished plan started the belt again"
    assert "plan_done" not in alerts(after)


def test_free_mode_holds_a_heart_rate_by_command_until_a_speed_is_set_by_hand() -> None:
    core = StationCore("tm1", SafetyLimits())
    connected(core)
    core.feed(Command("go", CommandKind.START), 0.5)
    core.feed(data(3.0), 0.6)
    answers: list[str] = []

    def answer(effects: list[Effect]) -> str:
        found = [
            e.message.result
            for e in effects
            if isinstance(e, Publish) and isinstance(e.message, ResultMessage)
        ]
        assert len(found) == 1
        r = found[0]
        return f"{r.ok} {r.applied or r.error}"

    for value in ("300-310", "130-132", "fast", "zone 9"):
        answers.append(
            answer(core.feed(Command(f"h-{value}", CommandKind.SET_HR_TARGET, value), 1.0))
        )
    assert all(a.startswith("False") for a in answers), answers
    assert "at least 6 bpm" in answers[1]
    assert answer(core.feed(Command("h1", CommandKind.SET_HR_TARGET, "120-130"), 1.0)) == (
        "True holding heart rate 120-130 bpm"
    )
    assert changes(core.feed(Tick(), 1.5))["hr_target_bpm"] == (120, 130)
    written: list[bytes] = []
    for n in range(40):  # a resting heart: the controller asks for more, through the governor
        t = 2.0 + n
        core.feed(Raw(U.HEART_RATE_MEASUREMENT, encode_heart_rate(HeartRate(70, True))), t)
        written += writes(core.feed(Tick(), t))
        core.feed(data(3.0), t)
    assert any(w[0] == 0x02 and int.from_bytes(w[1:3], "little") > 300 for w in written)
    off = core.feed(Command("s1", CommandKind.SET_SPEED, 4.0), 50.0)
    assert "hr_target_off" in alerts(off)
    assert changes(core.feed(Tick(), 51.0)).get("hr_target_bpm", "unchanged") is None


def test_a_running_plan_refuses_set_hr_target() -> None:
    core = StationCore("tm1", SafetyLimits(), plan=PLAN)
    effects = connected(core)
    effects = core.feed(Command("h1", CommandKind.SET_HR_TARGET, "120-130"), 1.0)
    results = [
        e.message.result
        for e in effects
        if isinstance(e, Publish) and isinstance(e.message, ResultMessage)
    ]
    assert results[0].error == "a plan is running: its segments set the heart-rate target"


def test_a_heart_rate_target_out_of_reach_under_the_cap_is_said_once() -> None:
    """Backward, no incline, a heart that stays low: the controller holds the cap (never
    more), and after two minutes there the runner is told, once."""
    plan = Plan(
        name="hr",
        segments=(
            Segment(
                direction=Direction.BACKWARD, speed_kmh=3.0, duration_s=1200, hr_bpm=(150, 160)
            ),
        ),
    )
    core = StationCore("tm1", SafetyLimits(), plan=plan)
    connected(core)
    said: list[str] = []
    written: list[bytes] = []
    for n in range(1, 400):
        t = float(n)
        core.feed(Raw(U.HEART_RATE_MEASUREMENT, encode_heart_rate(HeartRate(100, True))), t)
        core.feed(data(min(6.0, 3.0 + n * 0.05)), t)
        effects = core.feed(Tick(), t + 0.5)
        said += [a for a in alerts(effects) if a == "hr_out_of_reach"]
        written += writes(effects)
    speeds = [int.from_bytes(w[1:3], "little") for w in written if w[0] == 0x02]
    assert max(speeds) == 600, "the controller reaches for the cap, and no further"
    assert said == ["hr_out_of_reach"]


def test_feed_handles_each_event_to_the_end_before_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 24: what an event causes (the plan's segment and start after the record that
    let it start; the plan's stop after the skip past its end) is queued behind it, not
    handled inside it: no core handler runs while another one is still under way."""
    import gateway.station.core as core_module

    deepest, order = 0, []
    real_step = step

    def watched(state: object, event: object, now: float) -> object:
        nonlocal deepest
        order.append(type(event).__name__)
        # core frames that are handling an event of their own when the governor is asked
        handling = [
            f
            for f in inspect.stack()
            if f.filename == core_module.__file__ and f.function in ("_step", "_handle")
        ]
        deepest = max(deepest, len([f for f in handling if f.function == "_handle"] or handling))
        return real_step(state, event, now)  # type: ignore[arg-type]

    monkeypatch.setattr(core_module, "step", watched)
    core = StationCore("tm1", SafetyLimits(backward_cap_kmh=6.0), plan=PLAN)
    connected(core)
    core.feed(Command("n1", CommandKind.NEXT_SEGMENT), 1.0)
    core.feed(Command("n2", CommandKind.NEXT_SEGMENT), 2.0)  # past the last: the plan ends
    assert deepest == 1
    # the record first, then what it caused: the plan's segment, then its start
    at = order.index("TreadmillRecord")
    assert order[at : at + 3] == ["TreadmillRecord", "SegmentChange", "Command"]
    assert order[-2:] == ["Command", "Command"]  # next_segment, then the plan's own stop
