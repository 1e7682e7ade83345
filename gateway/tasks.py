"""A task that lives as long as a block: started on the way in, cancelled on the way out.

The announcer, the recorder and the in-process simulator each run one worker
beside their caller. Written out three times, the end (cancel, wait for it,
take its cancellation as the normal end) drifted; here it is once. An error of
the worker's own is raised on the way out, never swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def background(
    work: Coroutine[Any, Any, object], name: str
) -> AsyncIterator[asyncio.Task[object]]:
    """Run ``work`` as a task named ``name`` for the duration of the block."""
    task: asyncio.Task[object] = asyncio.create_task(work, name=name)
    try:
        yield task
    finally:
        await finish(task)


async def finish(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended; its cancellation is the normal end."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
