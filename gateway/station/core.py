"""One station's decisions, with no I/O: ``feed(input, now) -> effects``.

The shell (``runtime.py``) owns the links, the executor and the clock; it
hands every input here in order and carries out what comes back. Here
characteristic bytes become decoded records, records become governor events,
and the governor's actions become control-point requests, alongside the
workout engine and the energy meter. Being pure, every mapping is a table
row in ``tests/unit/test_station_core.py``, like the governor's.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..ftms import (
    ControlOp,
    ControlPointRequest,
    FtmsDecodeError,
    MachineStatusOp,
    ResultCode,
    StopPause,
    TreadmillDataJoiner,
    decode_feature,
    decode_heart_rate,
    decode_incline_range,
    decode_machine_status,
    decode_speed_range,
    decode_training_status,
    decode_treadmill_data,
)
from ..ftms import uuids as U
from ..hub import (
    AlertMessage,
    DecisionMessage,
    HeartRateMessage,
    HubMessage,
    ResultMessage,
    SnapshotChanges,
    TelemetrySample,
)
from ..safety import Event, SafetyLimits, initial_state, step
from ..safety.actions import (
    Alert,
    CommandResult,
    Decision,
    Level,
    Pause,
    Reconnect,
    RequestControl,
    SetIncline,
    SetTargetSpeed,
    Start,
    Stop,
    ToEngine,
)
from ..safety.direction import Direction
from ..safety.events import (
    Command,
    CommandFailed,
    CommandKind,
    ControlGranted,
    ControlLost,
    Failure,
    HeartRateSample,
    MachineFeatures,
    MachineStopped,
    SegmentChange,
    SpeedRangeReported,
    StopKind,
    TargetReported,
    Tick,
    TreadmillRecord,
)
from ..safety.governor import hr_fresh
from ..workout.energy import EnergyMeter
from ..workout.engine import Progress, WorkoutEngine
from ..workout.hrcontrol import Effort
from ..workout.plan import Plan
from .hrtarget import HrTarget, parse_target

FREE_START_KMH = 3.0  # set_hr_target on a standing belt starts from a walk
MAX_HR_INCLINE_PCT = 15.0  # a heart-rate segment never asks for more (walking uphill)

# --- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Raw:
    """A notification as it arrived: only enqueued by the BLE callback."""

    uuid: str
    data: bytes


@dataclass(frozen=True, slots=True)
class TreadmillReady:
    """What the shell read from the treadmill after a connect, undecoded."""

    address: str
    feature: bytes
    speed_range: bytes
    incline_range: bytes | None = None  # None: the machine has no inclination range
    strap: bool = False  # a separate heart-rate strap is configured
    hr_service: bool = False  # the treadmill itself has the Heart Rate service


@dataclass(frozen=True, slots=True)
class Connected:
    """A device's link came up (subscribed) or went down."""

    device: Literal["treadmill", "hrm"]
    up: bool


@dataclass(frozen=True, slots=True)
class Answered:
    """How a control-point write ended: the treadmill's result, or no answer."""

    write: Write
    result: ResultCode | int | None  # None: no answer (``error`` says why)
    error: str = ""
    timeout: bool = False


@dataclass(frozen=True, slots=True)
class PlanLoaded:
    """A ``load_plan`` read off the event loop: the plan, or why not."""

    command: Command
    plan: Plan | None
    error: str | None = None


Input = Raw | TreadmillReady | Connected | Answered | PlanLoaded | Event

# --- effects -----------------------------------------------------------------------------

ControlAction = SetTargetSpeed | SetIncline | Start | Pause | Stop | RequestControl


@dataclass(frozen=True, slots=True)
class Publish:
    """Hand a message to the hub's listeners."""

    message: HubMessage


@dataclass(frozen=True, slots=True)
class Update:
    """Change the hub's snapshot."""

    changes: SnapshotChanges


