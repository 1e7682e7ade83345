"""The bridge's shell: a GATT server on an adapter, fed from one station's hub.

It waits for the real treadmill to say what it is (``MachineMessage``), then
registers the virtual treadmill with exactly those features and ranges and
advertises it the way apps classify machines. From then on every record,
heart-rate sample, state change and command answer of the station goes
through :class:`VirtualTreadmill`, and what the app writes comes back as
commands to the station's one door. Nothing here writes to the belt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from ..clock import Clock
from ..ftms import uuids as U
from ..hub import (
    AlertMessage,
    HeartRateMessage,
    Hub,
    HubMessage,
    MachineMessage,
    ResultMessage,
    StateMessage,
    TelemetrySample,
)
from ..peripheral.server import AdvertSpec, GattServer, PeripheralError, Row
from ..safety.actions import Alert, Level
from ..safety.events import Command
from ..tasks import background
from .virtual import (
    RUNNING_WALKING_SENSOR,
    Notify,
    Out,
    Say,
    Seen,
    Submit,
    VirtualTreadmill,
    address_of,
)

log = logging.getLogger(__name__)

ROOT = "/org/retrogate/bridge"
SERVICES = ("ftms", "hr", "rsc")


@dataclass(frozen=True)
class BridgeSpec:
    """Where and how the bridge appears."""

    adapter: str
    name: str = "retrogate"
    services: tuple[str, ...] = SERVICES
    walk_kmh: float = 3.0  # an app that drove a backward belt and went away: down to this


def table(machine: MachineMessage, services: tuple[str, ...]) -> list[Row]:
    """The GATT table: FTMS as the real treadmill offers it, HR and RSC if asked."""
    ftms = U.FITNESS_MACHINE_SERVICE
    rows: list[Row] = [
        (ftms, U.FITNESS_MACHINE_FEATURE, ["read"]),
        (ftms, U.TREADMILL_DATA, ["notify"]),
        (ftms, U.TRAINING_STATUS, ["read", "notify"]),
        (ftms, U.SUPPORTED_SPEED_RANGE, ["read"]),
        (ftms, U.FITNESS_MACHINE_CONTROL_POINT, ["write", "indicate"]),
        (ftms, U.FITNESS_MACHINE_STATUS, ["notify"]),
    ]
    if machine.incline_range is not None:
        rows.append((ftms, U.SUPPORTED_INCLINATION_RANGE, ["read"]))
    if "hr" in services:
        rows += [
            (U.HEART_RATE_SERVICE, U.HEART_RATE_MEASUREMENT, ["notify"]),
            (U.HEART_RATE_SERVICE, U.BODY_SENSOR_LOCATION, ["read"]),
        ]
    if "rsc" in services:
        rsc = U.RUNNING_SPEED_CADENCE_SERVICE
        rows += [
            (rsc, U.RSC_MEASUREMENT, ["notify"]),
            (rsc, U.RSC_FEATURE, ["read"]),
            (rsc, U.SENSOR_LOCATION, ["read"]),
        ]
    return rows


def advert(spec: BridgeSpec) -> AdvertSpec:
    """How apps find it: the FTMS UUID and Service Data with the treadmill bit."""
    uuids = [U.FITNESS_MACHINE_SERVICE]
    if "hr" in spec.services:
        uuids.append(U.HEART_RATE_SERVICE)
    if "rsc" in spec.services:
        uuids.append(U.RUNNING_SPEED_CADENCE_SERVICE)
    appearance = RUNNING_WALKING_SENSOR if "rsc" in spec.services else None
    return AdvertSpec(
        spec.name, uuids, {U.FITNESS_MACHINE_SERVICE: U.TREADMILL_SERVICE_DATA}, appearance
    )


class Bridge:
    """One station offered to apps as a treadmill."""

    def __init__(
        self,
        hub: Hub,
        submit: Callable[[Command], None],
        clock: Clock,
        spec: BridgeSpec,
    ) -> None:
        self.hub = hub
        self.submit = submit
        self.clock = clock
        self.spec = spec
        self.virtual: VirtualTreadmill | None = None
        self.server: GattServer | None = None
        self.advertising = asyncio.Event()
        self._lookups: set[asyncio.Task[None]] = set()
        self._machine: asyncio.Future[MachineMessage] = asyncio.get_running_loop().create_future()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Bridge]:
        """Listening to the station at once; advertising once the treadmill said what it is."""
        unsubscribe = self.hub.subscribe(self._on_message)
        try:
            async with background(self._serve(), "bridge"):
                yield self
        finally:
            unsubscribe()

    async def _serve(self) -> None:
        machine = await self._machine
        virtual = VirtualTreadmill(machine, self.spec.walk_kmh, snapshot=self.hub.snapshot)
        server = GattServer(
            ROOT,
            self.spec.adapter,
            table(machine, self.spec.services),
            advert(self.spec),
            virtual.read,
            self._on_write,
            on_left=self._on_left,
        )
        try:
            async with server.running():
                self.virtual, self.server = virtual, server
                log.info(
                    "bridge: %r advertising on %s (%s) for %s",
                    self.spec.name,
                    self.spec.adapter,
                    ", ".join(self.spec.services),
                    machine.address,
                )
                self.advertising.set()
                await asyncio.Event().wait()
        except PeripheralError as exc:
            log.error("bridge: %s", exc)
            text = f"The bridge for apps could not start: {exc}"
            self.hub.publish(AlertMessage(self.clock.now(), Alert(Level.WARNING, "bridge", text)))
        finally:
            self.virtual = self.server = None

    # --- the station -------------------------------------------------------------------

    def _on_message(self, message: HubMessage) -> None:
        if isinstance(message, MachineMessage):
            if not self._machine.done():
                self._machine.set_result(message)
            return
        virtual = self.virtual
        if virtual is None:
            return  # not advertising yet: no app can be listening
        if isinstance(message, TelemetrySample):
            self._carry_out(virtual.on_record(message.record))
        elif isinstance(message, HeartRateMessage):
            self._carry_out(virtual.on_heart_rate(message.sample))
        elif isinstance(message, StateMessage):
            self._carry_out(virtual.on_state(message.snapshot))
        elif isinstance(message, ResultMessage):
            self._carry_out(virtual.on_result(message.result))

    # --- the app -----------------------------------------------------------------------

    def _on_write(self, uuid: str, data: bytes, client: str) -> None:
        virtual = self.virtual
        if virtual is None:
            raise KeyError(uuid)
        if client not in virtual.names:
            self._carry_out(virtual.connected(client, address_of(client)))
            task = asyncio.get_running_loop().create_task(self._name(client), name="bridge-name")
            self._lookups.add(task)  # kept until done (a task nobody holds can vanish)
            task.add_done_callback(self._lookups.discard)
        out = virtual.write(client, uuid, data)
        # Indicate after the write's own reply has gone out, as a device does.
        asyncio.get_running_loop().call_soon(self._carry_out, out)

    def _on_left(self, client: str) -> None:
        if self.virtual is not None:
            self._carry_out(self.virtual.left(client))

    async def _name(self, client: str) -> None:
        """The app's device name, for the state ("Zwift on Pixel 7"), when BlueZ knows it."""
        server, virtual = self.server, self.virtual
        if server is None or virtual is None:
            return
        with contextlib.suppress(PeripheralError, IndexError, AttributeError):
            (value,) = await server.call(
                client,
                "org.freedesktop.DBus.Properties",
                "Get",
                "ss",
                ["org.bluez.Device1", "Alias"],
            )
            name = str(value.value)
            if client in virtual.names and name:
                virtual.names[client] = name

    def _carry_out(self, out: list[Out]) -> None:
        for item in out:
            if isinstance(item, Notify):
                if self.server is not None:
                    self.server.notify(item.uuid, item.data)
            elif isinstance(item, Submit):
                self.submit(item.command)
            elif isinstance(item, Seen):
                self.hub.update(app=item.app, app_asked=item.asked)
            elif isinstance(item, Say):
                self.hub.publish(AlertMessage(self.clock.now(), item.alert))
