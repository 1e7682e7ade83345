"""Running the whole gateway service (in-process simulator) inside a test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from gateway.clock import LoopClock
from gateway.config import MqttConfig, Settings
from gateway.service import RunOptions, Service


def settings_for(port: int, data_dir: Path, **mqtt: Any) -> Settings:
    """A gateway ``gw`` publishing to a broker on ``127.0.0.1:port``."""
    return Settings(
        gateway_id="gw",
        data_dir=data_dir,
        mqtt=MqttConfig(broker="127.0.0.1", port=port, **mqtt),
    )


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings, options: RunOptions, speedup: float = 20.0
) -> AsyncIterator[Service]:
    """The service, started and (if it has MQTT) connected; stopped cleanly after."""
    options.status_line = False
    service = Service(settings, options, LoopClock(speedup))
    task = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(20):
            ready = asyncio.create_task(service.ready.wait())
            await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                ready.cancel()
                task.result()  # raises what went wrong
            if service.bridge is not None:
                await service.bridge.connected.wait()
        yield service
    finally:
        service.stop()
        await task
