"""The demo itself (``retrogate demo``; the command is in ``demo.py``, kept light).

Embedded broker, simulated treadmill and HR strap (in process, or as a BLE
peripheral on BlueZoo with ``--ble``), the gateway running a builtin plan,
and the dashboard. A consumer on the broker checks what arrived, so the
summary at the end is about what really crossed MQTT, not what was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.commands.common import setup_logging, voice_of
from gateway.config import MqttConfig, Settings, StationConfig
from gateway.contract.topics import StationTopic, route
from gateway.mqtt.broker import BrokerStartError
from gateway.mqtt.consumer import BrokerAddress, Consumer
from gateway.mqtt.probe import embedded_port_free
from gateway.service import RunOptions, Service, build_service
from gateway.workout.plan import PlanError, resolve_plan

from .model import Fleet

if TYPE_CHECKING:
    from textual.app import App

BLE_MAX_SPEEDUP = 15.0  # BlueZoo's notification throughput (docs/simulator.md)


def _port(wanted: int) -> int:
    """``wanted`` if free on loopback, else any free port (a broker may already run)."""
    if embedded_port_free("127.0.0.1", wanted):
        return wanted
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    print(f"port {wanted} is taken (another broker?): the demo's broker uses {port}")
    return port


@dataclass
class Monitor:
    """What a consumer of the broker saw during the demo."""

    fleet: Fleet = field(default_factory=Fleet)
    telemetry: set[int] = field(default_factory=set)
    heart_rates: int = 0
    states: int = 0
    safety_events: int = 0
    backward_stretches: int = 0
    _was_backward: bool = False
    fastest_backward_kmh: float = 0.0
    cap_kmh: float | None = None
    connected: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def feed(self, topic: str, payload: bytes) -> None:
        """Count and check one message."""
        station = self.fleet.feed(topic, payload, time.time())
        if station is None:
            return
        view = self.fleet.stations[station]
        where = route(self.fleet.prefix, topic)
        kind = where.kind if isinstance(where, StationTopic) else None
        sample = view.last_telemetry
        if kind == "telemetry" and sample is not None and sample.seq not in self.telemetry:
            self.telemetry.add(sample.seq)
            self.changed.set()
            backward = sample.direction == "backward" and sample.capped
            if backward and not self._was_backward:
                self.backward_stretches += 1
            self._was_backward = backward
            if backward:
                speed = view.speed[-1] if view.speed else 0.0
                self.fastest_backward_kmh = max(self.fastest_backward_kmh, speed)
                self.cap_kmh = sample.cap_kmh
        elif kind == "heart_rate":
            self.heart_rates += 1
        elif kind == "state":
            self.states += 1
        elif kind == "safety/events":
            self.safety_events += 1

    def connection(self, up: bool, _detail: str) -> None:
        """Remember whether the consumer is connected."""
        self.connected = up

    def missing(self) -> list[int]:
        """Telemetry seqs never seen between 1 and the highest seen."""
        return sorted(set(range(1, max(self.telemetry, default=0) + 1)) - self.telemetry)


def summary(service: Service, monitor: Monitor, speedup: float, started: float) -> tuple[str, bool]:
    """The closing report, and whether the demo showed what it should."""
    lines = [f"retrogate demo — speedup {speedup:g}, {time.monotonic() - started:.0f} s wall"]
    ok = True
    report = service.report()
    for station in report:
        snap = station.snapshot
        missing = monitor.missing()
        received = len(monitor.telemetry)
        lines.append(
            f"  {station.id}: {snap.distance_m or 0} m in {snap.elapsed_s or 0} s, "
            f"{snap.energy_kcal:.0f} kcal ({snap.energy_method}), plan {snap.plan or 'free'}"
        )
        lines.append(
            f"  through the broker: {received} treadmill records "
            f"(of {station.recorded} recorded, {len(missing)} missing), "
            f"{monitor.heart_rates} heart-rate samples, {monitor.states} states, "
            f"{monitor.safety_events} safety events"
        )
        cap = snap.cap_kmh
        tolerance = station.tolerance_kmh
        held = monitor.fastest_backward_kmh <= cap + tolerance
        lines.append(
            f"  backward stretches seen: {monitor.backward_stretches}; fastest belt while backward "
            f"{monitor.fastest_backward_kmh:.2f} km/h, cap {cap:.2f} km/h: "
            + ("HELD" if held else "NOT HELD")
        )
        ok = ok and held and received > 0 and not missing
    for station in report:
        if station.session is not None:
            lines.append(
                f"  recorded as session {station.session}: "
                f"`retrogate export {station.session} --format fit`"
            )
    return "\n".join(lines), ok


async def _demo(args: argparse.Namespace, ble: Any | None) -> int:
    plan = resolve_plan(args.plan)
    port = _port(args.port)
    settings = Settings(gateway_id="demo", mqtt=MqttConfig(broker="embedded", port=port))
    if ble is not None:
        from simulators.bluezoo_env import CLIENT_ADAPTER, SIM_ADDRESS

        settings = settings.model_copy(
            update={
                "adapter": CLIENT_ADAPTER,
                "stations": [StationConfig(id="sim", treadmill=SIM_ADDRESS, hrm=SIM_ADDRESS)],
            }
        )
    duration = args.duration
    if duration is None and args.headless:
        duration = plan.total_s + 60
    options = RunOptions(
        plan=plan,
        sim=ble is None,
        status_line=args.headless and sys.stderr.isatty(),
        control_timeout_s=30.0 if ble is not None else 2.0,
        profile=args.profile,
        speedup=args.speedup,
        voice=voice_of(settings, args),
    )
    service = build_service(settings, options)
    clock = service.clock
    monitor = Monitor()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, service.stop)
    loop.add_signal_handler(signal.SIGTERM, service.stop)
    started = time.monotonic()
    task = asyncio.create_task(service.run())
    ready = asyncio.create_task(service.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()
    address = service.broker_address() or BrokerAddress("127.0.0.1", port)
    consumer = Consumer(address, "retrogate", monitor.feed, monitor.connection)
    watching = asyncio.create_task(consumer.run())
    if args.headless:
        print(
            f"demo: broker on 127.0.0.1:{port}; watch with "
            f"`retrogate dashboard --broker 127.0.0.1:{port}`",
            file=sys.stderr,
        )
        if duration is not None:
            with contextlib.suppress(TimeoutError):
                async with clock.timeout(duration):
                    await asyncio.shield(task)
            await _catch_up(service, monitor)
        service.stop()
        await task
    else:
        from .app import Dashboard

        app = Dashboard(address, station="sim")
        # The gateway stopping for any reason (SIGHUP from a closed terminal, SIGTERM, an
        # error) ends the dashboard too: nobody may be left watching a dead terminal.
        task.add_done_callback(lambda _: _end_dashboard(app, service.stop_reason))
        await app.run_async()
        service.stop()
        await task
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching
    text, ok = summary(service, monitor, args.speedup, started)
    print(text)
    return 0 if ok else 1


def _end_dashboard(app: App[Any], reason: str) -> None:
    """The gateway has stopped (and wound the belt down): the dashboard goes too.

    After SIGHUP the terminal is gone. Textual's goodbye (restoring the screen)
    then blocks for ever on its writer thread, its input thread spinning on the
    dead tty (seen at 70-120 % of a core): with the gateway's work done (belt
    wound down, broker stopped, session closed) there is nothing left to tidy,
    so the process ends at once, as a shell tool ends on a hangup.
    """
    if reason == "SIGHUP":
        logging.shutdown()
        os._exit(128 + signal.SIGHUP)
    app.exit()


async def _catch_up(service: Service, monitor: Monitor, within: float = 10.0) -> None:
    """Before stopping: let the consumer receive what the gateway has recorded so far."""
    target = sum(station.recorded for station in service.report())
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            while len(monitor.telemetry) < target:
                monitor.changed.clear()
                await monitor.changed.wait()


@contextlib.contextmanager
def _ble_environment(args: argparse.Namespace, log_dir: Path) -> Iterator[object]:
    """BlueZoo on a private bus and ``retrogate sim`` advertising on it."""
    from simulators.bluezoo_env import SIM_ADAPTER, start_bluezoo

    with start_bluezoo(log_dir / "bluezoo.log") as bluezoo:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bluezoo.bus_address
        command = [sys.executable, "-m", "gateway.cli", "sim", "--adapter", SIM_ADAPTER]
        command += ["--rate", "0.5", "--speedup", str(args.speedup)]
        if args.profile:
            command += ["--profile", args.profile]
        with (log_dir / "sim.log").open("wb") as log:
            sim = subprocess.Popen(command, stderr=log)
        try:
            deadline = time.monotonic() + 20
            while b"advertising" not in (log_dir / "sim.log").read_bytes():
                if sim.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"retrogate sim did not advertise (see {log_dir}/sim.log)")
                time.sleep(0.1)
            yield bluezoo
        finally:
            sim.send_signal(signal.SIGINT)
            try:
                sim.wait(10)
            except subprocess.TimeoutExpired:
                sim.kill()


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; returns 0 when metrics flowed and the cap held."""
    try:
        resolve_plan(args.plan)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log_dir = Path(Settings().data_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    if args.headless:
        setup_logging(args.verbose)
    else:  # the dashboard owns the terminal: logs go to a file
        logging.basicConfig(
            filename=log_dir / "demo.log",
            level=logging.DEBUG if args.verbose else logging.INFO,
            format="%(asctime)s %(levelname).1s %(name)s: %(message)s",
        )
    try:
        if not args.ble:
            return asyncio.run(_demo(args, None))
        from simulators.bluezoo_env import BlueZooMissing, missing_parts

        try:
            missing_parts()
        except BlueZooMissing as exc:
            print(
                f"error: `retrogate demo --ble` needs BlueZoo (a BlueZ mock) on a private "
                f"D-Bus: {exc}.\n  Without it, `retrogate demo` runs the same demo with the "
                "in-process simulator.",
                file=sys.stderr,
            )
            return 2
        if args.speedup > BLE_MAX_SPEEDUP:
            print(f"note: --ble runs at most {BLE_MAX_SPEEDUP:g}x (BlueZoo's throughput)")
            args.speedup = BLE_MAX_SPEEDUP
        with _ble_environment(args, log_dir) as bluezoo:
            return asyncio.run(_demo(args, bluezoo))
    except BrokerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
