"""One simulated station (treadmill + strap + scripted faults) as bytes, sans I/O.

Both faces, the BlueZ peripheral and the in-process link, are thin shells
around this: they call :meth:`SimulatedStation.advance` as time passes and
deliver what it returns, and pass writes and reads through. Every byte comes
from the project's encoders; faults are applied to those bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from gateway.ftms import (
    BatteryLevel,
    BodySensorLocation,
    ControlPointRequest,
    ControlPointResponse,
    FitnessMachineFeature,
    FtmsDecodeError,
    InclineRange,
    InvalidParameter,
    MachineStatus,
    ResultCode,
    SensorLocation,
    SpeedRange,
    TrainingStatus,
    UnsupportedOpCode,
    decode_control_request,
    encode_battery_level,
    encode_body_sensor_location,
    encode_control_response,
    encode_feature,
    encode_heart_rate,
    encode_in_two,
    encode_incline_range,
    encode_machine_status,
    encode_speed_range,
    encode_training_status,
    encode_treadmill_data,
)
from gateway.ftms import uuids as U
from gateway.ftms.control import ControlOp
from gateway.safety.direction import Direction

from .heart import HeartModel, HeartSpec
from .scenario import (
    Console,
    Disconnect,
    HrContactLost,
    HrSilent,
    HrSurge,
    IgnoreSetSpeed,
    Malformed,
    RefuseControl,
    RevertSpeed,
    Scenario,
    ScenarioEvent,
    Silent,
    SlowResponse,
    Split,
    Truncated,
    Turn,
    WindowedEvent,
)
from .treadmill import TreadmillModel, TreadmillSpec


class Notify(NamedTuple):
    """A value to notify (or indicate) to every subscribed client."""

    uuid: str
    data: bytes


class Drop(NamedTuple):
    """The peripheral drops every connection (a scripted disconnect)."""

    reason: str


class Note(NamedTuple):
    """Something worth logging ("console speed +2 presses")."""

    text: str


Outgoing = Notify | Drop | Note


class WriteResult(NamedTuple):
    """What a write produced: the indication to send (after ``delay_s``) and statuses."""

    response: Notify | None
    delay_s: float
    then: list[Outgoing]


@dataclass(frozen=True)
class DeviceInfo:
    """Device Information strings and the advertised name."""

    name: str = "retrogate sim"
    manufacturer: str = "retrogate"
    model: str = "SIM-1"
    serial: str = "0001"
    firmware: str = "1.0"


@dataclass(frozen=True)
class StationSpec:
    """Everything fixed about the simulated hardware."""

    treadmill: TreadmillSpec = field(default_factory=TreadmillSpec)
    heart: HeartSpec = field(default_factory=HeartSpec)
    info: DeviceInfo = field(default_factory=DeviceInfo)
    treadmill_rate_hz: float = 1.0
    hr_rate_hz: float = 1.0
    with_hr: bool = True
    with_incline: bool = True  # False: speed only, no incline range, 0x03 not supported
    hr_in_treadmill_data: bool = False  # a built-in receiver: HR inside Treadmill Data
    # Treadmills without the optional parts (docs/hardware.md; ``sim --profile``):
    with_speed_range: bool = True  # False: no Supported Speed Range characteristic
    with_status: bool = True  # False: no Fitness Machine Status, no Training Status
    with_control: bool = True  # False: no control point at all (watch mode)
    control_refused: bool = False  # True: the control point refuses every request
    advertise_ftms: bool = True  # False: no FTMS UUID or Service Data in the advertisement


# The machines runners own, as simulator profiles (``retrogate sim --profile NAME``).
PROFILES: dict[str, dict[str, bool]] = {
    "standard": {},
    "no-speed-range": {"with_speed_range": False},
    "no-status": {"with_status": False},
    "no-control-point": {"with_control": False},
    "control-refused": {"control_refused": True},
    "no-advertised-uuid": {"advertise_ftms": False},
}


def with_profile(spec: StationSpec, profile: str) -> StationSpec:
    """``spec`` as the named profile's machine (KeyError: no such profile)."""
    return replace(spec, **PROFILES[profile])  # type: ignore[arg-type]  # bool fields only


