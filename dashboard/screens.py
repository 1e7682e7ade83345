"""Screens: the station overview (a gym), one station's detail, and help."""

from __future__ import annotations

import time
from typing import Any, ClassVar, cast, get_args

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Header, Static

from gateway.contract.payloads import CommandName, CommandResultPayload

from .host import Host
from .model import StationView, clock
from .widgets import (
    Alerts,
    Charts,
    Connections,
    DirectionBanner,
    KeysFooter,
    Tile,
    Timeline,
    pace_line,
    speed_line,
    zone_style,
)

COMMAND_NAMES = get_args(CommandName)
ASK_FRESH_S = 2.0  # a speed key's target stands for the next key this long


class LiveScreen(Screen[None]):
    """A screen redrawn from the model at the app's steady rate, once it is mounted."""

    ready = False

    @property
    def dash(self) -> Host:
        """The app, as far as a screen needs it."""
        return cast(Host, self.app)

    def on_mount(self) -> None:
        self.ready = True
        self.refresh_view()

    def refresh_view(self) -> None:
        """Redraw from the model (nothing before the widgets exist)."""
        if self.ready:
            self.draw()

    def draw(self) -> None:
        """What each screen shows."""
        raise NotImplementedError


class StationLive(LiveScreen):
    """A screen of one station: the emergency stop is the same key, the same door, on each."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "emergency", "EMERGENCY STOP", priority=True),
    ]

    def __init__(self, station: str, name: str) -> None:
        super().__init__(name=name)
        self.station = station

    async def action_emergency(self) -> None:
        await self.dash.send(self.station, "stop", label="EMERGENCY STOP")


class OverviewScreen(LiveScreen):
    """Every treadmill publishing to the broker; Enter opens one."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "open", "Open station")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Connections(id="connections")
        yield DataTable(id="stations", cursor_type="row")
        yield Static("Waiting for a gateway to publish…", id="empty")
        yield KeysFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("station", "direction", "speed", "cap", "HR", "distance", "time", "plan")
        super().on_mount()

    def draw(self) -> None:
        """The connection line and one table row per station."""
        fleet = self.dash.fleet
        self.query_one(Connections).show(None, self.dash.broker_up, self.dash.broker_text)
        self.query_one("#empty").display = not fleet.stations
        table = self.query_one(DataTable)
        site = len({v.gateway for v in fleet.stations.values()} - {None}) > 1
        order = [(gw, sid) for gw, sids in fleet.by_gateway() for sid in sids]
        if [sid for _, sid in order] != [key.value for key in table.rows]:
            table.clear()  # a new station or gateway: the rows again, grouped by gateway
        for gateway, sid in order:
            view = fleet.stations[sid]
            speed, _, _ = speed_line(view)
            name: str | Text = sid
            if site:  # several gateways on one broker: say which, and if it is away
                up = gateway is None or fleet.gateway_up(gateway)
                where = f"{gateway or '?'} · {sid}" + ("" if up else "  OFFLINE")
                name = Text(where, style="" if up else "bold red")
            row: list[Any] = [
                name,
                Text("◀◀ backward", style="bold orange1")
                if view.direction == "backward"
                else "forward ▶▶",
                Text(speed + (" CAPPED" if view.value("cap_limiting") else ""), style=""),
                f"{view.value('cap_kmh') or 0:.1f}",
                str(view.value("heart_rate_bpm") or "–"),
                f"{view.value('distance_m') or 0} m",
                clock(view.value("elapsed_s")),
                view.value("plan") or "free",
            ]
            if sid in table.rows:
                for column, value in zip(table.columns, row, strict=True):
                    table.update_cell(sid, column, value)
            else:
                table.add_row(*row, key=sid)

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            if key is not None:
                self.dash.open_station(key)


