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
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from .clock import Clock, LoopClock
from .config import Settings, StationConfig, VoiceConfig
from .errors import RetrogateError
from .ftms import ControlPointRequest
from .hub import AlertMessage, DecisionMessage, HubMessage, ResultMessage, Snapshot
from .link import LinkContext, LinkSpec, open_links
from .station.runtime import StationRuntime
from .status import print_status
from .store.db import SessionStore
from .store.recorder import Recorder
from .systemd import notify, watchdog, watchdog_interval_s
from .workout.plan import Plan

if TYPE_CHECKING:  # loaded when used: a --sim or --no-mqtt run never imports bleak or aiomqtt
    from .bridge.runtime import Bridge as AppBridge
    from .mqtt.bridge import MqttBridge
    from .mqtt.broker import EmbeddedBroker
    from .mqtt.consumer import BrokerAddress
    from .platforms.uploader import Uploader
    from .store.uploads import Upload

log = logging.getLogger(__name__)


LAST_SEEN_S = 30.0  # a belt recorded moving this recently is slowed before its first record
SETTLE_S = 3.0  # MQTT waits at most this long for the stations' first records
EARLY_KEPT = 1_000  # decisions and alerts kept for MQTT from before it started


class NotPaired(RetrogateError):
    """``run`` without a treadmill in the config: pair one first (or use the simulator)."""


Output = Callable[[list[StationRuntime]], contextlib.AbstractAsyncContextManager[object]]


@dataclass
class RunOptions:
    """How ``retrogate run`` (or the demo) was asked to run."""

    plan: Plan | None = None
    sim: bool = False
    scenario: Path | None = None
    profile: str | None = None  # the simulated machine (``--sim --profile``; docs/simulator.md)
    duration_s: float | None = None
    status_line: bool = True
    control_timeout_s: float = 2.0
    # Sees every control-point write (station id, request): tests and diagnostics.
    on_write: Callable[[str, ControlPointRequest], None] | None = None
    outputs: list[Output] = field(default_factory=list)
    record: bool = True  # the session store (always on when MQTT is)
    mqtt: bool = True  # as configured in [mqtt]; False runs without any broker
    speedup: float = 1.0  # the session clock runs this many times faster (the demo, tests)
    bridge: bool = False  # offer the first station to apps (also [bridge] enabled)
    voice: VoiceConfig | None = None  # spoken cues on this machine


@dataclass(frozen=True, slots=True)
class StationReport:
    """One station at the end of a run (or now): what callers may know of it."""

    id: str
    snapshot: Snapshot
    tolerance_kmh: float
    decode_errors: int
    session: int | None  # the session record, when recording
    recorded: int  # treadmill records stored in it