@dataclass(frozen=True, slots=True)
class Write:
    """Send a control-point request (the executor answers with ``Answered``)."""

    action: ControlAction
    request: ControlPointRequest


@dataclass(frozen=True, slots=True)
class Drop:
    """Drop the treadmill link so the link loop reconnects (the data watchdog)."""


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """Read a plan file off the event loop (answered with ``PlanLoaded``)."""

    command: Command


@dataclass(frozen=True, slots=True)
class Log:
    """A line for the gateway's log."""

    level: int
    text: str


Effect = Publish | Update | Write | Drop | LoadPlan | Log

# --- the tables --------------------------------------------------------------------------

STATUS_EVENTS: dict[MachineStatusOp, Event] = {
    MachineStatusOp.STOPPED_OR_PAUSED_BY_USER: MachineStopped(StopKind.USER),
    MachineStatusOp.STOPPED_BY_SAFETY_KEY: MachineStopped(StopKind.SAFETY_KEY),
    MachineStatusOp.STARTED_OR_RESUMED_BY_USER: MachineStopped(StopKind.STARTED),
    MachineStatusOp.CONTROL_PERMISSION_LOST: ControlLost("the treadmill revoked control (0xFF)"),
    MachineStatusOp.RESET: ControlLost("the treadmill was reset"),
}


def _speed(a: SetTargetSpeed) -> ControlPointRequest:
    return ControlPointRequest(ControlOp.SET_TARGET_SPEED, target_speed_kmh=a.kmh)


def _incline(a: SetIncline) -> ControlPointRequest:
    return ControlPointRequest(ControlOp.SET_TARGET_INCLINATION, target_incline_pct=a.pct)


REQUESTS: dict[type, Callable[..., ControlPointRequest]] = {
    SetTargetSpeed: _speed,
    SetIncline: _incline,
    Start: lambda _: ControlPointRequest(ControlOp.START_OR_RESUME),
    Pause: lambda _: ControlPointRequest(ControlOp.STOP_OR_PAUSE, stop_pause=StopPause.PAUSE),
    Stop: lambda _: ControlPointRequest(ControlOp.STOP_OR_PAUSE, stop_pause=StopPause.STOP),
    RequestControl: lambda _: ControlPointRequest(ControlOp.REQUEST_CONTROL),
}
FAILURES = {
    ResultCode.OP_CODE_NOT_SUPPORTED: Failure.UNSUPPORTED,
    ResultCode.INVALID_PARAMETER: Failure.INVALID,
    ResultCode.OPERATION_FAILED: Failure.FAILED,
    ResultCode.CONTROL_NOT_PERMITTED: Failure.NOT_PERMITTED,
}
_LOG_LEVELS = {
    Level.INFO: logging.INFO,
    Level.WARNING: logging.WARNING,
    Level.DANGER: logging.ERROR,
}

HrSource = Literal["strap", "treadmill", "treadmill data"]


def write(action: ControlAction) -> Write:
    """The control-point request that carries out a governor action."""
    return Write(action, REQUESTS[type(action)](action))