class StationScreen(StationLive):
    """One treadmill: tiles, direction, charts, plan, alerts, and the keys to steer it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "command('start')", "Start"),
        Binding("p", "command('pause')", "Pause"),
        Binding("x", "command('stop')", "Stop"),
        Binding("plus,equals_sign", "speed(0.5)", "Speed +"),
        Binding("minus", "speed(-0.5)", "Speed −"),
        Binding("right_square_bracket", "incline(0.5)", "Incline +", show=False),
        Binding("left_square_bracket", "incline(-0.5)", "Incline −", show=False),
        Binding("f", "flip", "Flip direction"),
        Binding("n", "command('next_segment')", "Next segment"),
        Binding("r", "runner", "Runner view"),
        Binding("escape", "back", "Stations"),
    ]

    def __init__(self, station: str) -> None:
        super().__init__(station, name=station)
        self.asked_kmh: tuple[float, float] | None = None  # (km/h, when) of the last speed key

    def compose(self) -> ComposeResult:
        yield Header()
        yield DirectionBanner(id="banner")
        with Grid(id="tiles"):
            yield Tile("Speed", id="speed")
            yield Tile("Pace", id="pace")
            yield Tile("Distance", id="distance")
            yield Tile("Incline", id="incline")
            yield Tile("Heart rate", id="hr")
            yield Tile("Energy", id="energy")
            yield Tile("Elapsed", id="elapsed")
            yield Tile("Remaining", id="remaining")
        with Horizontal(id="lower"):
            with Vertical(id="left"):
                yield Charts(id="charts")
                yield Static("Plan", classes="section")
                yield Timeline(id="timeline")
            with VerticalScroll(id="right"):
                yield Static("Alerts and interventions", classes="section")
                yield Alerts(id="alerts")
        yield Static("", id="result")
        yield Connections(id="connections")
        yield KeysFooter()

    def draw(self) -> None:
        """Tiles, banner, charts, plan, alerts, the last answer and the connections."""
        view = self.dash.fleet.station(self.station)
        self.sub_title = self.station
        value, sub, style = speed_line(view)
        self.query_one("#speed", Tile).show(value, sub, style)
        self.query_one("#speed", Tile).set_class(bool(view.value("cap_limiting")), "capped")
        self.query_one("#pace", Tile).show(pace_line(view))
        self.query_one("#distance", Tile).show(f"{view.value('distance_m') or 0} m")
        incline = view.value("incline_pct")
        self.query_one("#incline", Tile).show(f"{incline:.1f} %" if incline is not None else "–")
        hr_style, hr_sub = zone_style(view)
        bpm = view.value("heart_rate_bpm")
        self.query_one("#hr", Tile).show(f"{bpm} bpm" if bpm else "–", hr_sub, hr_style)
        energy = view.value("energy_kcal")
        console = view.value("treadmill_energy_kcal")
        method = view.value("energy_method") or ""
        shown = console if console is not None else "–"
        self.query_one("#energy", Tile).show(
            f"{energy or 0:.0f} kcal", f"{method} · console {shown}"
        )
        self.query_one("#elapsed", Tile).show(clock(view.value("elapsed_s")))
        self.query_one("#remaining", Tile).show(*_remaining(view))
        self.query_one(DirectionBanner).show(view)
        self.query_one(Charts).show(view, self.size.width // 2 - 4)
        self.query_one(Timeline).show(view, rows=7 if self.size.height >= 34 else 2)
        self.query_one(Alerts).show(view)
        self.query_one(Connections).show(view, self.dash.broker_up, self.dash.broker_text)
        self._show_result(view.results)

    def _show_result(self, results: dict[str, CommandResultPayload]) -> None:
        pending = self.dash.pending.get(self.station)
        if pending is None:
            return
        command_id, label = pending
        line = self.query_one("#result", Static)
        answer = results.get(command_id)
        if answer is None:
            line.update(f"{label} … waiting for the gateway")
            line.set_class(False, "refused")
            return
        ok = answer.ok
        line.set_class(not ok, "refused")
        detail = answer.applied if ok else answer.error
        line.update(f"{label}: {'ok' if ok else 'REFUSED'} — {detail}")

    async def action_command(self, cmd: str, value: float | str | None = None) -> None:
        if cmd not in COMMAND_NAMES:  # a binding naming no command of the contract
            raise ValueError(f"no command {cmd!r} in the MQTT contract")
        await self.dash.send(self.station, cast(CommandName, cmd), value)

    async def action_speed(self, delta: float) -> None:
        # Two presses before the gateway's next state are two steps, not one: the
        # base is what this screen last asked for, until the state has caught up.
        view = self.dash.fleet.station(self.station)
        base = view.value("target_kmh") or view.value("speed_kmh") or 0.0
        asked = self.asked_kmh
        if asked is not None and time.monotonic() - asked[1] < ASK_FRESH_S:
            base = asked[0]
        wanted = round(max(0.0, base + delta), 1)
        self.asked_kmh = (wanted, time.monotonic())
        await self.dash.send(self.station, "set_speed", wanted)

    async def action_incline(self, delta: float) -> None:
        view = self.dash.fleet.station(self.station)
        base = view.value("incline_pct") or 0.0
        await self.dash.send(self.station, "set_incline", round(base + delta, 1))

    async def action_flip(self) -> None:
        view = self.dash.fleet.station(self.station)
        other = "forward" if view.direction == "backward" else "backward"
        await self.dash.send(self.station, "set_direction", other)

    def action_runner(self) -> None:
        self.dash.open_runner(self.station)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()


def _remaining(view: StationView) -> tuple[str, str]:
    segments, seg = view.segments, view.segment
    if not segments or seg is None:
        return "–", "no plan"
    rest = segments[seg.index + 1 :]
    time_left = (seg.left_s or 0) + sum(
        s.duration_s or (s.distance_m or 0) / (s.speed_kmh / 3.6) for s in rest
    )
    return clock(time_left), f"{len(rest)} more segment{'s' if len(rest) != 1 else ''}"


HELP = """\
[b]Keys[/b]

  s        start / resume           space  EMERGENCY STOP
  p        pause                    x      stop
  + / -    speed ± 0.5 km/h         ] / [  incline ± 0.5 %
  f        flip direction           n      next segment
  r        runner view (big; r again to leave)
  enter    open a station           esc    back to all stations
  ctrl+t   light / dark theme       ?      this help
  q        quit

Every key sends a command to the gateway; its governor decides.
The line above the footer shows the answer, and why a command
was refused.
"""


class HelpScreen(ModalScreen[None]):
    """The keys, and what they do."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        yield Static(HELP, id="help")
