"""One station at run time: the async shell around the pure core.

The core (``core.py``) decides; this shell owns what waits:

* a link loop per device: connect, read what the machine is, subscribe,
  report it to the core; on disconnect tell the core and reconnect with
  backoff and jitter;
* the brain: the only consumer of the inbox. BLE callbacks only enqueue raw
  bytes; the brain feeds each input to the core and carries out its effects;
* the executor: writes control-point requests one at a time and feeds the
  treadmill's answer back to the core;
* the ticker: time for the governor (ramps, dwell, HR timeout, retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from ..backoff import Backoff
from ..clock import Clock
from ..ftms import ControlPointRequest
from ..ftms import uuids as U
from ..hub import Hub, Snapshot
from ..link import Link, LinkError
from ..safety import SafetyLimits
from ..safety.events import BeltLastSeen, Command, RefusedCommand, Shutdown, Tick
from ..safety.governor import View
from ..workout.engine import WorkoutEngine
from ..workout.plan import Plan, PlanError, plan_by_name
from .control import ControlError, ControlPointClient, ControlTimeout
from .core import (
    Answered,
    Connected,
    Drop,
    Effect,
    Input,
    LoadPlan,
    Log,
    PlanLoaded,
    Publish,
    Raw,
    StationCore,
    TreadmillReady,
    Update,
    Write,
)

log = logging.getLogger(__name__)


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
        self.core = StationCore(station_id, limits, plan=plan, weight_kg=weight_kg, sex=sex)
        self.clock = clock
        self.treadmill = treadmill
        self.hrm = hrm
        self.hub = Hub(
            Snapshot(station_id, cap_kmh=limits.backward_cap_kmh, hr_max_bpm=limits.hr_max)
        )
        self.inbox: asyncio.Queue[Input] = asyncio.Queue()
        self.tick_s = tick_s
        self.plans_dir = plans_dir
        self._control = ControlPointClient(treadmill, clock, control_timeout_s)
        self._writes: asyncio.Queue[Write | Drop] = asyncio.Queue()
        self._on_write = on_write
        self._loading: set[asyncio.Task[None]] = set()

    # --- what the core knows, for the service and the tests -------------------------------

    @property
    def limits(self) -> SafetyLimits:
        """The runner's safety limits."""
        return self.core.limits

    def view(self) -> View:
        """The governor as the outside sees it (its state stays its own)."""
        return self.core.view()

    @property
    def plan(self) -> Plan | None:
        """The workout plan (loaded at start or by command)."""
        return self.core.session.plan

    @property
    def engine(self) -> WorkoutEngine | None:
        """Where the workout is."""
        return self.core.session.engine

    @property
    def counters(self) -> Counter[str]:
        """Undecodable frames and frame warnings."""
        return self.core.counters

    @property
    def resume_segment(self) -> int | None:
        """A restarted session goes on from this segment."""
        return self.core.session.resume_segment

    @resume_segment.setter
    def resume_segment(self, index: int | None) -> None:
        self.core.session.resume_segment = index

    # --- public ---------------------------------------------------------------------------

    def belt_last_seen(self, speed_kmh: float) -> None:
        """A restart: the belt's last recorded speed (before ``run``: the first thing the
        governor hears, so a belt that was moving is slowed once control is granted)."""
        self.inbox.put_nowait(BeltLastSeen(speed_kmh))

    def submit(self, command: Command | RefusedCommand) -> None:
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
        while not self._writes.empty():
            self._writes.get_nowait()
        self._apply(self.core.feed(Shutdown(reason), self.clock.now()))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not self._writes.empty():
                    await self._carry_out(self._writes.get_nowait())

    async def close(self) -> None:
        """Disconnect every link (after ``wind_down``), so nothing is left dangling."""
        links = {id(link): link for link in (self.treadmill, self.hrm) if link is not None}
        for link in links.values():
            with contextlib.suppress(LinkError, TimeoutError):
                async with asyncio.timeout(5):
                    await link.disconnect()

    # --- links ------------------------------------------------------------------------------

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
            self.inbox.put_nowait(Connected("treadmill" if what == "treadmill" else "hrm", False))
            await self.clock.sleep(backoff.next())

    def _enqueue(self, uuid: str) -> Callable[[bytes], None]:
        put = self.inbox.put_nowait
        return lambda data: put(Raw(uuid, bytes(data)))

    async def _treadmill_connected(self, link: Link) -> None:
        """Read what the machine is, subscribe, then ask for control (after every connect)."""
        has = link.has_characteristic
        hr_service = self.hrm is link and has(U.HEART_RATE_MEASUREMENT)
        self.inbox.put_nowait(
            TreadmillReady(
                address=link.address,
                feature=await link.read(U.FITNESS_MACHINE_FEATURE),
                speed_range=(
                    await link.read(U.SUPPORTED_SPEED_RANGE)
                    if has(U.SUPPORTED_SPEED_RANGE)
                    else None
                ),
                incline_range=(
                    await link.read(U.SUPPORTED_INCLINATION_RANGE)
                    if has(U.SUPPORTED_INCLINATION_RANGE)
                    else None
                ),
                strap=self.hrm is not None and self.hrm is not link,
                hr_service=hr_service,
                control_point=has(U.FITNESS_MACHINE_CONTROL_POINT),
            )
        )
        if has(U.FITNESS_MACHINE_CONTROL_POINT):  # without one: watch mode (docs/hardware.md)
            await self._control.start()
        for uuid in (U.TREADMILL_DATA, U.FITNESS_MACHINE_STATUS, U.TRAINING_STATUS):
            if uuid == U.TREADMILL_DATA or has(uuid):
                await link.subscribe(uuid, self._enqueue(uuid))
        if hr_service:
            await link.subscribe(U.HEART_RATE_MEASUREMENT, self._enqueue(U.HEART_RATE_MEASUREMENT))
            self.inbox.put_nowait(Connected("hrm", True))
        self.inbox.put_nowait(Connected("treadmill", True))

    async def _hrm_connected(self, link: Link) -> None:
        await link.subscribe(U.HEART_RATE_MEASUREMENT, self._enqueue(U.HEART_RATE_MEASUREMENT))
        self.inbox.put_nowait(Connected("hrm", True))
        log.info("%s: heart-rate strap %s connected", self.id, link.address)

    # --- the brain --------------------------------------------------------------------------

    async def _brain(self) -> None:
        while True:
            item = await self.inbox.get()
            self._apply(self.core.feed(item, self.clock.now()))

    def _apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Publish):
                self.hub.publish(effect.message)
            elif isinstance(effect, Update):
                self.hub.update(**effect.changes)
            elif isinstance(effect, Write | Drop):
                self._writes.put_nowait(effect)
            elif isinstance(effect, LoadPlan):
                task = asyncio.create_task(self._load_plan(effect.command), name=f"{self.id}-plan")
                self._loading.add(task)
                task.add_done_callback(self._loading.discard)
            elif isinstance(effect, Log):
                log.log(effect.level, "%s: %s", self.id, effect.text)

    async def _load_plan(self, command: Command) -> None:
        """Read the plan off the event loop (the governor never waits on a disk)."""
        name = command.value if isinstance(command.value, str) else ""
        try:
            plan = await asyncio.to_thread(plan_by_name, name, self.plans_dir)
        except PlanError as exc:
            self.inbox.put_nowait(PlanLoaded(command, None, str(exc)))
        else:
            self.inbox.put_nowait(PlanLoaded(command, plan))

    # --- the executor -----------------------------------------------------------------------

    async def _executor(self) -> None:
        while True:
            pending = [await self._writes.get()]
            while not self._writes.empty():
                pending.append(self._writes.get_nowait())
            # Only the newest speed target matters: never queue behind stale ramp steps.
            speeds = [i for i, w in enumerate(pending) if _is_speed(w)]
            for i, item in enumerate(pending):
                if _is_speed(item) and i != speeds[-1]:
                    continue
                await self._carry_out(item)

    async def _carry_out(self, item: Write | Drop) -> None:
        if isinstance(item, Drop):
            log.warning("%s: dropping the silent treadmill link to reconnect", self.id)
            with contextlib.suppress(LinkError, TimeoutError):
                async with asyncio.timeout(5):
                    await self.treadmill.disconnect()
            return
        try:
            if not self.treadmill.is_connected:
                raise ControlError("the treadmill is not connected")
            if self._on_write is not None:
                self._on_write(item.request)
            response = await self._control.request(item.request)
        except ControlError as exc:
            timeout = isinstance(exc, ControlTimeout)
            self.inbox.put_nowait(Answered(item, None, str(exc), timeout))
            return
        self.inbox.put_nowait(Answered(item, response.result))

    async def _ticker(self) -> None:
        while True:
            await self.clock.sleep(self.tick_s)
            self.inbox.put_nowait(Tick())


def _is_speed(item: Write | Drop) -> bool:
    return isinstance(item, Write) and item.request.target_speed_kmh is not None
