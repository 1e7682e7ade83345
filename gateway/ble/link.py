"""The ``Link`` interface over bleak (real radios, and BlueZoo in tests)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bleak import BleakClient
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from ..link import DataCallback, DisconnectCallback, LinkError
from .scan import find

log = logging.getLogger(__name__)


class BleakLink:
    """A connection to one peripheral; reconnect by calling ``connect`` again."""

    def __init__(self, address: str, adapter: str = "hci0", scan_timeout_s: float = 20.0) -> None:
        self._address = address
        self._adapter = adapter
        self._scan_timeout_s = scan_timeout_s
        self._client: BleakClient | None = None
        self._on_disconnect: list[DisconnectCallback] = []

    @property
    def address(self) -> str:
        return self._address

    @property
    def is_connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def connect(self) -> None:
        device = await find(self._address, self._adapter, self._scan_timeout_s)
        try:
            self._client = await establish_connection(
                BleakClientWithServiceCache,
                device,
                device.name or self._address,
                disconnected_callback=self._disconnected,
                max_attempts=3,
                bluez={"adapter": self._adapter},
            )
        except (BleakError, TimeoutError) as exc:
            raise LinkError(f"{self._address}: cannot connect: {exc}") from exc

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.disconnect()
            except BleakError as exc:
                log.debug("%s: disconnect: %s", self._address, exc)

    def has_characteristic(self, uuid: str) -> bool:
        return (
            self._client is not None and self._client.services.get_characteristic(uuid) is not None
        )

    async def read(self, uuid: str) -> bytes:
        try:
            return bytes(await self._connected().read_gatt_char(uuid))
        except BleakError as exc:
            raise LinkError(f"{self._address}: read {uuid[4:8]}: {exc}") from exc

    async def write(self, uuid: str, data: bytes) -> None:
        try:
            await self._connected().write_gatt_char(uuid, data, response=True)
        except BleakError as exc:
            raise LinkError(f"{self._address}: write {uuid[4:8]}: {exc}") from exc

    async def subscribe(self, uuid: str, callback: DataCallback) -> None:
        try:
            await self._connected().start_notify(uuid, lambda _, data: callback(bytes(data)))
        except BleakError as exc:
            raise LinkError(f"{self._address}: subscribe {uuid[4:8]}: {exc}") from exc

    async def unsubscribe(self, uuid: str) -> None:
        try:
            await self._connected().stop_notify(uuid)
        except BleakError as exc:
            raise LinkError(f"{self._address}: unsubscribe {uuid[4:8]}: {exc}") from exc

    def on_disconnect(self, callback: DisconnectCallback) -> Callable[[], None]:
        self._on_disconnect.append(callback)
        return lambda: (
            self._on_disconnect.remove(callback) if callback in self._on_disconnect else None
        )

    def _connected(self) -> BleakClient:
        if self._client is None or not self._client.is_connected:
            raise LinkError(f"{self._address}: not connected")
        return self._client

    def _disconnected(self, client: BleakClient) -> None:
        if client is not self._client and self._client is not None:
            return
        self._client = None
        for callback in list(self._on_disconnect):
            callback()