def offers(spec: StationSpec, uuid: str) -> bool:
    """Whether the simulated machine has this (optional) characteristic at all."""
    if uuid == U.SUPPORTED_SPEED_RANGE:
        return spec.with_speed_range
    if uuid in (U.FITNESS_MACHINE_STATUS, U.TRAINING_STATUS):
        return spec.with_status
    if uuid == U.FITNESS_MACHINE_CONTROL_POINT:
        return spec.with_control
    if uuid == U.SUPPORTED_INCLINATION_RANGE:
        return spec.with_incline
    return True


FEATURE = FitnessMachineFeature(
    machine_features=(
        "average_speed",
        "total_distance",
        "inclination",
        "expended_energy",
        "elapsed_time",
    ),
    target_settings=("speed", "inclination"),
)


def feature_of(spec: StationSpec) -> FitnessMachineFeature:
    """What the simulated machine says it can do (the Feature characteristic)."""
    machine = [f for f in FEATURE.machine_features if spec.with_incline or f != "inclination"]
    if spec.hr_in_treadmill_data:
        machine.append("heart_rate_measurement")
    targets = tuple(t for t in FEATURE.target_settings if spec.with_incline or t != "inclination")
    if not spec.with_control:
        targets = ()  # nothing can be set on a machine without a control point
    return FitnessMachineFeature(machine_features=tuple(machine), target_settings=targets)


class Written(NamedTuple):
    """One control-point write as the machine received it: the ground truth for tests."""

    at: float
    client: str
    request: ControlPointRequest


MAX_STEP_S = 0.1  # distance triggers are checked at least this often


