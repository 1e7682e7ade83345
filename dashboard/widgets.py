"""The dashboard's widgets: tiles, the direction banner, timeline, alerts, connections.

Each renders from a :class:`StationView`; none does I/O.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Sparkline, Static

from gateway.safety.limits import hr_zone

from .model import StationView, clock, pace


class KeysFooter(Footer):
    """Textual's footer, kept up to date while the app has no focus.

    Textual's Footer ignores binding changes while the app is blurred, and a
    browser tab (``dashboard --web``) or a terminal nobody has clicked is
    blurred from the start: a station screen opened then showed an empty last
    row, without the EMERGENCY STOP key (seen in headless Chromium).
    """

    def bindings_changed(self, screen: Screen[object]) -> None:
        super().bindings_changed(screen)
        if not self.app.app_focus and self.is_attached and screen is self.screen:
            self.call_after_refresh(self.recompose)


class Quiet(Static):
    """A Static that repaints only when what it shows changed (4 Hz redraws stay cheap)."""

    _shown: object = None

    def put(self, content: Text | str) -> None:
        """Show ``content`` unless it is already shown."""
        key = content.markup if isinstance(content, Text) else content
        if key != self._shown:
            self._shown = key
            self.update(content)


ZONE_STYLE = {0: "dim", 1: "grey70", 2: "cyan", 3: "green", 4: "yellow", 5: "bold red"}


class Tile(Quiet):
    """A labelled big number with a line under it."""

    def __init__(self, label: str, *, id: str) -> None:
        super().__init__(id=id, classes="tile")
        self.label = label
        self.border_title = label

    def show(self, value: str, sub: str = "", style: str = "") -> None:
        """Set what the tile says; a sub line too wide loses its last " · " parts, not letters."""
        text = Text(value, style=f"bold {style}".strip())
        if sub:
            text.append("\n" + fit(sub, self.content_size.width), style=style or "dim")
        self.put(text)


def fit(line: str, width: int) -> str:
    """``line`` without as many trailing " · " parts as it takes to fit ``width`` (0: unknown)."""
    parts = line.split(" · ")
    while width and len(parts) > 1 and len(" · ".join(parts)) > width:
        parts.pop()
    return " · ".join(parts)


class DirectionBanner(Quiet):
    """FORWARD or BACKWARD, impossible to miss."""

    def show(self, view: StationView) -> None:
        """Big arrows and colour by direction; countdowns under it."""
        backward = view.direction == "backward"
        self.set_class(backward, "backward")
        self.set_class(not backward, "forward")
        word = "◀◀  BACKWARD  ◀◀" if backward else "FORWARD  ▶▶"
        seg = view.segment
        lines = [word]
        if view.countdown and view.value("phase") in ("turning", "dwell"):
            lines[0] = f"{word}   ·   {view.countdown.upper()}"
        if seg is not None:
            left, left_m = seg.left_s, seg.left_m
            until = f"{clock(left)} left" if left is not None else f"{left_m or 0:.0f} m left"
            line = " · ".join(
                part for part in (f"segment {seg.index + 1}/{seg.count}", until, seg.note) if part
            )
            turn = _next_turn(view)
            lines.append(f"{line} · {turn}" if turn else line)
        else:
            lines.append("free run (no plan)")
        self.put("\n".join(lines))


def _next_turn(view: StationView) -> str:
    """When the runner turns around next (the moment that needs attention)."""
    seg = view.segment
    index = seg.index if seg is not None else -1
    here = view.direction
    for later in view.segments[index + 1 :]:
        if later.direction != here and seg is not None:
            if seg.left_s is not None:
                return f"turnaround to {later.direction} in {clock(seg.left_s)}"
            return f"turnaround to {later.direction} in {seg.left_m or 0:.0f} m"
        break
    return ""


class Timeline(Quiet):
    """Done, current and next segments of the plan."""

    def show(self, view: StationView, rows: int = 7) -> None:
        """One line per segment around the current one (``rows`` of them), never wrapped."""
        segments = view.segments
        if not segments:
            self.put(Text("No plan: free run. Load one with load_plan.", style="dim"))
            return
        current = view.segment.index if view.segment is not None else -1
        text = Text(no_wrap=True, overflow="ellipsis")
        start = max(0, min(current - (rows - 1) // 3, len(segments) - rows))
        unit = " km/h" if self.content_size.width >= 44 else ""
        for i, seg in enumerate(segments[start : start + rows], start=start):
            mark, style = (
                ("✓", "dim") if i < current else ("▶", "bold") if i == current else (" ", "")
            )
            arrow = "◀◀" if seg.direction == "backward" else "▶▶"
            end = f"{seg.distance_m:.0f} m" if seg.distance_m else clock(seg.duration_s)
            colour = " orange1" if seg.direction == "backward" else ""
            text.append(
                f"{mark} {i + 1:2} {arrow} {seg.speed_kmh:4.1f}{unit} {end:>6}  {seg.note}\n",
                style=(style + colour).strip(),
            )
        text.rstrip()
        self.put(text)


class Alerts(Quiet):
    """Every governor intervention and alert, newest first."""

    def show(self, view: StationView, rows: int = 8) -> None:
        """The latest alerts with their time."""
        if not view.alerts:
            self.put(Text("No interventions yet.", style="dim"))
            return
        text = Text()
        styles = {"danger": "bold red", "warning": "yellow", "info": "", "rule": "dim"}
        for alert in list(view.alerts)[-rows:][::-1]:
            stamp = time.strftime("%H:%M:%S", time.localtime(alert.ts))
            text.append(f"{stamp} {alert.text}\n", style=styles.get(alert.level, ""))
        self.put(text)


class Connections(Quiet):
    """Treadmill, HR strap and broker: up or down, and the age of the last sample."""

    def show(self, view: StationView | None, broker_up: bool, broker_text: str) -> None:
        """One line of coloured dots."""
        text = Text()

        def dot(name: str, up: bool, detail: str = "") -> None:
            text.append("● " if up else "○ ", style="green" if up else "bold red")
            text.append(f"{name}{detail}   ")

        dot("broker", broker_up, f" {broker_text}" if broker_text else "")
        if view is not None:
            dot("treadmill", view.treadmill_online)
            dot("HR strap", view.hrm_online)
            if view.last_sample is not None:
                text.append(f"last sample {time.time() - view.last_sample:.0f} s ago", style="dim")
            went = upload_line(view)
            if went:
                text.append(f"   {went}", style="bold red" if "FAILED" in went else "")
        self.put(text)


def upload_line(view: StationView) -> str:
    """Where the last session went (the gateway's uploads), or nothing."""
    upload = view.value("upload")
    return f"last session → {upload}" if upload else ""


class Charts(Vertical):
    """Speed and heart rate over the session, with backward stretches marked."""

    def compose(self) -> ComposeResult:
        yield Static("speed km/h", classes="chart-label")
        yield Sparkline([], id="speed-chart")
        yield Quiet("", id="backward-strip")
        yield Static("heart rate", classes="chart-label")
        yield Sparkline([], id="hr-chart")

    def show(self, view: StationView, width: int) -> None:
        """The last ``width`` samples of each series."""
        width = max(10, width)
        for selector, series in (("#speed-chart", view.speed), ("#hr-chart", view.heart_rate)):
            chart = self.query_one(selector, Sparkline)
            data = list(series)[-width:]
            if selector == "#speed-chart" and data:
                # A sparkline scales from its smallest value: anchor speed at 0, or a
                # steady 5 km/h is drawn as the lowest bar. The zero shares the first
                # column (each column shows its bucket's maximum).
                data = [0.0, *data]
            if chart.data != data:
                chart.data = data
        marks = list(view.backward)[-width:]
        self.query_one("#backward-strip", Quiet).put(
            Text("".join("◀" if b else "·" for b in marks), style="orange1")
        )


def zone_style(view: StationView) -> tuple[str, str]:
    """(style, label) for the HR tile."""
    bpm = view.value("heart_rate_bpm")
    hr_max = float(view.value("hr_max_bpm") or 180)
    zone = hr_zone(bpm, hr_max)
    if view.state is not None and view.state.hr_source is None:
        return "bold red", "no HR source: HR protections OFF"
    if not bpm:
        return "dim", "no HR"
    target = hr_target_line(view)
    if target:
        return ZONE_STYLE[zone], f"{target} · zone {zone}"
    return ZONE_STYLE[zone], f"zone {zone} · {bpm / hr_max * 100:.0f} % of max"


def hr_target_line(view: StationView) -> str:
    """A heart-rate segment's range and where the runner is: "120-130 ✓", "120-130 ↑" (below)."""
    target = view.value("hr_target_bpm")
    if not target:
        return ""
    low, high = target
    bpm = view.value("heart_rate_bpm")
    mark = "✓" if view.value("hr_in_range") else "↑" if bpm and bpm < low else "↓"
    return f"{low}-{high} {mark}"


def watch_line(view: StationView) -> str:
    """Watch mode's permanent banner: the cap is not enforced, and what to set by hand."""
    if view.value("control") != "none":
        return ""
    seg = view.segment
    segments = view.segments
    by_hand = ""
    if seg is not None and not seg.finished and 0 <= seg.index < len(segments):
        wanted = segments[seg.index].speed_kmh
        if seg.direction == "backward":
            wanted = min(wanted, float(view.value("cap_kmh") or wanted))
        by_hand = f": set {wanted:.1f} km/h by hand"
    return f"WATCH MODE, cap NOT enforced{by_hand}"


def speed_line(view: StationView) -> tuple[str, str, str]:
    """(value, sub line, style) for the speed tile."""
    speed = view.value("speed_kmh")
    target = view.value("target_kmh")
    cap = view.value("cap_kmh")
    value = f"{speed:.1f} km/h" if speed is not None else "–"
    watch = watch_line(view)
    if watch:
        return value, watch, "bold red"
    sub = f"target {target:.1f}" if target is not None else "target –"
    if view.value("app"):
        sub += f" · app {view.value('app')}"  # an app on the bridge: its asks are capped too
    if view.value("cap_limiting"):
        return value, f"CAPPED at {cap:.1f} · {sub}", "bold orange1"
    return value, f"{sub} · backward cap {cap:.1f}" if cap is not None else sub, ""


def pace_line(view: StationView) -> str:
    """The pace tile's value."""
    return f"{pace(view.value('speed_kmh'))} /km"
