"""The runner view: readable from three metres, on a screen behind the treadmill.

A runner going backward glances over a shoulder at a tablet or a TV; the
station screen's tiles are too small for that. This view shows only what
matters mid-stride, in Textual's big ``Digits``: the direction as a huge
arrow, the speed, the countdown to the next turnaround, the metres left in a
backward stretch and the heart rate in its zone colour. The whole screen
turns amber while the belt turns around and red on a danger alert, so the
colour says it before the numbers do.
"""

from __future__ import annotations

import re
import time
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.widgets import Digits

from gateway.safety.limits import hr_zone

from .model import StationView, clock
from .screens import StationLive
from .widgets import Quiet, hr_target_line, watch_line

ARROW_LEFT = (
    "      ▄█▀            ",
    "    ▄█████████████████",
    "  ◀███████████████████",
    "    ▀█████████████████",
    "      ▀█▄            ",
)
ARROW_RIGHT = tuple(line[::-1].replace("◀", "▶") for line in ARROW_LEFT)  # ▄ ▀ mirror as is
DANGER_S = 15.0  # a danger alert keeps the screen red this long (or until the halt is lifted)


class Readout(Vertical):
    """A label over a big number."""

    def __init__(self, label: str, *, id: str) -> None:
        super().__init__(id=id, classes="readout")
        self.label = label

    def compose(self) -> ComposeResult:
        yield Quiet(self.label, classes="readout-label")
        yield Digits("–", classes="readout-value")
        yield Quiet("", classes="readout-note")

    def show(self, value: str, note: str = "", label: str | None = None) -> None:
        """Set the number (Digits draws 0-9 . : - only) and the line under it."""
        digits = self.query_one(Digits)
        if digits.value != value:
            digits.update(value)
        self.query_one(".readout-note", Quiet).put(note)
        self.query_one(".readout-label", Quiet).put(label or self.label)


class RunnerScreen(StationLive):
    """Direction, speed, turnaround, metres left, heart rate: big."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r,escape", "back", "Station view"),
    ]

    def __init__(self, station: str) -> None:
        super().__init__(station, name=f"runner-{station}")

    def compose(self) -> ComposeResult:
        yield Quiet("", id="runner-arrow")
        with Grid(id="runner-grid"):
            yield Readout("SPEED km/h", id="runner-speed")
            yield Readout("TURN IN", id="runner-turn")
            yield Readout("METRES LEFT", id="runner-left")
            yield Readout("HEART RATE", id="runner-hr")
        yield Quiet("", id="runner-line")

    def draw(self) -> None:
        """Everything from the station's latest state."""
        view = self.dash.fleet.station(self.station)
        backward = view.direction == "backward"
        phase = view.value("phase")
        self.set_class(phase in ("turning", "dwell"), "turning")
        self.set_class(_danger(view), "danger")
        self.set_class(backward, "backward")
        arrow = ARROW_LEFT if backward else ARROW_RIGHT
        word = "BACKWARD" if backward else "FORWARD"
        self.query_one("#runner-arrow", Quiet).put("\n".join([*arrow, word]))
        speed = view.value("speed_kmh")
        cap = view.value("cap_kmh")
        capped = f"CAPPED at {cap:.1f}" if view.value("cap_limiting") else ""
        watch = watch_line(view)
        self.query_one("#runner-speed", Readout).show(
            f"{speed:.1f}" if speed is not None else "-", watch or capped
        )
        self.query_one("#runner-turn", Readout).show(*_turn(view))
        left = view.value("backward_left_m")
        self.query_one("#runner-left", Readout).show(
            f"{left:.0f}" if left is not None else "-", "" if left is not None else "forward"
        )
        bpm = view.value("heart_rate_bpm")
        zone = hr_zone(bpm, float(view.value("hr_max_bpm") or 180))
        hr = self.query_one("#runner-hr", Readout)
        for n in range(6):
            hr.set_class(n == zone and bool(bpm), f"zone-{n}")
        note = hr_target_line(view) or f"zone {zone}"
        hr.show(str(bpm) if bpm else "-", note if bpm else "no HR")
        seg = view.segment
        line = (
            f"segment {seg.index + 1}/{seg.count} · {seg.note}" if seg is not None else "free run"
        )
        if view.alerts:
            line += f"   ·   {view.alerts[-1].text}"
        if watch:  # permanent: the runner must know the belt is theirs to set
            line = f"{watch}   ·   {line}"
        self.query_one("#runner-line", Quiet).put(line)

    def action_back(self) -> None:
        self.app.pop_screen()


def _turn(view: StationView) -> tuple[str, str, str]:
    """(number, note, label) for the turnaround readout."""
    phase = view.value("phase")
    if phase in ("turning", "dwell"):
        match = re.search(r"\d+", view.countdown or "") if phase == "dwell" else None
        return (match.group() if match else "-"), "slowing down", "TURNING"
    seconds = view.value("next_turn_s")
    if seconds is not None:
        return clock(seconds), "", "TURN IN"
    left, speed = view.value("backward_left_m"), view.value("speed_kmh")
    if left is not None and speed:
        return clock(left / (speed / 3.6)), "at this speed", "TURN IN"
    return "-", "no turn ahead", "TURN IN"


def _danger(view: StationView) -> bool:
    if view.value("phase") == "halted" or view.value("control") == "none":
        return True
    latest = view.alerts[-1] if view.alerts else None
    return latest is not None and latest.level == "danger" and time.time() - latest.ts < DANGER_S
