"""The FTMS control point as a client: one procedure in flight, typed results.

Writes a request, waits for the 0x80 indication that answers *that* request,
and gives up after the timeout (the spec gives none; peers use 2-5 s). The
indication callback only resolves a future: no work in the BLE callback.
"""

from __future__ import annotations

import asyncio
import logging

from ..clock import Clock
from ..errors import RetrogateError
from ..ftms import (
    ControlPointRequest,
    ControlPointResponse,
    FtmsDecodeError,
    decode_control_response,
    encode_control_request,
)
from ..ftms import uuids as U
from ..link import Link, LinkError

log = logging.getLogger(__name__)


class ControlError(RetrogateError):
    """A procedure did not complete: no answer in time, or the link failed."""


class ControlTimeout(ControlError):
    """No answer in time: the machine may not be listening any more."""


class ControlPointClient:
    """Serialises procedures on one connected link."""

    def __init__(self, link: Link, clock: Clock, timeout_s: float = 2.0) -> None:
        self._link = link
        self._clock = clock
        self._timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self._waiting: asyncio.Future[ControlPointResponse] | None = None
        self.stray_responses = 0

    async def start(self) -> None:
        """Subscribe to the control point's indications (after every connect)."""
        await self._link.subscribe(U.FITNESS_MACHINE_CONTROL_POINT, self._on_indication)

    def _on_indication(self, data: bytes) -> None:
        try:
            response = decode_control_response(data)
        except FtmsDecodeError as exc:
            log.warning("control point: undecodable indication %s: %s", data.hex(" "), exc)
            return
        waiting = self._waiting
        if waiting is None or waiting.done():
            self.stray_responses += 1
            return
        waiting.set_result(response)

    async def request(self, request: ControlPointRequest) -> ControlPointResponse:
        """Carry out one procedure; raises ControlError on timeout or link failure."""
        name = request.op.name.lower()
        async with self._lock:
            loop = asyncio.get_running_loop()
            self._waiting = loop.create_future()
            try:
                await self._link.write(
                    U.FITNESS_MACHINE_CONTROL_POINT, encode_control_request(request)
                )
                async with self._clock.timeout(self._timeout_s):
                    while True:
                        response = await self._waiting
                        if response.request_op == request.op:
                            return response
                        # A late answer to an earlier request that timed out.
                        self.stray_responses += 1
                        self._waiting = loop.create_future()
            except TimeoutError:
                raise ControlTimeout(f"no answer to {name} within {self._timeout_s:g} s") from None
            except LinkError as exc:
                raise ControlError(f"{name}: {exc}") from exc
            finally:
                self._waiting = None