def build_service(settings: Settings, options: RunOptions) -> Service:
    """The gateway as ``retrogate run`` and the demo run it: one place to assemble it."""
    if options.voice is not None:
        from .cues.station import cues_output

        options.outputs.append(cues_output(options.voice, speedup=options.speedup))
    return Service(settings, options, LoopClock(options.speedup))


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
        self.app_bridge: AppBridge | None = None  # the bridge for apps, when it runs
        self.uploader: Uploader | None = None  # the upload queue's worker, when uploads are on
        # per station: what its hub said before MQTT started, and the unsubscribe
        self._early: dict[str, tuple[deque[HubMessage], Callable[[], None]]] = {}

    def report(self) -> list[StationReport]:
        """Every station as it stands: its snapshot and what was recorded of it."""
        out = []
        for st in self.stations:
            record = self.recorder.records.get(st.id) if self.recorder is not None else None
            out.append(
                StationReport(
                    st.id,
                    st.hub.snapshot,
                    st.limits.tolerance_kmh,
                    st.counters["decode_errors"],
                    record.session if record is not None else None,
                    record.stored.get("telemetry", 0) if record is not None else 0,
                )
            )
        return out

    def broker_address(self) -> BrokerAddress | None:
        """Where a client reaches this gateway's MQTT (None: no MQTT yet, or none at all)."""
        from .mqtt.consumer import BrokerAddress

        if self.broker is not None:
            b = self.broker
            return BrokerAddress(b.host, b.port, b.username, b.password)
        mqtt = self.settings.mqtt
        if self.bridge is None or mqtt.broker in ("embedded", "none"):
            return None
        password = mqtt.password.get_secret_value() if mqtt.password is not None else None
        return BrokerAddress(mqtt.broker, mqtt.port, mqtt.username, password)

    async def run(self) -> list[StationRuntime]:
        """Serve; returns the station runtimes (for summaries) when done."""
        configs = _stations(self.settings, self.options)
        if not configs:
            raise NotPaired("no treadmill is paired: run `retrogate pair` first (or try --sim)")
        async with contextlib.AsyncExitStack() as stack:
            ctx = LinkContext(
                self.clock, self.settings.adapter, self.options.scenario, self.options.profile
            )
            forced = "sim" if self.options.sim else None
            for cfg in configs:
                spec = LinkSpec(cfg.id, cfg.treadmill, cfg.hrm)
                links = await stack.enter_async_context(open_links(spec, ctx, forced))
                # The heart-rate rules expect what the provider could link (a strap, the
                # treadmill's own service, a simulated strap).
                limits = self.settings.limits_for(cfg).model_copy(
                    update={"hr_expected": links.hrm is not None}
                )
                runtime = StationRuntime(
                    cfg.id,
                    limits,
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
                if links.listener is not None:
                    runtime.hub.subscribe(links.listener)
                self.stations.append(runtime)
            await self._record(stack)
            self._resume_sessions()
            for output in self.options.outputs:
                await stack.enter_async_context(output(self.stations))
            await self._bridge(stack)
            try:
                with self._signals():
                    await self._serve(stack)
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
                try:
                    await self._upload_ended()
                except Exception as exc:  # never hides why the run stopped, never silent
                    log.error("ending the sessions' uploads failed: %r", exc, exc_info=exc)
        return self.stations

    async def _uploads(self, stack: contextlib.AsyncExitStack) -> None:
        """The upload queue's worker (docs/platforms.md), when uploads are configured or an
        account is connected: what earlier sessions left waiting goes now. Started once
        the stations have their first records, as MQTT is: a restart after a crash slows
        a moving belt before it loads anything it does not need for that."""
        from .platforms.accounts import SERVICES, Accounts

        accounts = Accounts(self.settings.data_dir)
        connected = any(accounts.path(s).exists() for s in SERVICES)
        if self.recorder is None or not (self.settings.upload.after_session or connected):
            return
        from .platforms.uploader import Uploader, platforms
        from .tasks import background

        found = await stack.enter_async_context(platforms(self.settings))
        self.uploader = Uploader(self.recorder.store, found, on_change=self._uploaded)
        await stack.enter_async_context(background(self.uploader.run(), "uploader"))

    async def _upload_ended(self) -> None:
        """The sessions end here, while MQTT still runs, and go where [upload] says: the
        gateway waits up to ``wait_s`` for them; what is not done by then stays queued."""
        if self.recorder is None:
            return
        ended = self.recorder.finish()
        services = self.settings.upload.after_session
        if self.uploader is None or not services or not ended:
            return
        from .store.uploads import UploadQueue

        queue = UploadQueue(self.recorder.store)
        for session in ended.values():
            for service in services:
                queue.enqueue(session, service, time.time())
        wait_s = self.settings.upload.wait_s
        # systemd's stop timeout (docs/retrogate.service) leaves room for this wait; its
        # watchdog is still pinged, from the loop, while the uploads go.
        notify(f"EXTEND_TIMEOUT_USEC={int((wait_s + 10) * 1_000_000)}")
        interval = watchdog_interval_s()
        async with contextlib.AsyncExitStack() as pings:
            if interval is not None:
                from .tasks import background

                await pings.enter_async_context(background(watchdog(interval), "watchdog"))
            await self.uploader.settle(list(ended.values()), wait_s)  # on_change reports

    def _uploaded(self, upload: Upload) -> None:
        """An upload moved on: the station's state says where its session went, and a
        refusal for good is an alert."""
        from .platforms.uploader import where_it_went
        from .safety.actions import Alert, Level
        from .store.uploads import UploadQueue

        if self.recorder is None:
            return
        by_session = {r.session: r.station for r in self.recorder.records.values()}
        station = next((s for s in self.stations if s.id == by_session.get(upload.session)), None)
        if station is None:
            return  # an earlier session's upload: `retrogate sessions` shows it
        mine = (
            UploadQueue(self.recorder.store).of_sessions([upload.session]).get(upload.session, [])
        )
        station.hub.update(upload=where_it_went(mine))
        if upload.state in ("failed", "unauthorized"):
            text = f"the upload of session {upload.session} failed: {upload.message}"
            alert = Alert(Level.WARNING, "upload_failed", text)
            station.hub.publish(AlertMessage(self.clock.now(), alert))

    async def _bridge(self, stack: contextlib.AsyncExitStack) -> None:
        """The first station, offered to the runner's app as a treadmill (docs/bridge.md)."""
        cfg = self.settings.bridge
        if not (cfg.enabled or self.options.bridge) or not self.stations:
            return
        from .bridge.runtime import Bridge, BridgeSpec

        station = self.stations[0]
        adapter = cfg.adapter or self.settings.adapter
        same = adapter == self.settings.adapter
        log.info(
            "bridge: apps connect to %s, %s",
            adapter,
            "the adapter that also reaches the treadmill (central and peripheral at once)"
            if same
            else f"a second adapter (the treadmill is reached on {self.settings.adapter})",
        )
        spec = BridgeSpec(adapter, cfg.name, tuple(cfg.services), station.limits.backward_walk_kmh)
        self.app_bridge = await stack.enter_async_context(
            Bridge(station.hub, station.submit, self.clock, spec).running()
        )

    def _resume_sessions(self) -> None:
        """A session resumed after a crash goes on from its recorded segment (same plan),
        and a belt it last saw moving, seconds ago, is slowed as soon as control is held."""
        if self.recorder is None:
            return
        for station in self.stations:
            resumed = self.recorder.resumed(station.id)
            if resumed is None:
                continue
            last = resumed.last_speed
            if last is not None and time.time() - last[0] <= LAST_SEEN_S and last[1] > 0:
                station.belt_last_seen(last[1])
            where = resumed.last_segment
            if station.plan is not None and where is not None and where[0] == station.plan.name:
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

    def _forget_early(self) -> None:
        for _, unsubscribe in self._early.values():
            unsubscribe()
        self._early.clear()

    async def _settled(self) -> None:
        """Until every station has its first treadmill record (a belt found moving has
        been told to slow by then), at most SETTLE_S: the broker and the bridge wait,
        so they take no CPU from a restart's first write."""
        if not self._use_mqtt():
            return
        changed = asyncio.Event()
        unsubscribe = [s.hub.subscribe(lambda _: changed.set()) for s in self.stations]
        try:
            async with asyncio.timeout(SETTLE_S):
                while any(s.hub.snapshot.last_sample_at is None for s in self.stations):
                    changed.clear()
                    await changed.wait()
        except TimeoutError:
            pass  # no treadmill yet: MQTT comes up anyway and shows it
        finally:
            for off in unsubscribe:
                off()

    def _use_mqtt(self) -> bool:
        return self.options.mqtt and self.settings.mqtt.broker != "none"

    async def _record(self, stack: contextlib.AsyncExitStack) -> None:
        """The session record (a SQLite file: milliseconds), before the stations run, so
        that it has their first decision and a resumed session knows its segment."""
        if not (self.options.record or self._use_mqtt()):
            return
        store = SessionStore.in_dir(self.settings.data_dir)
        stack.callback(store.close)
        self.recorder = Recorder(store, self.settings.gateway_id, self.clock)
        for station in self.stations:
            self.recorder.attach(
                station.id, station.hub, station.plan.name if station.plan else None
            )
        await stack.enter_async_context(self.recorder.running())
        if self._use_mqtt():  # what happens before MQTT starts is published once it does
            for station in self.stations:
                kept: deque[HubMessage] = deque(maxlen=EARLY_KEPT)
                self._early[station.id] = (kept, station.hub.subscribe(_keep_events(kept)))
            stack.callback(self._forget_early)

    async def _mqtt(self, stack: contextlib.AsyncExitStack) -> None:
        """The broker and the bridge, once the stations run: a restart after a crash
        takes control of a moving belt and slows it before a broker is even started
        (the outbox sends what was recorded meanwhile)."""
        if not self._use_mqtt() or self.recorder is None:
            return
        mqtt = self.settings.mqtt
        from .mqtt.bridge import MqttBridge
        from .mqtt.broker import embedded_broker
        from .mqtt.ports import StationPort

        host, protocol = mqtt.broker, mqtt.protocol
        if mqtt.broker == "embedded":
            from .mqtt.broker import Uplink

            uplink = None
            if mqtt.bridge is not None:
                ids = tuple(s.id for s in self.stations)
                uplink = Uplink(mqtt.bridge, self.settings.gateway_id, mqtt.prefix, ids)
            self.broker = await stack.enter_async_context(
                embedded_broker(
                    mqtt.embedded_bind, mqtt.port, self.settings.data_dir, mqtt.embedded, uplink
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
        for station_id, (early, _) in self._early.items():
            self.bridge.replay(station_id, list(early))
        self._forget_early()  # the bridge listens itself from here on
        await stack.enter_async_context(self.bridge.running())

    async def _serve(self, stack: contextlib.AsyncExitStack) -> None:
        failed: RetrogateError | None = None
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(station.run(), name=f"station-{station.id}")
                for station in self.stations
            ]
            try:
                await self._settled()
                await self._mqtt(stack)
                await self._uploads(stack)  # httpx (170 ms to load): after the belt is held
            except RetrogateError as exc:  # no broker, a station clash: wind down, then say so
                failed = exc
                self.stop(f"error: {exc}")
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
        if failed is not None:
            raise failed

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


def _keep_events(kept: deque[HubMessage]) -> Callable[[HubMessage], None]:
    """Keep decisions, alerts and answers (the state is published from the snapshot)."""

    def on_message(message: HubMessage) -> None:
        if isinstance(message, DecisionMessage | AlertMessage | ResultMessage):
            kept.append(message)

    return on_message
