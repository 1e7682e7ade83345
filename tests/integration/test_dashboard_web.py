"""``retrogate dashboard --web`` in a real headless Chromium (Debian's package).

A gateway on the simulator publishes to a real mosquitto; the dashboard is
served by textual-serve; Chromium loads the page, which opens the websocket
and draws the terminal. The test reads what the page received over its
websocket (hooked before any page script runs, through the DevTools
protocol) and checks the live speed appears and changes, then keeps a
screenshot of what Chromium drew.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pyte
import pytest

from gateway.safety.direction import Direction
from gateway.service import RunOptions
from gateway.workout.plan import Plan, Segment
from tests.support.gateway import running_gateway, settings_for
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.services import require

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

# Runs before the page's own scripts: keep every websocket frame the page receives.
HOOK = """
window.__terminal = "";
const Native = window.WebSocket;
window.WebSocket = function (...args) {
  const ws = new Native(...args);
  const decoder = new TextDecoder();
  ws.addEventListener("message", (e) => {
    if (typeof e.data !== "string") {  // binary: the terminal's bytes; text: JSON meta
      window.__terminal += decoder.decode(e.data, { stream: true });
    }
  });
  return ws;
};
window.WebSocket.prototype = Native.prototype;
Object.assign(window.WebSocket, Native);
"""
SPEED = re.compile(r"(\d+\.\d) km/h")


def speed_tile(screen: pyte.Screen) -> str | None:
    """The speed tile's value, read off the emulated screen (the line under its title)."""
    lines = screen.display
    for row, line in enumerate(lines[:-1]):
        column = line.find(" Speed ")
        if column >= 0:
            found = SPEED.search(lines[row + 1][column - 2 : column + 30])
            return found.group(1) if found else None
    return None


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    require(found is not None, "chromium", "apt-get install chromium")
    assert found is not None
    return found


class DevTools:
    """Just enough of the Chrome DevTools protocol: one page, commands and answers."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.session: str | None = None

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        await self.ws.send_str(json.dumps(message))
        async for frame in self.ws:
            answer = json.loads(frame.data)
            if answer.get("id") == call_id:
                if "error" in answer:
                    raise AssertionError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
        raise AssertionError(f"Chromium closed the DevTools socket during {method}")

    async def evaluate(self, expression: str) -> Any:
        answer = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return answer["result"].get("value")


@contextlib.asynccontextmanager
async def process(*argv: str) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def line_with(proc: asyncio.subprocess.Process, pattern: str) -> re.Match[str]:
    """The first stderr line matching ``pattern`` (or what the process said instead)."""
    assert proc.stderr is not None
    said = []
    async for raw in proc.stderr:
        line = raw.decode(errors="replace")
        said.append(line)
        if found := re.search(pattern, line):
            return found
    raise AssertionError(f"no line matching {pattern!r}; the process said: {''.join(said)}")


async def port_open(port: int) -> None:
    """Wait for a listener on loopback ``port``."""
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        await asyncio.sleep(0.1)  # polling a condition, not a guess at a duration


async def test_the_web_dashboard_shows_the_live_speed_in_chromium(
    broker: Mosquitto, tmp_path: Path
) -> None:
    browser = chromium()
    web_port = free_port()
    settings = settings_for(broker.port, tmp_path / "data")
    plan = Plan(
        name="web",
        segments=(Segment(direction=Direction.FORWARD, speed_kmh=4.0, duration_s=3600),),
    )
    async with (
        running_gateway(settings, RunOptions(sim=True, plan=plan), speedup=10),
        process(
            *(sys.executable, "-m", "gateway.cli", "dashboard", "--web", "--port", str(web_port)),
            *("--broker", f"mqtt://127.0.0.1:{broker.port}", "--station", "sim"),
        ),
        process(
            browser,
            *("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"),
            *(f"--user-data-dir={tmp_path / 'chromium'}", "--remote-debugging-port=0"),
            "--window-size=1280,800",
            "about:blank",
        ) as chrome,
        aiohttp.ClientSession() as http,
    ):
        async with asyncio.timeout(90):
            endpoint = (await line_with(chrome, r"DevTools listening on (ws://\S+)")).group(1)
            await port_open(web_port)
            async with http.ws_connect(endpoint, max_msg_size=0) as ws:
                tools = DevTools(ws)
                target = await tools.call("Target.createTarget", url="about:blank")
                attached = await tools.call(
                    "Target.attachToTarget", targetId=target["targetId"], flatten=True
                )
                tools.session = attached["sessionId"]
                await tools.call("Page.enable")
                await tools.call("Page.addScriptToEvaluateOnNewDocument", source=HOOK)
                await tools.call("Page.navigate", url=f"http://127.0.0.1:{web_port}/")
                screen = pyte.Screen(240, 80)  # an independent terminal emulator
                stream = pyte.Stream(screen)
                seen = 0

                async def shown() -> str | None:
                    nonlocal seen
                    await asyncio.sleep(0.25)  # polling the page, not a guess
                    received = await tools.evaluate("window.__terminal || ''")
                    stream.feed(received[seen:])
                    seen = len(received)
                    return speed_tile(screen)

                while (speed := await shown()) != "4.0":
                    pass  # the plan's 4 km/h, live from the simulator through the broker
                await tools.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
                for _ in range(2):  # "+" twice: 0.5 km/h each, through the page's own keys
                    await tools.call("Input.insertText", text="+")
                speeds = [speed]
                while speeds[-1] != "5.0":
                    if (speed := await shown()) is not None and speed != speeds[-1]:
                        speeds.append(speed)
                drawn = await tools.evaluate("document.body.classList.contains('-first-byte')")
                shot = await tools.call("Page.captureScreenshot", format="png")
    assert drawn, "the page never wrote a byte to its terminal"
    assert [float(s) for s in speeds] == sorted(float(s) for s in speeds), speeds
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG")
    shot_to = Path(os.environ.get("RETROGATE_WEB_SCREENSHOT") or tmp_path / "web.png")
    await asyncio.to_thread(shot_to.write_bytes, png)  # docs/images/dashboard-web.png
