"""The simulator through the in-process link: the same bytes the BLE face sends.

Time is the event loop's, fast-forwarded by ``looptime``: minutes of
treadmill run in milliseconds, and every wait is on a real event.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from gateway.clock import LoopClock
from gateway.ftms import (
    ControlOp,
    ControlPointRequest,
    MachineStatusOp,
    ResultCode,
    decode_control_response,
    decode_feature,
    decode_heart_rate,
    decode_machine_status,
    decode_speed_range,
    decode_treadmill_data,
    encode_control_request,
)
from gateway.ftms import uuids as U
from gateway.link import LinkError
from simulators.inprocess import InProcessLink, SimRunner, running
from simulators.scenario import Scenario, load_scenario
from simulators.station import SimulatedStation

SCENARIOS = Path(__file__).parents[1] / "scenarios"
pytestmark = pytest.mark.looptime


def sim(*events: dict[str, object]) -> contextlib.AbstractAsyncContextManager[SimRunner]:
    """The done-when scenario plus ``events``, running on the (fast-forwarded) loop clock.

    Started inside each test, not in a fixture: looptime fakes time only there.
    """
    scenario = load_scenario(SCENARIOS / "console_speedup.toml")
    extra = Scenario.model_validate({"events": list(events)}).events
    scenario = scenario.model_copy(update={"events": scenario.events + extra})
    return running(SimulatedStation(scenario), LoopClock())


class Client:
    """A minimal FTMS client over a Link, queueing what arrives."""

    def __init__(self, link: InProcessLink) -> None:
        self.link = link
        self.queues: dict[str, asyncio.Queue[bytes]] = {}

    async def subscribe(self, *uuids: str) -> None:
        for uuid in uuids:
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            self.queues[uuid] = queue
            await self.link.subscribe(uuid, queue.put_nowait)

    async def command(self, op: ControlOp, **kw: object) -> ResultCode:
        await self.link.write(
            U.FITNESS_MACHINE_CONTROL_POINT,
            encode_control_request(ControlPointRequest(op, **kw)),  # type: ignore[arg-type]
        )
        response = decode_control_response(await self.queues[U.FITNESS_MACHINE_CONTROL_POINT].get())
        assert response.request_op == op
        return ResultCode(response.result)


async def test_done_when_scenario_through_the_in_process_link() -> None:
    async with sim() as runner:
        await _done_when(runner)


async def _done_when(runner: SimRunner) -> None:
    link = InProcessLink(runner)
    await link.connect()
    client = Client(link)
    feature = decode_feature(await link.read(U.FITNESS_MACHINE_FEATURE))
    assert "speed" in feature.target_settings
    speed_range = decode_speed_range(await link.read(U.SUPPORTED_SPEED_RANGE))
    assert (speed_range.min_kmh, speed_range.max_kmh) == (0.5, 16.0)
    await client.subscribe(
        U.TREADMILL_DATA,
        U.HEART_RATE_MEASUREMENT,
        U.FITNESS_MACHINE_STATUS,
        U.FITNESS_MACHINE_CONTROL_POINT,
    )
    assert await client.command(ControlOp.REQUEST_CONTROL) is ResultCode.SUCCESS
    assert (
        await client.command(ControlOp.SET_TARGET_SPEED, target_speed_kmh=5.0) is ResultCode.SUCCESS
    )
    assert await client.command(ControlOp.START_OR_RESUME) is ResultCode.SUCCESS

    data = client.queues[U.TREADMILL_DATA]
    speeds: list[float] = []
    distances: list[int | None] = []
    async with asyncio.timeout(15):
        while not speeds or speeds[-1] < 5.0:
            record = decode_treadmill_data(await data.get())
            assert record.speed_kmh is not None
            speeds.append(record.speed_kmh)
            distances.append(record.distance_m)
    assert speeds == sorted(speeds)  # a ramp, not a jump
    assert len(speeds) >= 5  # at 1 km/h per second
    assert distances[-1] is not None
    assert distances[-1] > 0
    hr = decode_heart_rate(await client.queues[U.HEART_RATE_MEASUREMENT].get())
    assert hr.heart_rate_bpm > 0

    statuses = client.queues[U.FITNESS_MACHINE_STATUS]
    async with asyncio.timeout(30):
        while True:
            status = decode_machine_status(await statuses.get())
            if status.op is MachineStatusOp.TARGET_SPEED_CHANGED and status.target_speed_kmh == 7.0:
                break
    async with asyncio.timeout(10):
        while (record := decode_treadmill_data(await data.get())).speed_kmh != 7.0:
            assert record.speed_kmh is not None
            assert record.speed_kmh >= 5.0
    await link.disconnect()


async def test_write_without_connection_and_drop_calls_back() -> None:
    async with sim({"at_s": 3, "action": "disconnect"}) as runner:
        link = InProcessLink(runner)
        with pytest.raises(LinkError, match="not connected"):
            await link.read(U.SUPPORTED_SPEED_RANGE)
        await link.connect()
        dropped = asyncio.Event()
        link.on_disconnect(dropped.set)
        await dropped.wait()
        assert asyncio.get_running_loop().time() == pytest.approx(3.0)
        assert not link.is_connected
        await link.connect()  # the device is still there
        assert link.is_connected


async def test_one_procedure_at_a_time() -> None:
    async with sim({"at_s": 0, "action": "slow_response", "delay_s": 2}) as runner:
        await _slow(runner)


async def _slow(runner: SimRunner) -> None:
    link = InProcessLink(runner)
    await link.connect()
    client = Client(link)
    await client.subscribe(U.FITNESS_MACHINE_CONTROL_POINT)
    request = encode_control_request(ControlPointRequest(ControlOp.REQUEST_CONTROL))
    await link.write(U.FITNESS_MACHINE_CONTROL_POINT, request)
    with pytest.raises(LinkError, match="procedure already in progress"):
        await link.write(U.FITNESS_MACHINE_CONTROL_POINT, request)
    loop = asyncio.get_running_loop()
    sent = loop.time()
    await client.queues[U.FITNESS_MACHINE_CONTROL_POINT].get()
    assert loop.time() - sent == pytest.approx(2.0, abs=0.2)
