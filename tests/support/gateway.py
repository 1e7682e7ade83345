"""Running the whole gateway service (in-process simulator) inside a test."""

from __future__ import annotations

import asyncio
import contextlib
import os
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


def run_env(port: int, data_dir: Path, broker: str = "127.0.0.1") -> dict[str, str]:
    """The environment of a ``retrogate run`` process: gateway ``gw``, this data dir, and
    this broker (``127.0.0.1``: an outside one on ``port``; ``embedded``: its own there)."""
    return {
        **os.environ,
        "RETROGATE_GATEWAY_ID": "gw",
        "RETROGATE_DATA_DIR": str(data_dir),
        "RETROGATE_MQTT__BROKER": broker,
        "RETROGATE_MQTT__PORT": str(port),
    }
