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
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from ..ftms import (
    ControlOp,
    ControlPointRequest,
    FtmsDecodeError,
    MachineStatusOp,
    ResultCode,
    SpeedRange,
    StopPause,
    TreadmillDataJoiner,
    decode_feature,
    decode_heart_rate,
    decode_incline_range,
    decode_machine_status,
    decode_speed_range,
    decode_training_status,
    decode_treadmill_data,
    encode_speed_range,
)
from ..ftms import uuids as U
from ..hub import (
    AlertMessage,
    DecisionMessage,
    HeartRateMessage,
    HubMessage,
    MachineMessage,
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
    RefusedCommand,
    SegmentChange,
    SpeedRangeReported,
    StopKind,
    TargetReported,
    Tick,
    TreadmillRecord,
)
from ..safety.governor import GovernorState, View, view
from ..workout.energy import EnergyMeter
from ..workout.plan import Plan
from ..workout.session import Note, Out, WorkoutSession

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
    speed_range: bytes | None  # None: the machine does not say (defaults are assumed)
    incline_range: bytes | None = None  # None: the machine has no inclination range
    strap: bool = False  # a separate heart-rate strap is configured
    hr_service: bool = False  # the treadmill itself has the Heart Rate service
    control_point: bool = True  # False: it takes no commands at all (watch mode)


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
# Without a Supported Speed Range (some treadmills omit it): a range most machines cover,
# so no target is refused as out of range (docs/hardware.md).
ASSUMED_SPEED_RANGE = SpeedRange(1.0, 16.0, 0.1)
WATCH_MODE = Alert(
    Level.DANGER,
    "watch_mode",
    "Watch mode: this treadmill takes no commands. The backward cap is NOT enforced: "
    "set the speed by hand.",
)


def write(action: ControlAction) -> Write:
    """The control-point request that carries out a governor action."""
    return Write(action, REQUESTS[type(action)](action))


