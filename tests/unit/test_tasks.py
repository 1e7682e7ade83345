"""``gateway.tasks.background``: cancelled on the way out, a crash never swallowed."""

from __future__ import annotations

import asyncio

import pytest

from gateway.tasks import background


async def test_the_task_is_cancelled_and_awaited_when_the_block_ends() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    async with background(forever(), "w") as task:
        await started.wait()
        assert not task.done()
    assert task.cancelled()


async def test_a_worker_that_crashed_is_heard_on_the_way_out() -> None:
    async def crash() -> None:
        raise RuntimeError("the worker broke")

    with pytest.raises(RuntimeError, match="the worker broke"):
        async with background(crash(), "w") as task:
            await asyncio.wait({task})
