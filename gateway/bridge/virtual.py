"""retrogate as an FTMS treadmill (and a footpod) to the runner's app, with no I/O.

The app sees the real treadmill: its features and ranges as the treadmill
said them, every record it sent. What the app asks goes to the station as a
:class:`Command` with the source ``app``, through the governor's one door
like MQTT and the dashboard; the app's control-point write is answered once
the governor has answered, with the FTMS result code that tells the truth,
and the target the belt is actually told comes back to the app as the
treadmill's own Fitness Machine Status. So an app's 9 km/h during a backward
stretch shows as the cap on the app's screen, not as the app's wish.

Who owns the belt (docs/bridge.md): while a plan runs the plan owns the
speed and the incline, and the app's requests for them are answered
"control not permitted"; in free mode the app drives within the limits. Stop
or Pause from any connected app always works (a safety action). Start on a
running belt is answered success and does nothing (some Zwift versions send
Start every few seconds).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ..ftms import (
    ControlOp,
    ControlPointResponse,
    FtmsDecodeError,
    HeartRate,
    InvalidParameter,
    MachineStatus,
    MachineStatusOp,
    ResultCode,
    StopPause,
    TrainingStatus,
    TrainingStatusCode,
    TreadmillData,
    UnsupportedOpCode,
    decode_control_request,
    encode_control_response,
    encode_heart_rate,
    encode_in_two,
    encode_machine_status,
    encode_training_status,
    encode_treadmill_data,
)
from ..ftms import uuids as U
from ..ftms.rsc import RscFeature, RscMeasurement, encode_rsc_feature, encode_rsc_measurement
from ..hub import MachineMessage, Snapshot
from ..safety.actions import Alert, CommandResult, Level
from ..safety.direction import Direction
from ..safety.events import Command, CommandKind
from ..workout.session import APP_SOURCE

SOURCE = APP_SOURCE  # the commands' source: the ownership rule and the record know it
MAX_FRAME = 20  # an ATT notification's payload at the default MTU (23 - 3)
# GAP appearance "Generic Running Walking Sensor" (category 17): what a watch's footpod
# search looks for. Apps classify treadmills by the FTMS Service Data, not by appearance.
RUNNING_WALKING_SENSOR = 0x0440
BODY_LOCATION_CHEST = b"\x01"
SENSOR_LOCATION_SHOE = b"\x05"  # RSC: "in shoe" (top of shoe would be 0x04)

# The governor's refusals, as the FTMS result an app understands (by the error's start).
_INVALID = ("speed must", "incline must", "cap must", "direction must")
_UNSUPPORTED = ("this treadmill has no",)


@dataclass(frozen=True, slots=True)
class Notify:
    """Send ``data`` to the app on ``uuid`` (a notification or an indication)."""

    uuid: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Submit:
    """Hand a command to the station (the governor's one door)."""

    command: Command


@dataclass(frozen=True, slots=True)
class Seen:
    """What the station's state should show about the app."""

    app: str | None
    asked: str | None


@dataclass(frozen=True, slots=True)
class Say:
    """An alert for the runner (on every channel, as the station's own)."""

    alert: Alert


Out = Notify | Submit | Seen | Say


@dataclass
class _Asked:
    client: str
    op: ControlOp
    what: str


@dataclass
class VirtualTreadmill:
    """The FTMS server the app talks to, and the footpod a watch pairs with."""

    machine: MachineMessage
    walk_kmh: float  # where the belt comes down to when an app that drove it goes away
    names: dict[str, str] = field(default_factory=dict)  # client -> the app's name
    controller: str | None = None  # the client that was granted control
    snapshot: Snapshot | None = None
    drove: bool = False  # the app's own speed is on the belt (free mode)
    _asked: dict[str, _Asked] = field(default_factory=dict)  # command id -> the write
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _hr: int | None = None

    # --- reads -------------------------------------------------------------------------

    def read(self, uuid: str) -> bytes:
        """A characteristic's value (KeyError: not readable)."""
        m = self.machine
        values = {
            U.FITNESS_MACHINE_FEATURE: m.feature,
            U.SUPPORTED_SPEED_RANGE: m.speed_range,
            U.TRAINING_STATUS: encode_training_status(self._training()),
            U.BODY_SENSOR_LOCATION: BODY_LOCATION_CHEST,
            U.RSC_FEATURE: encode_rsc_feature(RscFeature.TOTAL_DISTANCE),
            U.SENSOR_LOCATION: SENSOR_LOCATION_SHOE,
        }
        if m.incline_range is not None:
            values[U.SUPPORTED_INCLINATION_RANGE] = m.incline_range
        return values[uuid]

    # --- the app ----------------------------------------------------------------------

    def write(self, client: str, uuid: str, data: bytes) -> list[Out]:
        """The app wrote the control point (KeyError: anything else is not writable)."""
        if uuid != U.FITNESS_MACHINE_CONTROL_POINT:
            raise KeyError(uuid)
        try:
            request = decode_control_request(data)
        except UnsupportedOpCode:
            return [self._answer(data[0] if data else 0, ResultCode.OP_CODE_NOT_SUPPORTED)]
        except InvalidParameter as exc:
            return [self._answer(exc.op_code, ResultCode.INVALID_PARAMETER)]
        except FtmsDecodeError:
            return [self._answer(data[0] if data else 0, ResultCode.INVALID_PARAMETER)]
        op = request.op
        if op is ControlOp.REQUEST_CONTROL:
            if self.controller not in (None, client) or not self._treadmill_up():
                return [self._answer(op, ResultCode.CONTROL_NOT_PERMITTED)]
            self.controller = client
            return [
                self._answer(op, ResultCode.SUCCESS),
                self._seen(f"control from {self._name(client)}"),
            ]
        if op is ControlOp.STOP_OR_PAUSE:  # a safety action: whoever asks, with or without control
            kind = CommandKind.STOP if request.stop_pause is StopPause.STOP else CommandKind.PAUSE
            return self._submit(client, op, kind, None, kind.value)
        if client != self.controller:
            return [self._answer(op, ResultCode.CONTROL_NOT_PERMITTED)]
        if op is ControlOp.RESET:
            self.controller = None
            return [self._answer(op, ResultCode.SUCCESS), self._seen("reset (control released)")]
        if op is ControlOp.START_OR_RESUME:
            if self.snapshot is not None and self.snapshot.running:
                return [self._answer(op, ResultCode.SUCCESS)]  # already running: nothing to do
            return self._submit(client, op, CommandKind.START, None, "start")
        if op is ControlOp.SET_TARGET_SPEED and request.target_speed_kmh is not None:
            kmh = request.target_speed_kmh
            return self._submit(client, op, CommandKind.SET_SPEED, kmh, f"speed {kmh:g} km/h")
        if op is ControlOp.SET_TARGET_INCLINATION and request.target_incline_pct is not None:
            pct = request.target_incline_pct
            return self._submit(client, op, CommandKind.SET_INCLINE, pct, f"incline {pct:g} %")
        return [self._answer(op, ResultCode.OP_CODE_NOT_SUPPORTED)]

    def left(self, client: str) -> list[Out]:
        """The app disconnected: only a belt it was driving in free mode changes."""
        name = self._name(client)
        self.names.pop(client, None)
        self._asked = {k: a for k, a in self._asked.items() if a.client != client}
        if client != self.controller:
            return []
        self.controller = None
        out: list[Out] = [Seen(None, None)]
        s = self.snapshot
        if not self.drove or s is None or not s.running:
            return out
        self.drove = False
        if s.direction is Direction.BACKWARD:
            command = Command(self._id(), CommandKind.SET_SPEED, self.walk_kmh, source=SOURCE)
            text = f"{name} went away: slowing to {self.walk_kmh:g} km/h, backward walking."
            return [*out, Submit(command), Say(Alert(Level.WARNING, "app_gone", text))]
        text = f"{name} went away: the belt holds its speed."
        return [*out, Say(Alert(Level.INFO, "app_gone", text))]

    def connected(self, client: str, name: str) -> list[Out]:
        """An app connected (its name, or its address)."""
        self.names[client] = name
        return [self._seen(None)] if self.controller is None else []

    # --- the station ------------------------------------------------------------------

    def on_result(self, result: CommandResult) -> list[Out]:
        """The governor answered an app's command: now the app hears it."""
        asked = self._asked.pop(result.id, None)
        if asked is None:
            return []
        if result.ok:
            if asked.op is ControlOp.SET_TARGET_SPEED:
                self.drove = True
            elif asked.op is ControlOp.STOP_OR_PAUSE:
                self.drove = False
            code = ResultCode.SUCCESS
            outcome = result.applied or "done"
        else:
            error = result.error or ""
            code = (
                ResultCode.INVALID_PARAMETER
                if error.startswith(_INVALID)
                else ResultCode.OP_CODE_NOT_SUPPORTED
                if error.startswith(_UNSUPPORTED)
                else ResultCode.CONTROL_NOT_PERMITTED
            )
            outcome = f"refused: {error}"
        return [self._answer(asked.op, code), self._seen(f"{asked.what}: {outcome}")]

    def on_record(self, record: TreadmillData) -> list[Out]:
        """A record from the real treadmill: to the app as it came (with the heart rate)."""
        if self._hr is not None and record.heart_rate_bpm is None:
            record = record._replace(heart_rate_bpm=self._hr)
        out: list[Out] = [Notify(U.TREADMILL_DATA, frame) for frame in frames(record)]
        speed = record.speed_kmh or 0.0
        distance = float(record.distance_m) if record.distance_m is not None else None
        footpod = RscMeasurement(speed / 3.6, 0, None, distance)
        out.append(Notify(U.RSC_MEASUREMENT, encode_rsc_measurement(footpod)))
        return out

    def on_heart_rate(self, sample: HeartRate) -> list[Out]:
        """The runner's heart rate: relayed, and put in the treadmill records."""
        self._hr = sample.heart_rate_bpm if sample.contact is not False else None
        return [Notify(U.HEART_RATE_MEASUREMENT, encode_heart_rate(sample))]

    def on_state(self, s: Snapshot) -> list[Out]:
        """The station's state: what the treadmill would say about itself, when it changes."""
        before, self.snapshot = self.snapshot, s
        out: list[Out] = []
        if before is not None and before.treadmill_connected and not s.treadmill_connected:
            stopped = TreadmillData(speed_kmh=0.0, distance_m=s.distance_m)
            out += [Notify(U.TREADMILL_DATA, f) for f in frames(stopped)]
            lost = MachineStatus(MachineStatusOp.CONTROL_PERMISSION_LOST)
            out.append(Notify(U.FITNESS_MACHINE_STATUS, encode_machine_status(lost)))
            if self.controller is not None:
                self.controller = None
                out.append(self._seen("the treadmill went away: control released"))
            return out
        if s.target_kmh is not None and (before is None or before.target_kmh != s.target_kmh):
            target = MachineStatus(MachineStatusOp.TARGET_SPEED_CHANGED, s.target_kmh)
            out.append(Notify(U.FITNESS_MACHINE_STATUS, encode_machine_status(target)))
        if before is not None and before.running != s.running:
            op = (
                MachineStatusOp.STARTED_OR_RESUMED_BY_USER
                if s.running
                else MachineStatusOp.STOPPED_OR_PAUSED_BY_USER
            )
            pause = None if s.running else StopPause.PAUSE
            status = MachineStatus(op, stop_pause=pause)
            out.append(Notify(U.FITNESS_MACHINE_STATUS, encode_machine_status(status)))
            out.append(Notify(U.TRAINING_STATUS, encode_training_status(self._training())))
        return out

    # --- helpers ----------------------------------------------------------------------

    def _submit(
        self, client: str, op: ControlOp, kind: CommandKind, value: float | None, what: str
    ) -> list[Out]:
        command = Command(self._id(), kind, value, source=SOURCE)
        self._asked[command.id] = _Asked(client, op, what)
        return [Submit(command)]

    def _answer(self, op: ControlOp | int, result: ResultCode) -> Notify:
        data = encode_control_response(ControlPointResponse(op, result))
        return Notify(U.FITNESS_MACHINE_CONTROL_POINT, data)

    def _seen(self, asked: str | None) -> Seen:
        client = self.controller or next(iter(self.names), None)
        return Seen(self._name(client) if client is not None else None, asked)

    def _name(self, client: str) -> str:
        return self.names.get(client) or address_of(client)

    def _id(self) -> str:
        return f"app-{next(self._ids)}"

    def _treadmill_up(self) -> bool:
        return self.snapshot is None or self.snapshot.treadmill_connected

    def _training(self) -> TrainingStatus:
        running = self.snapshot is not None and self.snapshot.running
        return TrainingStatus(
            TrainingStatusCode.MANUAL_MODE if running else TrainingStatusCode.IDLE
        )


def frames(record: TreadmillData) -> list[bytes]:
    """A record as the app can take it: one frame, or two when it is longer than a
    notification at the default MTU ("More Data" on the first, as treadmills do)."""
    whole = encode_treadmill_data(record)
    return [whole] if len(whole) <= MAX_FRAME else encode_in_two(record)


def address_of(client: str) -> str:
    """``/org/bluez/hci2/dev_AA_BB_CC_DD_EE_FF`` -> ``AA:BB:CC:DD:EE:FF``."""
    tail = client.rsplit("/", 1)[-1]
    return tail.removeprefix("dev_").replace("_", ":") if tail.startswith("dev_") else client