class StationCore:
    """A treadmill (and optional strap) under the governor: decisions only."""

    def __init__(
        self,
        station_id: str,
        limits: SafetyLimits,
        *,
        plan: Plan | None = None,
        weight_kg: float = 70.0,
        sex: Literal["male", "female"] | None = None,
    ) -> None:
        self.id = station_id
        self.limits = limits
        self.state = initial_state(limits)
        self.plan = plan
        self.engine = WorkoutEngine(plan) if plan else None
        self.energy = EnergyMeter(weight_kg, limits.age, sex)
        self.counters: Counter[str] = Counter()
        self.resume_segment: int | None = None  # a restarted session goes on from here
        self._joiner = TreadmillDataJoiner()
        self._seq_treadmill = 0
        self._seq_hr = 0
        self._plan_started = False
        self._hr_source: HrSource | None = None
        self._hr_announced = False
        self._distance_m = 0.0
        self._out: list[Effect] = []
        self._now = 0.0
        self._hr_target = HrTarget(limits.age)

    def feed(self, item: Input, now: float) -> list[Effect]:
        """Take one input; what the shell must do about it, in order."""
        self._out, self._now = [], now
        if isinstance(item, Raw):
            self._on_raw(item)
        elif isinstance(item, TreadmillReady):
            self._on_ready(item)
        elif isinstance(item, Connected):
            self._on_connected(item)
        elif isinstance(item, Answered):
            self._on_answered(item)
        elif isinstance(item, PlanLoaded):
            self._on_plan_loaded(item)
        else:
            self._step(item)
        return self._out

    # --- links ---------------------------------------------------------------------------

    def _on_ready(self, ready: TreadmillReady) -> None:
        feature = decode_feature(ready.feature)
        incline_ok = "inclination" in feature.target_settings and ready.incline_range is not None
        self._step(MachineFeatures(incline=incline_ok))
        if ready.strap:
            self._hr_source = "strap"
        elif ready.hr_service:
            self._hr_source = "treadmill"
        elif "heart_rate_measurement" in feature.machine_features:
            self._hr_source = "treadmill data"
        else:
            self._hr_source = None
        if "speed" not in feature.target_settings:
            self._announce(
                Alert(
                    Level.DANGER,
                    "no_speed_control",
                    "This treadmill does not accept speed targets: the cap cannot be enforced.",
                )
            )
        speeds = decode_speed_range(ready.speed_range)
        self._step(SpeedRangeReported(speeds.min_kmh, speeds.max_kmh, speeds.step_kmh))
        self._out.append(Update({"max_kmh": speeds.max_kmh}))
        incline = ""
        if ready.incline_range is not None:
            inclines = decode_incline_range(ready.incline_range)
            if incline_ok:  # a heart-rate segment may raise it, up to a walker's 15 %
                self._hr_target.max_incline_pct = min(MAX_HR_INCLINE_PCT, inclines.max_pct)
            incline = f", incline {inclines.min_pct:g}-{inclines.max_pct:g} %"
        self._log(
            logging.INFO,
            f"treadmill {ready.address}: {speeds.min_kmh:.1f}-{speeds.max_kmh:.1f} km/h{incline}",
        )

    def _on_connected(self, connected: Connected) -> None:
        changes: SnapshotChanges = (
            {"treadmill_connected": connected.up}
            if connected.device == "treadmill"
            else {"hrm_connected": connected.up}
        )
        self._out.append(Update(changes))
        if connected.device != "treadmill":
            return
        if connected.up:
            # Control first; the governor re-asserts the cap as soon as it is granted.
            self._out.append(write(RequestControl()))
        else:
            self._step(ControlLost("the treadmill disconnected"))

    def _on_answered(self, answer: Answered) -> None:
        what = answer.write.request.op.name.lower()
        result = answer.result
        if result is None:
            failure = Failure.TIMEOUT if answer.timeout else Failure.LINK
            self._step(CommandFailed(what, answer.error, failure))
        elif result != ResultCode.SUCCESS:
            name = result.name.lower() if isinstance(result, ResultCode) else f"0x{result:02x}"
            failure = FAILURES.get(result, Failure.NOT_PERMITTED)  # type: ignore[call-overload]
            self._step(CommandFailed(what, f"the treadmill answered {name}", failure))
        elif isinstance(answer.write.action, RequestControl):
            self._step(ControlGranted())

    # --- notifications -------------------------------------------------------------------

    def _on_raw(self, raw: Raw) -> None:
        try:
            if raw.uuid == U.TREADMILL_DATA:
                self._on_treadmill_data(raw.data)
            elif raw.uuid == U.FITNESS_MACHINE_STATUS:
                status = decode_machine_status(raw.data)
                if (
                    status.op is MachineStatusOp.TARGET_SPEED_CHANGED
                    and status.target_speed_kmh is not None
                ):
                    self._out.append(Update({"target_kmh": status.target_speed_kmh}))
                    self._step(TargetReported(status.target_speed_kmh))
                elif status.op in STATUS_EVENTS:
                    self._step(STATUS_EVENTS[status.op])
            elif raw.uuid == U.TRAINING_STATUS:
                self._log(
                    logging.DEBUG, f"training status {decode_training_status(raw.data).status}"
                )
            elif raw.uuid == U.HEART_RATE_MEASUREMENT:
                sample = decode_heart_rate(raw.data)
                self._seq_hr += 1
                self._out.append(Publish(HeartRateMessage(self._seq_hr, self._now, sample)))
                self._out.append(
                    Update({"heart_rate_bpm": sample.heart_rate_bpm, "hr_contact": sample.contact})
                )
                self._step(HeartRateSample(sample.heart_rate_bpm, sample.contact))
        except FtmsDecodeError as exc:
            self.counters["decode_errors"] += 1
            errors = self.counters["decode_errors"]
            if errors in (1, 10, 100) or errors % 1000 == 0:
                self._log(
                    logging.WARNING,
                    f"undecodable frame {raw.data.hex(' ')} ({exc}); {errors} so far",
                )

    def _on_treadmill_data(self, data: bytes) -> None:
        record = self._joiner.feed(decode_treadmill_data(data))
        if record is None:
            return
        now = self._now
        if record.warnings:
            self.counters["frame_warnings"] += 1
        self._seq_treadmill += 1
        s = self.state
        seen = (s.direction, s.cap_active, s.cap_c / 100)  # the governor's view on arrival
        published = len(self._out)
        if record.speed_kmh is not None:
            self._step(TreadmillRecord(record.speed_kmh))
        if self._hr_source == "treadmill data" and record.heart_rate_bpm:
            self._out.append(Update({"heart_rate_bpm": record.heart_rate_bpm, "hr_contact": True}))
            self._step(HeartRateSample(record.heart_rate_bpm, True))
        s = self.state
        speed = record.speed_kmh or 0.0
        kcal = self.energy.update(now, speed, record.incline_pct or 0.0, s.direction, s.hr.bpm)
        sample = TelemetrySample(
            self._seq_treadmill, now, record, *seen, round(kcal, 2), self.energy.method
        )
        self._out.insert(published, Publish(sample))  # first: listeners see the record, then why
        if record.distance_m is not None:
            self._distance_m = float(record.distance_m)
        if self.engine is not None and self._plan_started:
            change = self.engine.on_record(now, record.distance_m, moving=speed > 0)
            if change is not None:
                self._step(change)
            elif self.engine.finished:
                self._finish_plan()
        progress = self.engine.progress() if self.engine is not None else None
        self._out.append(
            Update(
                {
                    "speed_kmh": record.speed_kmh,
                    "distance_m": record.distance_m,
                    "elapsed_s": record.elapsed_s,
                    "incline_pct": record.incline_pct,
                    "treadmill_energy_kcal": record.energy_kcal,
                    "energy_kcal": round(kcal, 1),
                    "energy_method": self.energy.method,
                    "last_sample_at": now,
                    "segment": progress,
                    **self._turnaround_ahead(progress),
                }
            )
        )

    def _turnaround_ahead(self, progress: Progress | None) -> SnapshotChanges:
        """When the plan next turns the runner around, and what is left backward."""
        if progress is None or self.plan is None or progress.finished:
            return {"next_turn_s": None, "backward_left_m": None}
        after = self.plan.segments[progress.index + 1 :]
        turns = bool(after) and after[0].direction is not progress.direction
        backward = progress.direction is Direction.BACKWARD
        return {
            "next_turn_s": round(progress.left_s, 1)
            if turns and progress.left_s is not None
            else None,
            "backward_left_m": round(progress.left_m, 1)
            if backward and progress.left_m is not None
            else None,
        }

    # --- the workout ---------------------------------------------------------------------

    def _finish_plan(self) -> None:
        if not self._plan_started:
            return
        self._plan_started = False
        self._announce(Alert(Level.INFO, "plan_done", "Workout complete. Well done!"))
        self._step(Command(f"plan-stop-{self._now:.3f}", CommandKind.STOP, source="plan"))

    def _on_engine_command(self, command: Command) -> None:
        if command.kind is CommandKind.SET_HR_TARGET:
            self._on_hr_target(command)
            return
        if command.kind is not CommandKind.NEXT_SEGMENT:
            self._out.append(LoadPlan(command))  # the shell reads it off the event loop
            return
        if self.engine is None or not self._plan_started:
            self._result(CommandResult(command.id, False, error="no workout plan is running"))
            return
        change = self.engine.skip()
        if change is None:
            self._result(CommandResult(command.id, True, applied="that was the last segment"))
            self._finish_plan()
            return
        self._step(change)
        self._result(CommandResult(command.id, True, applied=f"segment {change.index + 1}"))

    def _on_plan_loaded(self, loaded: PlanLoaded) -> None:
        command, plan = loaded.command, loaded.plan
        if plan is None:
            self._result(CommandResult(command.id, False, error=loaded.error))
            return
        self.plan, self.engine = plan, WorkoutEngine(plan)
        self._plan_started = False
        self.resume_segment = None
        self._out.append(Update({"plan": plan.name, "workout": plan}))
        self._start_plan()
        self._result(CommandResult(command.id, True, applied=f"plan {plan.name!r}"))

    def _announce_hr_source(self) -> None:
        """SAFETY.md 14: a missing protection is said out loud, once per session."""
        if self._hr_announced:
            return
        self._hr_announced = True
        source: Literal["strap", "treadmill"] | None = (
            None
            if self._hr_source is None
            else "strap"
            if self._hr_source == "strap"
            else "treadmill"
        )
        self._out.append(Update({"hr_source": source}))
        if source is None:
            self._announce(
                Alert(
                    Level.WARNING,
                    "no_hr_source",
                    "No heart-rate source: the heart-rate ceiling and HR-lost protections are OFF.",
                )
            )
        elif source == "treadmill":
            self._log(logging.INFO, "heart rate from the treadmill itself")

    def _start_plan(self) -> None:
        s = self.state
        if not (s.control.held and s.belt_seen):
            return  # a plan starts once we hold control and know whether the belt moves
        self._announce_hr_source()
        if self.engine is None or self._plan_started or self.engine.finished or s.stopping:
            return  # a finished plan stays finished: load_plan starts another
        self._plan_started = True
        for warning in (
            self.plan.warnings(
                self.limits.backward_cap_kmh,
                self.limits.backward_segment_limit_m,
                age=self.limits.age,
                hr_ceiling_bpm=self.limits.hr_ceiling_bpm,
            )
            if self.plan
            else []
        ):
            self._announce(Alert(Level.WARNING, "plan_warning", warning))
        start_at = self.resume_segment or 0
        if start_at:
            self._log(logging.INFO, f"resuming the plan at segment {start_at + 1}")
        self._step(self.engine.start(self._now, self._distance_m, start_at))
        self._step(Command(f"plan-start-{self._now:.3f}", CommandKind.START, source="plan"))

    # --- the governor --------------------------------------------------------------------

    def _step(self, event: Event) -> None:
        now = self._now
        if isinstance(event, SegmentChange):
            segments = self.plan.segments if self.plan is not None else ()
            seg = segments[event.index] if 0 <= event.index < len(segments) else None
            self._hr_target.segment(event.index, seg)
        self.state, actions = step(self.state, event, now)
        for_engine: list[Command] = []
        for action in actions:
            if isinstance(action, Decision):
                self._out.append(Publish(DecisionMessage(now, action)))
            elif isinstance(action, Alert):
                self._announce(action)
            elif isinstance(action, CommandResult):
                self._result(action)
            elif isinstance(action, ToEngine):
                for_engine.append(action.command)
            elif isinstance(action, Reconnect):
                self._out.append(Drop())
            else:
                self._out.append(write(action))
        waiting = not self._hr_announced or (
            self.engine is not None and not self._plan_started and not self.engine.finished
        )
        if waiting and isinstance(event, ControlGranted | TreadmillRecord):
            self._start_plan()  # once control is held and the belt state known
        for command in for_engine:
            self._on_engine_command(command)
        if isinstance(event, Tick):
            self._hold_heart_rate()
        elif (
            isinstance(event, Command)
            and event.kind is CommandKind.SET_SPEED
            and self._hr_target.free_mode
            and any(isinstance(a, CommandResult) and a.ok for a in actions)
        ):  # a speed set by hand ends free mode's heart-rate control, or it would undo it
            self._hr_target.off()
            self._announce(
                Alert(Level.INFO, "hr_target_off", "Heart-rate target off: speed set by hand.")
            )
        s = self.state
        self._out.append(
            Update(
                {
                    "capped": s.cap_active,
                    "cap_limiting": s.cap_limiting,
                    "cap_held": s.cap_held,
                    "cap_kmh": s.cap_c / 100,
                    "direction": s.direction,
                    "phase": s.phase,
                    "running": s.running,
                    "plan": self.plan.name if self.plan else None,
                    "workout": self.plan,
                    **self._hr_target_state(),
                }
            )
        )

    def _on_hr_target(self, command: Command) -> None:
        """``set_hr_target`` in free mode: a plan's segments hold their own targets."""
        if self.engine is not None and self._plan_started:
            error = "a plan is running: its segments set the heart-rate target"
            self._result(CommandResult(command.id, False, error=error))
            return
        try:
            target = parse_target(command.value, self.limits.age)
        except ValueError as exc:
            self._result(CommandResult(command.id, False, error=str(exc)))
            return
        if target is None:
            self._hr_target.off()
            self._result(CommandResult(command.id, True, applied="heart-rate target off"))
            return
        s = self.state
        speed = (s.requested_c or s.reported_c or 0) / 100 or FREE_START_KMH
        self._hr_target.free(s.segment, target, Effort(speed, s.incline_pct or 0.0))
        self._result(CommandResult(command.id, True, applied=f"holding heart rate {target}"))

    def _hold_heart_rate(self) -> None:
        """A heart-rate segment: the controller's request, through the governor."""
        told = self._hr_target.out_of_reach
        request = self._hr_target.tick(self.state, self._now, hr_fresh(self.state, self._now))
        if request is not None:
            self._step(request)
        if self._hr_target.out_of_reach is not None and told is None:
            self._announce(Alert(Level.INFO, "hr_out_of_reach", self._hr_target.out_of_reach))

    def _hr_target_state(self) -> SnapshotChanges:
        target = self._hr_target.target
        if target is None:
            return {"hr_target_bpm": None, "hr_in_range": None}
        bpm = self.state.hr.bpm if hr_fresh(self.state, self._now) else None
        return {
            "hr_target_bpm": (target.low_bpm, target.high_bpm),
            "hr_in_range": target.holds(bpm),
        }

    def _announce(self, alert: Alert) -> None:
        self._log(_LOG_LEVELS[alert.level], alert.message)
        self._out.append(Publish(AlertMessage(self._now, alert)))
        self._out.append(Update({"last_alert": alert.message}))

    def _result(self, result: CommandResult) -> None:
        if result.source == "plan":
            return  # the gateway's own (plan start and stop): nobody asked, nobody is answered
        self._out.append(Publish(ResultMessage(self._now, result)))

    def _log(self, level: int, text: str) -> None:
        self._out.append(Log(level, text))
