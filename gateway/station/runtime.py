"""One station at run time: links, decoding, the governor, the control point.

Tasks (all in one TaskGroup, all named):

* a link loop per device: connect, read ranges, subscribe, request control;
  on disconnect tell the governor and reconnect with backoff and jitter;
* the brain: the only consumer of the inbox. BLE callbacks only enqueue raw
  bytes; the brain decodes, steps the governor and the workout engine in
  order, and hands actions on;
* the executor: carries out control-point actions one at a time and
  reports failures back to the governor as events;
* the ticker: time for the governor (ramps, dwell, HR timeout, retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..backoff import Backoff
from ..clock import Clock
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
    Hub,
    ResultMessage,
    Snapshot,
    TelemetrySample,
)
from ..link import Link, LinkError
from ..safety import Action, Event, SafetyLimits, initial_state, step
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
    Shutdown,
    SpeedRangeReported,
    StopKind,
    TargetReported,
    Tick,
    TreadmillRecord,
)
from ..workout.energy import EnergyMeter
from ..workout.engine import WorkoutEngine
from ..workout.plan import Plan, PlanError, plan_by_name
from .control import ControlError, ControlPointClient, ControlTimeout

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Raw:
    """A notification as it arrived: only enqueued by the BLE callback."""

    uuid: str
    data: bytes


@dataclass(frozen=True, slots=True)
class PlanLoaded:
    """A ``load_plan`` read off the event loop: the plan, or why not."""

    command: Command
    plan: Plan | None
    error: str | None = None


Input = Raw | PlanLoaded | Event

_STATUS_EVENTS: dict[MachineStatusOp, Event] = {
    MachineStatusOp.STOPPED_OR_PAUSED_BY_USER: MachineStopped(StopKind.USER),
    MachineStatusOp.STOPPED_BY_SAFETY_KEY: MachineStopped(StopKind.SAFETY_KEY),
    MachineStatusOp.STARTED_OR_RESUMED_BY_USER: MachineStopped(StopKind.STARTED),
    MachineStatusOp.CONTROL_PERMISSION_LOST: ControlLost("the treadmill revoked control (0xFF)"),
    MachineStatusOp.RESET: ControlLost("the treadmill was reset"),
}
_REQUESTS: dict[type, Callable[[Any], ControlPointRequest]] = {
    SetTargetSpeed: lambda a: ControlPointRequest(
        ControlOp.SET_TARGET_SPEED, target_speed_kmh=a.kmh
    ),
    SetIncline: lambda a: ControlPointRequest(
        ControlOp.SET_TARGET_INCLINATION, target_incline_pct=a.pct
    ),
    Start: lambda a: ControlPointRequest(ControlOp.START_OR_RESUME),
    Pause: lambda a: ControlPointRequest(ControlOp.STOP_OR_PAUSE, stop_pause=StopPause.PAUSE),
    Stop: lambda a: ControlPointRequest(ControlOp.STOP_OR_PAUSE, stop_pause=StopPause.STOP),
    RequestControl: lambda a: ControlPointRequest(ControlOp.REQUEST_CONTROL),
}
_FAILURES = {
    ResultCode.OP_CODE_NOT_SUPPORTED: Failure.UNSUPPORTED,
    ResultCode.INVALID_PARAMETER: Failure.INVALID,
    ResultCode.OPERATION_FAILED: Failure.FAILED,
    ResultCode.CONTROL_NOT_PERMITTED: Failure.NOT_PERMITTED,
}


class StationRuntime:
    """A treadmill (and optional strap) under the governor's control."""

    def __init__(
        self,
        station_id: str,
        limits: SafetyLimits,
        clock: Clock,
        treadmill: Link,
        hrm: Link | None = None,
        *,
        plan: Plan | None = None,
        weight_kg: float = 70.0,
        sex: Literal["male", "female"] | None = None,
        tick_s: float = 0.25,
        control_timeout_s: float = 2.0,
        on_write: Callable[[ControlPointRequest], None] | None = None,
        plans_dir: Path | None = None,
    ) -> None:
        self.id = station_id
        self.limits = limits
        self.clock = clock
        self.treadmill = treadmill
        self.hrm = hrm
        self.state = initial_state(limits)
        self.hub = Hub(
            Snapshot(station_id, cap_kmh=limits.backward_cap_kmh, hr_max_bpm=limits.hr_max)
        )
        self.inbox: asyncio.Queue[Input] = asyncio.Queue()
        self.plan = plan
        self.engine = WorkoutEngine(plan) if plan else None
        self.energy = EnergyMeter(weight_kg, limits.age, sex)
        self.counters: Counter[str] = Counter()
        self.tick_s = tick_s
        self._control = ControlPointClient(treadmill, clock, control_timeout_s)
        self._actions: asyncio.Queue[Action] = asyncio.Queue()
        self._joiner = TreadmillDataJoiner()
        self._seq_treadmill = 0
        self._seq_hr = 0
        self._plan_started = False
        self._on_write = on_write
        self._hr_source: Literal["strap", "treadmill", "treadmill data"] | None = None
        self._hr_announced = False
        self.resume_segment: int | None = None  # a restarted session goes on from here
        self.plans_dir = plans_dir
        self._loading: set[asyncio.Task[None]] = set()

    # --- public ---------------------------------------------------------------------

    def submit(self, command: Command) -> None:
        """Hand a command (MQTT, dashboard, CLI) to the station: never blocks.

        Every command, whatever it asks, goes to the governor first (its
        admission checks); the workout's own come back as ``ToEngine``.
        """
        self.inbox.put_nowait(command)

    async def run(self) -> None:
        """Run every task of the station until cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._brain(), name=f"{self.id}-brain")
            tg.create_task(self._executor(), name=f"{self.id}-executor")
            tg.create_task(self._ticker(), name=f"{self.id}-ticker")
            tg.create_task(
                self._link_loop(self.treadmill, self._treadmill_connected, "treadmill"),
                name=f"{self.id}-treadmill",
            )
            if self.hrm is not None and self.hrm is not self.treadmill:
                tg.create_task(
                    self._link_loop(self.hrm, self._hrm_connected, "hrm"), name=f"{self.id}-hrm"
                )

    async def wind_down(self, reason: str = "stopping", timeout_s: float = 3.0) -> None:
        """Before shutting down (after ``run`` is cancelled): the governor's wind-down.

        The governor decides (a backward belt to the turnaround speed, then
        pause) and its actions are carried out like any other; whatever was
        still queued (a ramp step up) is dropped first.
        """
        while not self._actions.empty():
            self._actions.get_nowait()
        self._step(Shutdown(reason))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not self._actions.empty():
                    await self._carry_out(self._actions.get_nowait())

    async def close(self) -> None:
        """Disconnect every link (after ``wind_down``), so nothing is left dangling."""
        links = {id(link): link for link in (self.treadmill, self.hrm) if link is not None}
        for link in links.values():
            with contextlib.suppress(LinkError, TimeoutError):
                async with asyncio.timeout(5):
                    await link.disconnect()

    # --- links ------------------------------------------------------------------------

    async def _link_loop(
        self, link: Link, on_connected: Callable[[Link], Awaitable[None]], what: str
    ) -> None:
        backoff = Backoff()
        failing = False
        log.info("%s: connecting to the %s %s…", self.id, what, link.address)
        while True:
            try:
                await link.connect()
            except LinkError as exc:
                if not failing:  # a failure is logged once ...
                    log.warning(
                        "%s: %s %s unreachable: %s; retrying", self.id, what, link.address, exc
                    )
                    failing = True
                await self.clock.sleep(backoff.next())
                continue
            if failing:  # ... and its recovery once
                log.info("%s: %s %s reachable again", self.id, what, link.address)
                failing = False
            gone = asyncio.Event()
            unsubscribe = link.on_disconnect(gone.set)
            try:
                await on_connected(link)
                backoff.reset()
                await gone.wait()
            except (LinkError, ControlError) as exc:
                log.warning("%s: %s setup failed: %s", self.id, what, exc)
                with contextlib.suppress(LinkError):
                    await link.disconnect()
            finally:
                unsubscribe()
            self._connection(what, False)
            await self.clock.sleep(backoff.next())

    def _enqueue(self, uuid: str) -> Callable[[bytes], None]:
        put = self.inbox.put_nowait
        return lambda data: put(Raw(uuid, bytes(data)))

    async def _treadmill_connected(self, link: Link) -> None:
        """Read what the machine is, subscribe, then ask for control (after every connect)."""
        feature = decode_feature(await link.read(U.FITNESS_MACHINE_FEATURE))
        incline_ok = "inclination" in feature.target_settings and link.has_characteristic(
            U.SUPPORTED_INCLINATION_RANGE
        )
        self.inbox.put_nowait(MachineFeatures(incline=incline_ok))
        self._hr_source = self._heart_rate_source(link, feature.machine_features)
        if "speed" not in feature.target_settings:
            self._announce(
                Alert(
                    Level.DANGER,
                    "no_speed_control",
                    "This treadmill does not accept speed targets: the cap cannot be enforced.",
                )
            )
        speed_range = decode_speed_range(await link.read(U.SUPPORTED_SPEED_RANGE))
        self.inbox.put_nowait(
            SpeedRangeReported(speed_range.min_kmh, speed_range.max_kmh, speed_range.step_kmh)
        )
        incline = ""
        if link.has_characteristic(U.SUPPORTED_INCLINATION_RANGE):
            incline_range = decode_incline_range(await link.read(U.SUPPORTED_INCLINATION_RANGE))
            incline = f", incline {incline_range.min_pct:g}-{incline_range.max_pct:g} %"
        await self._control.start()
        for uuid in (U.TREADMILL_DATA, U.FITNESS_MACHINE_STATUS, U.TRAINING_STATUS):
            if uuid == U.TREADMILL_DATA or link.has_characteristic(uuid):
                await link.subscribe(uuid, self._enqueue(uuid))
        if self.hrm is link and link.has_characteristic(U.HEART_RATE_MEASUREMENT):
            await link.subscribe(U.HEART_RATE_MEASUREMENT, self._enqueue(U.HEART_RATE_MEASUREMENT))
            self._connection("hrm", True)
        self._connection("treadmill", True)
        log.info(
            "%s: treadmill %s connected, %.1f-%.1f km/h%s",
            self.id,
            link.address,
            speed_range.min_kmh,
            speed_range.max_kmh,
            incline,
        )
        # Control first; the governor re-asserts the cap as soon as it is granted.
        self._actions.put_nowait(RequestControl())

    def _heart_rate_source(
        self, link: Link, machine_features: tuple[str, ...]
    ) -> Literal["strap", "treadmill", "treadmill data"] | None:
        """Where heart rate comes from: a strap, the treadmill's own Heart Rate
        service, Treadmill Data (a receiver in the console), or nowhere."""
        if self.hrm is not None and self.hrm is not link:
            return "strap"
        if self.hrm is link and link.has_characteristic(U.HEART_RATE_MEASUREMENT):
            return "treadmill"
        if "heart_rate_measurement" in machine_features:
            return "treadmill data"
        return None

    async def _hrm_connected(self, link: Link) -> None:
        await link.subscribe(U.HEART_RATE_MEASUREMENT, self._enqueue(U.HEART_RATE_MEASUREMENT))
        self._connection("hrm", True)
        log.info("%s: heart-rate strap %s connected", self.id, link.address)

    def _connection(self, what: str, up: bool) -> None:
        if not up and what == "treadmill":
            self.inbox.put_nowait(ControlLost("the treadmill disconnected"))
        self.hub.update(**{f"{what}_connected": up})

    # --- the brain ----------------------------------------------------------------------

    async def _brain(self) -> None:
        while True:
            item = await self.inbox.get()
            if isinstance(item, Raw):
                self._on_raw(item)
            elif isinstance(item, PlanLoaded):
                self._on_plan_loaded(item)
            else:
                self._step(item)

    def _on_raw(self, raw: Raw) -> None:
        now = self.clock.now()
        try:
            if raw.uuid == U.TREADMILL_DATA:
                self._on_treadmill_data(raw.data, now)
            elif raw.uuid == U.FITNESS_MACHINE_STATUS:
                status = decode_machine_status(raw.data)
                if (
                    status.op is MachineStatusOp.TARGET_SPEED_CHANGED
                    and status.target_speed_kmh is not None
                ):
                    self.hub.update(target_kmh=status.target_speed_kmh)
                    self._step(TargetReported(status.target_speed_kmh))
                elif status.op in _STATUS_EVENTS:
                    self._step(_STATUS_EVENTS[status.op])
            elif raw.uuid == U.TRAINING_STATUS:
                status_name = decode_training_status(raw.data).status
                log.debug("%s: training status %s", self.id, status_name)
            elif raw.uuid == U.HEART_RATE_MEASUREMENT:
                sample = decode_heart_rate(raw.data)
                self._seq_hr += 1
                self.hub.publish(HeartRateMessage(self._seq_hr, now, sample))
                self.hub.update(heart_rate_bpm=sample.heart_rate_bpm, hr_contact=sample.contact)
                self._step(HeartRateSample(sample.heart_rate_bpm, sample.contact))
        except FtmsDecodeError as exc:
            self.counters["decode_errors"] += 1
            if (
                self.counters["decode_errors"] in (1, 10, 100)
                or self.counters["decode_errors"] % 1000 == 0
            ):
                log.warning(
                    "%s: undecodable frame %s (%s); %d so far",
                    self.id,
                    raw.data.hex(" "),
                    exc,
                    self.counters["decode_errors"],
                )

    def _on_treadmill_data(self, data: bytes, now: float) -> None:
        record = self._joiner.feed(decode_treadmill_data(data))
        if record is None:
            return
        if record.warnings:
            self.counters["frame_warnings"] += 1
        self._seq_treadmill += 1
        s = self.state
        self.hub.publish(
            TelemetrySample(
                self._seq_treadmill, now, record, s.direction.value, s.cap_active, s.cap_c / 100
            )
        )
        if record.speed_kmh is not None:
            self._step(TreadmillRecord(record.speed_kmh))
        if self._hr_source == "treadmill data" and record.heart_rate_bpm:
            self.hub.update(heart_rate_bpm=record.heart_rate_bpm, hr_contact=True)
            self._step(HeartRateSample(record.heart_rate_bpm, True))
        s = self.state
        speed = record.speed_kmh or 0.0
        kcal = self.energy.update(now, speed, record.incline_pct or 0.0, s.direction, s.hr_bpm)
        if self.engine is not None and self._plan_started:
            change = self.engine.on_record(now, record.distance_m, moving=speed > 0)
            if change is not None:
                self._step(change)
            elif self.engine.finished:
                self._finish_plan()
        self.hub.update(
            speed_kmh=record.speed_kmh,
            distance_m=record.distance_m,
            elapsed_s=record.elapsed_s,
            incline_pct=record.incline_pct,
            treadmill_energy_kcal=record.energy_kcal,
            energy_kcal=round(kcal, 1),
            energy_method=self.energy.method,
            last_sample_at=now,
            segment=self.engine.progress() if self.engine else None,
        )

    def _finish_plan(self) -> None:
        if not self._plan_started:
            return
        self._plan_started = False
        self._announce(Alert(Level.INFO, "plan_done", "Workout complete. Well done!"))
        self._step(Command(f"plan-stop-{self.clock.now():.3f}", CommandKind.STOP, source="plan"))

    def _on_engine_command(self, command: Command) -> None:
        if command.kind is CommandKind.NEXT_SEGMENT:
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
            return
        task = asyncio.create_task(self._load_plan(command), name=f"{self.id}-load-plan")
        self._loading.add(task)
        task.add_done_callback(self._loading.discard)

    async def _load_plan(self, command: Command) -> None:
        """Read the plan off the event loop (the governor never waits on a disk)."""
        name = command.value if isinstance(command.value, str) else ""
        try:
            plan = await asyncio.to_thread(plan_by_name, name, self.plans_dir)
        except PlanError as exc:
            self.inbox.put_nowait(PlanLoaded(command, None, str(exc)))
        else:
            self.inbox.put_nowait(PlanLoaded(command, plan))

    def _on_plan_loaded(self, loaded: PlanLoaded) -> None:
        command, plan = loaded.command, loaded.plan
        if plan is None:
            self._result(CommandResult(command.id, False, error=loaded.error))
            return
        self.plan, self.engine = plan, WorkoutEngine(plan)
        self._plan_started = False
        self.resume_segment = None
        self.hub.update(plan=plan.name)
        self._start_plan()
        self._result(CommandResult(command.id, True, applied=f"plan {plan.name!r}"))

    def _announce_hr_source(self) -> None:
        """SAFETY.md 14: a missing protection is said out loud, once per session."""
        if self._hr_announced:
            return
        self._hr_announced = True
        source = None if self._hr_source is None else self._hr_source.split()[0]
        self.hub.update(hr_source=source)
        if source is None:
            self._announce(
                Alert(
                    Level.WARNING,
                    "no_hr_source",
                    "No heart-rate source: the heart-rate ceiling and HR-lost protections are OFF.",
                )
            )
        elif source == "treadmill":
            log.info("%s: heart rate from the treadmill %s itself", self.id, self.treadmill.address)

    def _start_plan(self) -> None:
        s = self.state
        if not (s.has_control and s.belt_seen):
            return  # a plan starts once we hold control and know whether the belt moves
        self._announce_hr_source()
        if self.engine is None or self._plan_started or s.stopping:
            return
        self._plan_started = True
        for warning in (
            self.plan.warnings(self.limits.backward_cap_kmh, self.limits.backward_segment_limit_m)
            if self.plan
            else []
        ):
            self._announce(Alert(Level.WARNING, "plan_warning", warning))
        distance = float(self.hub.snapshot.distance_m or 0)
        start_at = self.resume_segment or 0
        if start_at:
            log.info("%s: resuming the plan at segment %d", self.id, start_at + 1)
        self._step(self.engine.start(self.clock.now(), distance, start_at))
        self._step(Command(f"plan-start-{self.clock.now():.3f}", CommandKind.START, source="plan"))

    def _step(self, event: Event) -> None:
        now = self.clock.now()
        self.state, actions = step(self.state, event, now)
        for_engine: list[Command] = []
        for action in actions:
            if isinstance(action, Decision):
                self.hub.publish(DecisionMessage(now, action))
            elif isinstance(action, Alert):
                self._announce(action)
            elif isinstance(action, CommandResult):
                self._result(action)
            elif isinstance(action, ToEngine):
                for_engine.append(action.command)
            else:
                self._actions.put_nowait(action)
        waiting = not self._hr_announced or (self.engine is not None and not self._plan_started)
        if waiting and isinstance(event, ControlGranted | TreadmillRecord):
            self._start_plan()  # once control is held and the belt state known
        for command in for_engine:
            self._on_engine_command(command)
        s = self.state
        self.hub.update(
            capped=s.cap_active,
            cap_held=s.cap_held,
            cap_kmh=s.cap_c / 100,
            direction=s.direction.value,
            phase=s.phase.value,
            running=s.running,
            plan=self.plan.name if self.plan else None,
        )

    def _announce(self, alert: Alert) -> None:
        level = {
            Level.INFO: logging.INFO,
            Level.WARNING: logging.WARNING,
            Level.DANGER: logging.ERROR,
        }
        log.log(level[alert.level], "%s: %s", self.id, alert.message)
        self.hub.publish(AlertMessage(self.clock.now(), alert))

    def _result(self, result: CommandResult) -> None:
        if result.source == "plan":
            return  # the gateway's own (plan start and stop): nobody asked, nobody is answered
        self.hub.publish(ResultMessage(self.clock.now(), result))

    # --- the executor -----------------------------------------------------------------------

    async def _executor(self) -> None:
        while True:
            pending = [await self._actions.get()]
            while not self._actions.empty():
                pending.append(self._actions.get_nowait())
            # Only the newest speed target matters: never queue behind stale ramp steps.
            last_speed = max(
                (i for i, a in enumerate(pending) if isinstance(a, SetTargetSpeed)), default=-1
            )
            for i, action in enumerate(pending):
                if isinstance(action, SetTargetSpeed) and i != last_speed:
                    continue
                await self._carry_out(action)

    async def _carry_out(self, action: Action) -> None:
        if isinstance(action, Reconnect):
            log.warning("%s: dropping the silent treadmill link to reconnect", self.id)
            with contextlib.suppress(LinkError, TimeoutError):
                async with asyncio.timeout(5):
                    await self.treadmill.disconnect()
            return
        request = _REQUESTS[type(action)](action)
        what = request.op.name.lower()
        try:
            response = await self._write(request)
        except ControlError as exc:
            failure = Failure.TIMEOUT if isinstance(exc, ControlTimeout) else Failure.LINK
            self.inbox.put_nowait(CommandFailed(what, str(exc), failure))
            return
        if not response.ok:
            result = response.result
            name = result.name.lower() if hasattr(result, "name") else f"0x{result:02x}"
            failure = _FAILURES.get(result, Failure.NOT_PERMITTED)
            self.inbox.put_nowait(CommandFailed(what, f"the treadmill answered {name}", failure))
        elif isinstance(action, RequestControl):
            self.inbox.put_nowait(ControlGranted())

    async def _write(self, request: ControlPointRequest) -> Any:
        if not self.treadmill.is_connected:
            raise ControlError("the treadmill is not connected")
        if self._on_write is not None:
            self._on_write(request)
        return await self._control.request(request)

    async def _ticker(self) -> None:
        while True:
            await self.clock.sleep(self.tick_s)
            self.inbox.put_nowait(Tick())
