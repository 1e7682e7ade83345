"""The simulator as a :class:`gateway.link.Link`, in the same process.

Moves exactly the bytes the BlueZ face would, through the same interface the
bleak adapter implements, with no D-Bus or radio: fast tests, the demo, and
reaction-time benchmarks. A :class:`SimRunner` plays the device (it keeps
running when a client disconnects, as a treadmill does); each
:class:`InProcessLink` is one client's connection to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from gateway.clock import Clock
from gateway.ftms import uuids as U
from gateway.link import DataCallback, DisconnectCallback, LinkError
from gateway.tasks import background

from .station import Drop, Note, Notify, Outgoing, SimulatedStation, offers

log = logging.getLogger(__name__)

SERVICES = {
    U.FITNESS_MACHINE_SERVICE: (
        U.FITNESS_MACHINE_FEATURE,
        U.TREADMILL_DATA,
        U.TRAINING_STATUS,
        U.SUPPORTED_SPEED_RANGE,
        U.SUPPORTED_INCLINATION_RANGE,
        U.FITNESS_MACHINE_CONTROL_POINT,
        U.FITNESS_MACHINE_STATUS,
    ),
    U.HEART_RATE_SERVICE: (U.HEART_RATE_MEASUREMENT, U.BODY_SENSOR_LOCATION),
    U.BATTERY_SERVICE: (U.BATTERY_LEVEL,),
    U.DEVICE_INFORMATION_SERVICE: (
        U.MANUFACTURER_NAME,
        U.MODEL_NUMBER,
        U.SERIAL_NUMBER,
        U.FIRMWARE_REVISION,
    ),
}


class SimRunner:
    """Runs a station on a clock and delivers its output to connected links."""

    def __init__(
        self, station: SimulatedStation, clock: Clock, address: str = "SIM:00:00:01"
    ) -> None:
        self.station = station
        self.clock = clock
        self.address = address
        self._links: set[InProcessLink] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.running = False
        self.started = asyncio.Event()

    async def run(self) -> None:
        """Advance the station until cancelled."""
        self.station.begin(self.clock.now())
        self.running = True
        self.started.set()
        try:
            while True:
                self.deliver(self.station.advance(self.clock.now()))
                await self.clock.sleep(self.station.next_due() - self.clock.now())
        finally:
            self.running = False
            self.started.clear()
            for task in self._tasks:
                task.cancel()

    def deliver(self, outgoing: list[Outgoing]) -> None:
        """Fan notifications out to subscribed links; carry out drops."""
        for item in outgoing:
            if isinstance(item, Notify):
                for link in list(self._links):
                    link._deliver(item.uuid, item.data)
            elif isinstance(item, Drop):
                for link in list(self._links):
                    link._dropped(item.reason)
            elif isinstance(item, Note):
                log.info("%s: %s", self.address, item.text)

    def attach(self, link: InProcessLink) -> None:
        if not self.running:
            raise LinkError(f"{self.address}: no device answers (simulator not running)")
        self._links.add(link)

    def detach(self, link: InProcessLink) -> None:
        self._links.discard(link)
        self.station.client_left(link.client)

    async def write(self, link: InProcessLink, uuid: str, data: bytes) -> None:
        result = self.station.write(link.client, uuid, data, self.clock.now())
        self.deliver(result.then)
        if result.response is None:
            return
        if result.delay_s <= 0:
            self.deliver([result.response])
            return
        response = result.response
        link._pending = True

        async def later() -> None:
            await self.clock.sleep(result.delay_s)
            link._pending = False
            self.deliver([response])

        task = asyncio.create_task(later(), name=f"sim-slow-response-{link.client}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@contextlib.asynccontextmanager
async def running(
    station: SimulatedStation, clock: Clock, address: str = "SIM:00:00:01"
) -> AsyncIterator[SimRunner]:
    """A started :class:`SimRunner` for the duration of the block."""
    runner = SimRunner(station, clock, address)
    async with background(runner.run(), f"sim-{address}"):
        await runner.started.wait()
        yield runner


class InProcessLink:
    """One client's connection to a :class:`SimRunner` (implements ``Link``)."""

    def __init__(self, runner: SimRunner, client: str = "gateway") -> None:
        self._runner = runner
        self.client = client
        self._connected = False
        self._subscriptions: dict[str, DataCallback] = {}
        self._on_disconnect: list[DisconnectCallback] = []
        self._pending = False

    @property
    def address(self) -> str:
        return self._runner.address

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        self._runner.attach(self)
        self._connected = True

    async def disconnect(self) -> None:
        if self._connected:
            self._close()

    def has_characteristic(self, uuid: str) -> bool:
        spec = self._runner.station.spec
        if uuid in SERVICES[U.HEART_RATE_SERVICE] and not spec.with_hr:
            return False
        if not offers(spec, uuid):
            return False
        return any(uuid in chars for chars in SERVICES.values())

    async def read(self, uuid: str) -> bytes:
        self._check(uuid)
        try:
            return self._runner.station.read(uuid)
        except KeyError:
            raise LinkError(f"{uuid}: not readable") from None

    async def write(self, uuid: str, data: bytes) -> None:
        self._check(uuid)
        if self._pending:
            raise LinkError("procedure already in progress")
        try:
            await self._runner.write(self, uuid, bytes(data))
        except KeyError:
            raise LinkError(f"{uuid}: not writable") from None

    async def subscribe(self, uuid: str, callback: DataCallback) -> None:
        self._check(uuid)
        self._subscriptions[uuid] = callback

    async def unsubscribe(self, uuid: str) -> None:
        self._subscriptions.pop(uuid, None)

    def on_disconnect(self, callback: DisconnectCallback) -> Callable[[], None]:
        self._on_disconnect.append(callback)
        return lambda: self._on_disconnect.remove(callback)

    # --- called by the runner ---------------------------------------------------

    def _deliver(self, uuid: str, data: bytes) -> None:
        callback = self._subscriptions.get(uuid)
        if callback is not None:
            callback(data)

    def _dropped(self, reason: str) -> None:
        log.info("%s: connection dropped: %s", self.address, reason)
        self._close()

    def _check(self, uuid: str) -> None:
        if not self._connected:
            raise LinkError(f"{self.address}: not connected")
        if not self.has_characteristic(uuid):
            raise LinkError(f"{self.address}: no characteristic {uuid}")

    def _close(self) -> None:
        self._connected = False
        self._pending = False
        self._subscriptions.clear()
        self._runner.detach(self)
        for callback in list(self._on_disconnect):
            callback()
