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
window.__sizes = [];  // [cols, rows]: what the page told the app, in order
const Native = window.WebSocket;
window.WebSocket = function (...args) {
  const ws = new Native(...args);
  const asked = new URL(args[0], location.href).searchParams;
  if (asked.has("width")) window.__sizes.push([+asked.get("width"), +asked.get("height")]);
  const send = ws.send.bind(ws);
  ws.send = (data) => {
    try {
      const [kind, body] = JSON.parse(data);
      if (kind === "resize") window.__sizes.push([body.width, body.height]);
    } catch (e) {}
    return send(data);
  };
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


PAGES = [(1280, 720), (1280, 800), (1024, 768), (800, 600), (412, 915)]  # a phone, upright


async def test_the_emergency_stop_key_is_on_the_last_row_of_every_page_size(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """Defect (issue 23): in headless Chromium at 1280x720 the web dashboard's last row,
    the footer with the EMERGENCY STOP key, was blank. Read as the page's terminal holds
    it: every byte the page received, replayed by pyte at the size the page told the app."""
    browser = chromium()
    web_port = free_port()
    settings = settings_for(broker.port, tmp_path / "data")
    async with (
        running_gateway(settings, RunOptions(sim=True), speedup=10),
        process(
            *(sys.executable, "-m", "gateway.cli", "dashboard", "--web", "--port", str(web_port)),
            *("--broker", f"mqtt://127.0.0.1:{broker.port}", "--station", "sim"),
        ),
        process(
            browser,
            *("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"),
            *(f"--user-data-dir={tmp_path / 'chromium'}", "--remote-debugging-port=0"),
            "about:blank",
        ) as chrome,
        aiohttp.ClientSession() as http,
    ):
        endpoint = (await line_with(chrome, r"DevTools listening on (ws://\S+)")).group(1)
        await port_open(web_port)
        footers: dict[tuple[int, int], str] = {}
        async with http.ws_connect(endpoint, max_msg_size=0) as ws:
            tools = DevTools(ws)
            for width, height in PAGES:
                tools.session = None  # the browser's own calls
                target = await tools.call("Target.createTarget", url="about:blank")
                attached = await tools.call(
                    "Target.attachToTarget", targetId=target["targetId"], flatten=True
                )
                tools.session = attached["sessionId"]
                await tools.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                await tools.call("Page.enable")
                await tools.call("Page.addScriptToEvaluateOnNewDocument", source=HOOK)
                await tools.call("Page.navigate", url=f"http://127.0.0.1:{web_port}/")
                async with asyncio.timeout(60):
                    footers[(width, height)] = await _last_row_when_drawn(tools)
                tools.session = None
                await tools.call("Target.closeTarget", targetId=target["targetId"])
    for size, footer in footers.items():
        assert footer.startswith("space EMERGENCY STOP"), f"{size}: last row {footer!r}"


async def _last_row_when_drawn(tools: DevTools) -> str:
    """The last row of the page's terminal once the station screen has drawn (its
    direction banner shows) and two reads a moment apart agree."""
    previous = None
    while True:
        await asyncio.sleep(0.25)  # polling the page, not a guess
        sizes = await tools.evaluate("window.__sizes || []")
        received = await tools.evaluate("window.__terminal || ''")
        if not sizes:
            continue
        cols, rows = sizes[-1]
        screen = pyte.Screen(cols, rows)
        pyte.Stream(screen).feed(received)
        if not any("FORWARD" in line or "BACKWARD" in line for line in screen.display):
            continue  # the station screen (its direction banner) is not drawn yet
        last = screen.display[-1].strip()
        if last == previous:
            return last
        previous = last
