"""The Textual dashboard: watch and steer sessions from any terminal.

It reads only the MQTT contract (docs/mqtt.md), so it runs on any machine
that reaches the broker. I/O lives in one worker; the screens redraw from
the model four times a second, however fast or slow messages arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message
from textual.reactive import reactive

from gateway.config import VoiceConfig
from gateway.contract.payloads import CommandName
from gateway.mqtt.consumer import BrokerAddress, Consumer

from .host import Host
from .model import Fleet
from .runner import RunnerScreen
from .screens import HelpScreen, LiveScreen, OverviewScreen, StationScreen
from .voice import DashboardVoice

REFRESH_S = 0.25


@dataclass
class BrokerChanged(Message):
    """The broker connection came up or went down."""

    up: bool
    detail: str


class Dashboard(App[None]):
    """Station overview, station detail, help."""

    broker_up: reactive[bool] = reactive(False)
    broker_text: reactive[str] = reactive("")

    CSS_PATH = "dashboard.tcss"
    TITLE = "retrogate"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
    ]

    def __init__(
        self,
        address: BrokerAddress | None,
        *,
        prefix: str = "retrogate",
        station: str | None = None,
        fleet: Fleet | None = None,
        voice: VoiceConfig | None = None,
        runner: bool = False,
    ) -> None:
        super().__init__()
        self.voice_config = voice
        self.start_in_runner = runner
        self.voice: DashboardVoice | None = None
        self.address = address
        self.fleet = fleet or Fleet(prefix)
        self.wanted_station = station
        self.set_reactive(
            Dashboard.broker_text, "connecting…" if address else "offline (fixed data)"
        )
        self.pending: dict[str, tuple[str, str]] = {}  # station -> (command id, label)
        self.consumer: Consumer | None = None
        self._auto_opened = False
        self._ever_connected = False
        self._told_unreachable = False

    def on_mount(self) -> None:
        self.push_screen(OverviewScreen())
        if self.address is not None:
            self.consumer = Consumer(
                self.address, self.fleet.prefix, self._on_mqtt, self._on_connection
            )
            self.run_worker(self.consumer.run(), name="mqtt", exclusive=True)
        if self.voice_config is not None:
            self.voice = DashboardVoice(self.voice_config, self.wanted_station, self.bell)
            self.fleet.observer = self.voice.observe
            self.run_worker(self._speak(self.voice), name="voice")
        self.set_interval(REFRESH_S, self.refresh_view)
        self.call_after_refresh(self.refresh_view)

    async def _speak(self, voice: DashboardVoice) -> None:
        async with voice.speaking():
            await asyncio.Event().wait()  # until the app ends and cancels the worker

    # --- from the worker (same loop: just update the model) -------------------------

    def _on_mqtt(self, topic: str, payload: bytes) -> None:
        self.fleet.feed(topic, payload, time.time())

    def _on_connection(self, up: bool, detail: str) -> None:
        self.post_message(BrokerChanged(up, detail))

    def on_broker_changed(self, message: BrokerChanged) -> None:
        was_up = self.broker_up
        self.broker_up = message.up
        if message.up:
            self._ever_connected = True
            self.broker_text = message.detail
            return
        if not self._ever_connected:
            # Never connected: there is nothing "lost"; say where we looked, once.
            assert self.address is not None
            where = f"mqtt://{self.address.host}:{self.address.port}"
            self.broker_text = f"cannot reach {where} — is the gateway running? (retrogate doctor)"
            if not self._told_unreachable:
                self._told_unreachable = True
                self.notify(f"Cannot reach {where}: retrying.", severity="error")
            return
        self.broker_text = f"lost: {message.detail}; retrying"
        if was_up:  # once per loss, not once per retry
            self.notify("Broker connection lost; reconnecting…", severity="error")

    def watch_broker_up(self) -> None:
        """Show a connection change at once, not at the next refresh tick."""
        self.refresh_view()

    # --- drawing ---------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Redraw the current screen from the model (called at a steady rate)."""
        if (
            not self._auto_opened
            and self.fleet.stations
            and isinstance(self.screen, OverviewScreen)
        ):
            wanted = self.wanted_station
            if wanted is None and len(self.fleet.stations) == 1:
                wanted = next(iter(self.fleet.stations))
            if wanted in self.fleet.stations:
                self._auto_opened = True
                self.open_station(wanted)
        screen = self.screen
        if isinstance(screen, LiveScreen):
            with contextlib.suppress(NoMatches):  # a screen being torn down
                screen.refresh_view()

    def open_station(self, station: str) -> None:
        """Show one station's detail (and over it the runner view, with --runner)."""
        self.push_screen(StationScreen(station))
        if self.start_in_runner:
            self.start_in_runner = False
            self.open_runner(station)

    def open_runner(self, station: str) -> None:
        """Show the runner view of one station."""
        self.push_screen(RunnerScreen(station))

    # --- commands --------------------------------------------------------------------

    async def send(
        self,
        station: str,
        cmd: CommandName,
        value: float | str | None = None,
        label: str | None = None,
    ) -> None:
        """Send a command; its answer shows on the station screen."""
        text = label or (f"{cmd} {value}" if value is not None else cmd)
        if self.consumer is None:
            self.notify("Not connected to a broker", severity="error")
            return
        try:
            command_id = await self.consumer.command(station, cmd, value)
        except ConnectionError as exc:
            self.notify(f"{text}: not sent ({exc})", severity="error")
            return
        self.pending[station] = (command_id, text)
        self.refresh_view()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"


def _as_host(app: Dashboard) -> Host:
    """Checked by mypy: the app is what its screens expect."""
    return app
