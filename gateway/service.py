"""The gateway service: every station's runtime, wired, in one TaskGroup.

The only place that knows about stations, links and outputs together.
Every way of stopping (SIGINT, SIGTERM from systemd, SIGHUP, --duration,
an unexpected error) ends in the governor's wind-down: a backward belt is
slowed and paused before the links close.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from .clock import Clock
from .config import Settings, StationConfig
from .errors import RetrogateError
from .ftms import ControlPointRequest
from .hub import HubMessage, StateMessage
from .link import Link, ProvidedLinks, load_provider
from .station.runtime import StationRuntime
from .status import print_status
from .store.db import SessionStore
from .store.recorder import Recorder
from .systemd import notify, watchdog, watchdog_interval_s
from .workout.plan import Plan

if TYPE_CHECKING:  # loaded when used: a --sim or --no-mqtt run never imports bleak or aiomqtt
    from .mqtt.bridge import MqttBridge
    from .mqtt.broker import EmbeddedBroker

log = logging.getLogger(__name__)


class NotPaired(RetrogateError):
    """``run`` without a treadmill in the config: pair one first (or use the simulator)."""


Output = Callable[[list[StationRuntime]], contextlib.AbstractAsyncContextManager[object]]


@dataclass
class RunOptions:
    """How ``retrogate run`` (or the demo) was asked to run."""

    plan: Plan | None = None
    sim: bool = False
    scenario: Path | None = None
    duration_s: float | None = None
    status_line: bool = True
    control_timeout_s: float = 2.0
    # Sees every control-point write (station id, request): tests and diagnostics.
    on_write: Callable[[str, ControlPointRequest], None] | None = None
    outputs: list[Output] = field(default_factory=list)
    record: bool = True  # the session store (always on when MQTT is)
    mqtt: bool = True  # as configured in [mqtt]; False runs without any broker


def _stations(settings: Settings, options: RunOptions) -> list[StationConfig]:
    if settings.stations:
        return settings.stations
    if options.sim:
        return [StationConfig(id="sim", treadmill="sim")]
    return []


class Service:
    """Runs the configured stations until cancelled or for ``duration_s``."""

    def __init__(self, settings: Settings, options: RunOptions, clock: Clock) -> None:
        self.settings = settings
        self.options = options
        self.clock = clock
        self.stations: list[StationRuntime] = []
        self.ready = asyncio.Event()
        self.recorder: Recorder | None = None
        self._stopping = asyncio.Event()
        self.stop_reason = "asked to stop"
        self.bridge: MqttBridge | None = None
        self.broker: EmbeddedBroker | None = None  # the embedded one, when it runs

    async def _links(self, stack: contextlib.AsyncExitStack, cfg: StationConfig) -> ProvidedLinks:
        if self.options.sim or cfg.treadmill.startswith("sim"):
            provider = load_provider("sim")
            return await stack.enter_async_context(
                provider.links(cfg.id, self.clock, self.options.scenario)
            )
        from .ble import BleakLink

        adapter = self.settings.adapter
        treadmill: Link = BleakLink(cfg.treadmill, adapter)
        hrm: Link | None = None
        if cfg.hrm is not None:
            hrm = (
                treadmill
                if cfg.hrm.upper() == cfg.treadmill.upper()
                else BleakLink(cfg.hrm, adapter)
            )
        return ProvidedLinks(treadmill, hrm)

    async def run(self) -> list[StationRuntime]:
        """Serve; returns the station runtimes (for summaries) when done."""
        configs = _stations(self.settings, self.options)
        if not configs:
            raise NotPaired("no treadmill is paired: run `retrogate pair` first (or try --sim)")
        async with contextlib.AsyncExitStack() as stack:
            for cfg in configs:
                links = await self._links(stack, cfg)
                runtime = StationRuntime(
                    cfg.id,
                    self.settings.limits_for(cfg)
                    if not self.options.sim
                    else self.settings.limits_for(cfg).model_copy(
                        update={"hr_expected": links.hrm is not None}
                    ),
                    self.clock,
                    links.treadmill,
                    links.hrm,
                    plan=self.options.plan,
                    weight_kg=self.settings.runner.weight_kg,
                    sex=self.settings.runner.sex,
                    control_timeout_s=self.options.control_timeout_s,
                    on_write=_bind(self.options.on_write, cfg.id),
                    plans_dir=self.settings.plans_dir,
                )
                if links.follow_direction is not None:
                    runtime.hub.subscribe(_direction_follower(links.follow_direction))
                self.stations.append(runtime)
            await self._outputs(stack)
            for output in self.options.outputs:
                await stack.enter_async_context(output(self.stations))
            self._resume_segments()
            try:
                with self._signals():
                    await self._serve()
            except BaseException as exc:
                if not isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
                    self.stop_reason = f"error: {exc!r}"
                    log.error("stopping after an unexpected error: %r", exc)
                raise
            finally:
                notify("STOPPING=1")
                reason = self.stop_reason
                await asyncio.gather(
                    *(s.wind_down(reason) for s in self.stations), return_exceptions=True
                )
                await asyncio.gather(*(s.close() for s in self.stations), return_exceptions=True)
        return self.stations

    def _resume_segments(self) -> None:
        """A session resumed after a crash goes on from its recorded segment (same plan)."""
        if self.recorder is None:
            return
        for station in self.stations:
            record = self.recorder.records.get(station.id)
            if record is None or not record.resumed or station.plan is None:
                continue
            where = self.recorder.store.last_segment(record.session)
            if where is not None and where[0] == station.plan.name:
                station.resume_segment = where[1]

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGTERM (systemd), SIGINT (Ctrl-C) and SIGHUP all stop the same way."""
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, self.stop, sig.name)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                continue
            installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def _outputs(self, stack: contextlib.AsyncExitStack) -> None:
        """The session record, then MQTT (which publishes the record's streams)."""
        mqtt = self.settings.mqtt
        use_mqtt = self.options.mqtt and mqtt.broker != "none"
        if not (self.options.record or use_mqtt):
            return
        store = SessionStore.in_dir(self.settings.data_dir)
        stack.callback(store.close)
        self.recorder = Recorder(store, self.settings.gateway_id, self.clock)
        for station in self.stations:
            self.recorder.attach(
                station.id, station.hub, station.plan.name if station.plan else None
            )
        await stack.enter_async_context(self.recorder.running())
        if not use_mqtt:
            return
        from .mqtt.bridge import MqttBridge
        from .mqtt.broker import embedded_broker
        from .mqtt.ports import StationPort

        host, protocol = mqtt.broker, mqtt.protocol
        if mqtt.broker == "embedded":
            self.broker = await stack.enter_async_context(
                embedded_broker(
                    mqtt.embedded_bind, mqtt.port, self.settings.data_dir, mqtt.embedded
                )
            )
            host, protocol = self.broker.host, self.broker.protocol
            if self.broker.password is not None:
                mqtt = mqtt.model_copy(
                    update={
                        "username": self.broker.username,
                        "password": SecretStr(self.broker.password),
                    }
                )
        ports = [
            StationPort(
                s.id,
                s.hub,
                s.submit,
                s.limits.backward_cap_kmh,
                decode_errors=functools.partial(s.counters.__getitem__, "decode_errors"),
            )
            for s in self.stations
        ]
        self.bridge = MqttBridge(
            mqtt,
            self.settings.gateway_id,
            ports,
            self.recorder,
            self.clock,
            host=host,
            protocol=protocol,
        )
        await stack.enter_async_context(self.bridge.running())

    async def _serve(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(station.run(), name=f"station-{station.id}")
                for station in self.stations
            ]
            if self.options.status_line:
                hubs = [s.hub for s in self.stations]
                tasks.append(tg.create_task(print_status(hubs, self.clock), name="status"))
            self.ready.set()
            notify("READY=1")
            interval = watchdog_interval_s()
            if interval is not None:
                tasks.append(tg.create_task(watchdog(interval), name="systemd-watchdog"))
            with contextlib.suppress(TimeoutError):
                if self.options.duration_s is None:
                    await self._stopping.wait()
                else:
                    async with self.clock.timeout(self.options.duration_s):
                        await self._stopping.wait()
            if not self._stopping.is_set():
                self.stop_reason = "the --duration is over"
            for task in tasks:  # a cancelled child ends the group without an error
                task.cancel()

    def stop(self, reason: str = "asked to stop") -> None:
        """End the run cleanly (as ``--duration`` does): wind down, flush, say offline."""
        if not self._stopping.is_set():
            log.info("stopping (%s): winding down", reason)
            self.stop_reason = reason
        self._stopping.set()


def _bind(
    observer: Callable[[str, ControlPointRequest], None] | None, station_id: str
) -> Callable[[ControlPointRequest], None] | None:
    if observer is None:
        return None
    return lambda request: observer(station_id, request)


def _direction_follower(follow: Callable[[str], None]) -> Callable[[HubMessage], None]:
    last: list[str] = []

    def on_message(message: HubMessage) -> None:
        if isinstance(message, StateMessage) and message.snapshot.direction not in last[-1:]:
            last[:] = [message.snapshot.direction]
            follow(message.snapshot.direction)

    return on_message