class SimulatedStation:
    """A treadmill and strap behind a GATT table."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        spec: StationSpec | None = None,
        *,
        start: float = 0.0,
    ) -> None:
        self.spec = spec or StationSpec()
        self.treadmill = TreadmillModel(self.spec.treadmill, now=start)
        self.heart = HeartModel(self.spec.heart, now=start)
        self.direction = Direction.FORWARD
        self.start = start
        self.scenario = scenario or Scenario()
        self._waiting: list[ScenarioEvent] = list(self.scenario.events)
        self._windows: list[tuple[WindowedEvent, float]] = []  # (event, end time)
        self._truncate: list[int] = []  # cut sizes for the next frames
        self._malformed = 0
        self._split = 0
        self._reverts: list[tuple[float, float]] = []  # (due, speed to go back to)
        self._next_treadmill = start
        self._next_hr = start
        self._training_status = self.treadmill.training_status
        self.frames_sent = 0
        self.writes: list[Written] = []  # every decoded control-point write, in order

    def begin(self, now: float) -> None:
        """Set the station's origin: scenario times count from here."""
        self.start = self.treadmill.now = self.heart.now = now
        self._next_treadmill = self._next_hr = now

    # --- reads ------------------------------------------------------------------

    def read(self, uuid: str) -> bytes:
        """The value of a readable characteristic; KeyError for any other."""
        spec, info = self.spec.treadmill, self.spec.info
        readers = {
            U.FITNESS_MACHINE_FEATURE: lambda: encode_feature(feature_of(self.spec)),
            U.SUPPORTED_SPEED_RANGE: lambda: encode_speed_range(
                SpeedRange(spec.min_kmh, spec.max_kmh, spec.step_kmh)
            ),
            U.SUPPORTED_INCLINATION_RANGE: lambda: encode_incline_range(
                InclineRange(spec.min_incline_pct, spec.max_incline_pct, spec.step_incline_pct)
            ),
            U.TRAINING_STATUS: lambda: encode_training_status(
                TrainingStatus(self.treadmill.training_status)
            ),
            U.BODY_SENSOR_LOCATION: lambda: encode_body_sensor_location(
                BodySensorLocation(SensorLocation.CHEST)
            ),
            U.BATTERY_LEVEL: lambda: encode_battery_level(
                BatteryLevel(round(self.heart.battery_pct))
            ),
            U.MANUFACTURER_NAME: lambda: info.manufacturer.encode(),
            U.MODEL_NUMBER: lambda: info.model.encode(),
            U.SERIAL_NUMBER: lambda: info.serial.encode(),
            U.FIRMWARE_REVISION: lambda: info.firmware.encode(),
        }
        if not offers(self.spec, uuid):
            raise KeyError(uuid)
        return readers[uuid]()

    # --- connections -------------------------------------------------------------

    def client_left(self, client: str) -> None:
        """A client disconnected: it no longer holds control."""
        if self.treadmill.controller == client:
            self.treadmill.controller = None

    # --- time ---------------------------------------------------------------------

    def next_due(self) -> float:
        """When ``advance`` next has something to do.

        Distance triggers cannot be scheduled in time, so while one waits the
        station asks to be advanced at least every MAX_STEP_S.
        """
        dues = [self._next_treadmill]
        if any(e.at_m is not None or e.at_run_s is not None for e in self._waiting):
            dues.append(self.treadmill.now + MAX_STEP_S)
        if self.spec.with_hr:
            dues.append(self._next_hr)
        dues += [due for due, _ in self._reverts]
        dues += [self.start + e.at_s for e in self._waiting if e.at_s is not None]
        return min(dues)

    def advance(self, now: float) -> list[Outgoing]:
        """Move to ``now``: physics, scripted events, and the notifications due."""
        tm = self.treadmill
        tm.advance(now)
        surge = self._active(HrSurge)
        self.heart.extra_bpm = surge.extra_bpm if isinstance(surge, HrSurge) else 0.0
        self.heart.advance(now, tm.belt_kmh, tm.incline_pct, self.direction)
        out: list[Outgoing] = []
        self._windows = [(e, end) for e, end in self._windows if end > now]
        for event in self._due_events(now):
            out += self._apply(event, now)
        for due, speed in [r for r in self._reverts if r[0] <= now]:
            self._reverts.remove((due, speed))
            out.append(Note(f"reverting to {speed:.2f} km/h on its own"))
            out += self._statuses(tm.set_target(speed))
        if tm.training_status != self._training_status and self.spec.with_status:
            self._training_status = tm.training_status
            out.append(Notify(U.TRAINING_STATUS, self.read(U.TRAINING_STATUS)))
        if now >= self._next_treadmill:
            self._next_treadmill = max(self._next_treadmill + 1 / self.spec.treadmill_rate_hz, now)
            if not self._active(Silent):
                out += self._treadmill_frames()
        if self.spec.with_hr and now >= self._next_hr:
            self._next_hr = max(self._next_hr + 1 / self.spec.hr_rate_hz, now)
            if not self._active(HrSilent) and not self._active(Silent):
                self.heart.contact = not self._active(HrContactLost)
                out.append(
                    Notify(U.HEART_RATE_MEASUREMENT, encode_heart_rate(self.heart.measurement()))
                )
        return out

    def _due_events(self, now: float) -> list[ScenarioEvent]:
        due = [
            e
            for e in self._waiting
            if (e.at_s is not None and self.start + e.at_s <= now)
            or (e.at_m is not None and self.treadmill.distance_m >= e.at_m)
            or (e.at_run_s is not None and self.treadmill.elapsed_s >= e.at_run_s)
        ]
        for event in due:
            self._waiting.remove(event)
        return due

    def _active(self, kind: type[WindowedEvent]) -> WindowedEvent | None:
        return next((e for e, _ in self._windows if isinstance(e, kind)), None)

    def _apply(self, event: ScenarioEvent, now: float) -> list[Outgoing]:
        tm = self.treadmill
        note = Note(f"scenario: {event.action}")
        if isinstance(event, Console):
            return [Note(f"console: {event.button} x{event.presses}"), *self._console(event)]
        if isinstance(event, Disconnect):
            return [note, Drop("scripted disconnect")]
        if isinstance(event, Truncated):
            self._truncate += [event.cut_bytes] * event.count
        elif isinstance(event, Malformed):
            self._malformed += event.count
        elif isinstance(event, Split):
            self._split += event.count
        elif isinstance(event, Turn):
            self.direction = event.direction
        else:
            end = now + event.duration_s if event.duration_s is not None else float("inf")
            self._windows.append((event, end))
            if isinstance(event, RefuseControl):
                return [note, *self._statuses(tm.lose_control())]
        return [note]

    def _console(self, event: Console) -> list[Outgoing]:
        tm, n = self.treadmill, event.presses
        actions = {
            "speed_up": lambda: tm.console_speed(n),
            "speed_down": lambda: tm.console_speed(-n),
            "incline_up": lambda: tm.console_incline(n),
            "incline_down": lambda: tm.console_incline(-n),
            "start": tm.console_start,
            "stop": tm.console_stop,
            "pause": lambda: tm.console_stop(pause=True),
            "pull_safety_key": tm.pull_safety_key,
            "insert_safety_key": tm.insert_safety_key,
        }
        return self._statuses(actions[event.button]())

    def _statuses(self, statuses: Iterable[MachineStatus]) -> list[Outgoing]:
        if not self.spec.with_status:
            return []
        return [Notify(U.FITNESS_MACHINE_STATUS, encode_machine_status(s)) for s in statuses]

    def _treadmill_frames(self) -> list[Outgoing]:
        record = self.treadmill.record()
        if self.spec.hr_in_treadmill_data and self.heart.contact:
            record = record._replace(heart_rate_bpm=round(self.heart.bpm))
        self.frames_sent += 1
        if self._malformed:
            self._malformed -= 1
            return [Notify(U.TREADMILL_DATA, b"\xfe")]
        frames = [encode_treadmill_data(record)]
        if self._split:
            self._split -= 1
            frames = encode_in_two(record)
        if self._truncate:
            cut = min(self._truncate.pop(0), len(frames[-1]) - 2)
            frames[-1] = frames[-1][: len(frames[-1]) - cut]
        return [Notify(U.TREADMILL_DATA, frame) for frame in frames]

    # --- writes ---------------------------------------------------------------------

    def write(self, client: str, uuid: str, data: bytes, now: float) -> WriteResult:
        """A client wrote ``data``; only the control point is writable."""
        if uuid != U.FITNESS_MACHINE_CONTROL_POINT or not self.spec.with_control:
            raise KeyError(uuid)
        before_write = self.advance(now)
        result = self._write(client, data, now)
        return result._replace(then=[*before_write, *result.then])

    def _write(self, client: str, data: bytes, now: float) -> WriteResult:
        slow = self._active(SlowResponse)
        delay = slow.delay_s if isinstance(slow, SlowResponse) else 0.0
        try:
            request = decode_control_request(data)
        except UnsupportedOpCode as exc:
            return self._answer(exc.op_code, ResultCode.OP_CODE_NOT_SUPPORTED, delay, [])
        except InvalidParameter as exc:
            return self._answer(exc.op_code, ResultCode.INVALID_PARAMETER, delay, [])
        except FtmsDecodeError:
            return WriteResult(None, 0.0, [Note("empty control point write ignored")])
        self.writes.append(Written(now, client, request))
        if request.op is ControlOp.SET_TARGET_INCLINATION and not self.spec.with_incline:
            return self._answer(request.op, ResultCode.OP_CODE_NOT_SUPPORTED, delay, [])
        tm = self.treadmill
        refusing = self.spec.control_refused or self._active(RefuseControl) is not None
        if refusing and request.op is not ControlOp.REQUEST_CONTROL:
            return self._answer(request.op, ResultCode.CONTROL_NOT_PERMITTED, delay, [])
        if (
            request.op is ControlOp.SET_TARGET_SPEED
            and tm.controller == client
            and self._active(IgnoreSetSpeed)
        ):
            note = Note("ignoring set target speed (scenario)")
            return self._answer(request.op, ResultCode.SUCCESS, delay, [note])
        before = tm.target_kmh
        result, statuses = tm.control(client, request, refuse_control=refusing)
        then: list[Outgoing] = self._statuses(statuses)
        revert = self._active(RevertSpeed)
        if (
            isinstance(revert, RevertSpeed)
            and request.op is ControlOp.SET_TARGET_SPEED
            and result is ResultCode.SUCCESS
        ):
            self._reverts.append((now + revert.after_s, before))
        return self._answer(request.op, result, delay, then)

    def _answer(
        self, op: int, result: ResultCode, delay: float, then: list[Outgoing]
    ) -> WriteResult:
        data = encode_control_response(ControlPointResponse(op, result))
        return WriteResult(Notify(U.FITNESS_MACHINE_CONTROL_POINT, data), delay, then)