class StationCore:
    """A treadmill (and optional strap) under the governor: decisions only.

    Inputs become governor events in a local queue, handled one at a time to
    the end: what one event causes (the plan's start, a segment, the plan's
    stop, a heart-rate effort) is queued behind it, never handled inside it.
    The workout's lifecycle is the :class:`WorkoutSession`'s; the core reads the
    governor only through its :class:`View`.
    """

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
        self.state: GovernorState = initial_state(limits)
        self.session = WorkoutSession(limits, plan)
        self.energy = EnergyMeter(weight_kg, limits.age, sex)
        self.counters: Counter[str] = Counter()
        self._joiner = TreadmillDataJoiner()
        self._seq_treadmill = 0
        self._seq_hr = 0
        self._hr_source: HrSource | None = None
        self._hr_announced = False
        self._out: list[Effect] = []
        self._now = 0.0
        self._queue: deque[Event] = deque()
        self._draining = False
        self._view: View = view(self.state, 0.0)
        self._view_at: float | None = None  # the instant _view was made at (None: stale)
        self._watch_said = self._range_said = False

    def view(self) -> View:
        """The governor as the rest of the station sees it, now.

        Made once per state and instant (about 2 µs: the ceiling, the HR freshness),
        however often a record's handling reads it.
        """
        if self._view_at != self._now:
            self._view, self._view_at = view(self.state, self._now), self._now
        return self._view

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
        speed_range = ready.speed_range or encode_speed_range(ASSUMED_SPEED_RANGE)
        self._out.append(
            Publish(
                MachineMessage(
                    self._now, ready.address, ready.feature, speed_range, ready.incline_range
                )
            )
        )
        feature = decode_feature(ready.feature)
        incline_ok = "inclination" in feature.target_settings and ready.incline_range is not None
        self._step(MachineFeatures(incline=incline_ok, control=ready.control_point))
        if ready.strap:
            self._hr_source = "strap"
        elif ready.hr_service:
            self._hr_source = "treadmill"
        elif "heart_rate_measurement" in feature.machine_features:
            self._hr_source = "treadmill data"
        else:
            self._hr_source = None
        if not ready.control_point:
            if not self._watch_said:  # once per session: it does not change between connects
                self._watch_said = True
                self._announce(WATCH_MODE)
        elif "speed" not in feature.target_settings:
            self._announce(
                Alert(
                    Level.DANGER,
                    "no_speed_control",
                    "This treadmill does not accept speed targets: the cap cannot be enforced.",
                )
            )
        if ready.speed_range is None and not self._range_said:
            self._range_said = True
            a = ASSUMED_SPEED_RANGE
            text = (
                f"This treadmill does not say its speed range: assuming {a.min_kmh:g}-"
                f"{a.max_kmh:g} km/h in steps of {a.step_kmh:g}."
            )
            self._announce(Alert(Level.INFO, "no_speed_range", text))
        speeds = decode_speed_range(speed_range)
        self._step(SpeedRangeReported(speeds.min_kmh, speeds.max_kmh, speeds.step_kmh))
        self._out.append(Update({"max_kmh": speeds.max_kmh}))
        incline = ""
        if ready.incline_range is not None:
            inclines = decode_incline_range(ready.incline_range)
            if incline_ok:
                self.session.allow_incline(inclines.max_pct)
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
            if self.view().controllable:  # watch mode: nothing to ask
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
        v = self.view()
        seen = (v.direction, v.cap_active, v.cap_kmh)  # the governor's view on arrival
        published = len(self._out)
        if record.speed_kmh is not None:
            self._step(TreadmillRecord(record.speed_kmh))
        if self._hr_source == "treadmill data" and record.heart_rate_bpm:
            self._out.append(Update({"heart_rate_bpm": record.heart_rate_bpm, "hr_contact": True}))
            self._step(HeartRateSample(record.heart_rate_bpm, True))
        v = self.view()
        speed = record.speed_kmh or 0.0
        kcal = self.energy.update(now, speed, record.incline_pct or 0.0, v.direction, v.hr_bpm)
        sample = TelemetrySample(
            self._seq_treadmill, now, record, *seen, round(kcal, 2), self.energy.method
        )
        self._out.insert(published, Publish(sample))  # first: listeners see the record, then why
        self._take(self.session.on_record(now, record.distance_m, moving=speed > 0))
        progress = self.session.progress()
        next_turn_s, backward_left_m = self.session.turnaround_ahead(progress)
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
                    "next_turn_s": next_turn_s,
                    "backward_left_m": backward_left_m,
                }
            )
        )

    # --- the workout ---------------------------------------------------------------------

    def _on_plan_loaded(self, loaded: PlanLoaded) -> None:
        command, plan = loaded.command, loaded.plan
        if plan is None:
            self._result(CommandResult(command.id, False, error=loaded.error))
            return
        self._out.append(Update({"plan": plan.name, "workout": plan}))
        v = self.view()
        if v.settled:
            self._announce_hr_source()
        self._take(self.session.load(command, plan, v, self._now))

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

    def _start_plan(self, v: View) -> None:
        if not v.settled:
            return  # a plan starts once we hold control and know whether the belt moves
        self._announce_hr_source()
        self._take(self.session.begin(v, self._now))

    def _take(self, outs: Iterable[Out]) -> None:
        """What the session answered: events queue for the governor, the rest goes out."""
        for item in outs:
            if isinstance(item, Alert):
                self._announce(item)
            elif isinstance(item, CommandResult):
                self._result(item)
            elif isinstance(item, Note):
                self._log(item.level, item.text)
            else:
                self._step(item)

    # --- the governor --------------------------------------------------------------------

    def _step(self, event: Event) -> None:
        """Queue an event; unless one is being handled, handle the queue to the end."""
        self._queue.append(event)
        if self._draining:
            return  # handled after the current one, not inside it
        self._draining = True
        try:
            while self._queue:
                self._handle(self._queue.popleft())
        finally:
            self._draining = False

    def _handle(self, event: Event) -> None:
        now = self._now
        if isinstance(event, Command) and (refusal := self.session.refuses(event)) is not None:
            event = RefusedCommand(event.id, refusal, event.source)  # answered by the governor
        if isinstance(event, SegmentChange):
            self.session.segment_began(event)
        self.state, actions = step(self.state, event, now)
        self._view_at = None  # a new state: the next view() is made afresh
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
        v = self.view()
        waiting = not self._hr_announced or self.session.waiting
        if waiting and isinstance(event, ControlGranted | TreadmillRecord):
            self._start_plan(v)  # once control is held and the belt state known
        for command in for_engine:
            if command.kind is CommandKind.LOAD_PLAN:
                self._out.append(LoadPlan(command))  # the shell reads it off the event loop
            else:
                self._take(self.session.command(command, v, now))
        if isinstance(event, Tick):
            self._take(self.session.tick(v, now))
        elif (
            isinstance(event, Command)
            and event.kind is CommandKind.SET_SPEED
            and any(isinstance(a, CommandResult) and a.ok for a in actions)
        ):
            self._take(self.session.speed_set_by_hand())
        self._out.append(
            Update(
                {
                    "capped": v.cap_active,
                    "cap_limiting": v.cap_limiting,
                    "cap_held": v.control_held,
                    "control": "held" if v.control_held else ("lost" if v.controllable else "none"),
                    "cap_kmh": v.cap_kmh,
                    "direction": v.direction,
                    "phase": v.phase,
                    "running": v.running,
                    "plan": self.session.plan.name if self.session.plan else None,
                    "workout": self.session.plan,
                    **self._hr_target_state(v),
                }
            )
        )

    def _hr_target_state(self, v: View) -> SnapshotChanges:
        target = self.session.hr.target
        if target is None:
            return {"hr_target_bpm": None, "hr_in_range": None}
        return {
            "hr_target_bpm": (target.low_bpm, target.high_bpm),
            "hr_in_range": target.holds(v.hr_bpm),
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
