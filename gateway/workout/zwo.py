"""Zwift workout files (.zwo) as retrogate plans: pure, no I/O.

A run workout gives each step's pace as a share of the runner's threshold
pace (``Power="0.85"``: 85 % of threshold speed), so the speeds here come from
``[runner] threshold_pace``. Steps become segments: ``SteadyState`` one,
``IntervalsT`` its repeats, ``Warmup``/``Cooldown``/``Ramp`` a few steps
(at most a minute, or 200 m, each) at the ramp's mid-speeds, since a
treadmill changes speed in steps anyway. ``durationType`` distance makes
``Duration`` metres.

Zwift has no backward running, so a step is backward only when the file
says so (docs/platforms.md): a ``direction="backward"`` attribute (on an
``IntervalsT``, ``OnDirection``/``OffDirection``), or a ``textevent`` whose
message has the word "backward" or "retro" (the step's text in
intervals.icu). A step without a pace (``FreeRide``) is refused: retrogate
needs a speed for the belt.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from ..safety.direction import Direction
from .plan import Plan, PlanError, Segment

MAX_KMH = 20.0
RAMP_PIECE_S = 60.0
RAMP_PIECE_M = 200.0
RAMP_PIECES_MAX = 10
BACKWARD_WORDS = re.compile(r"\b(backwards?|retro)", re.IGNORECASE)
RAMPS = ("Warmup", "Cooldown", "Ramp")
KNOWN = (*RAMPS, "SteadyState", "IntervalsT", "FreeRide", "MaxEffort", "SolidState")


@dataclass(frozen=True, slots=True)
class _Step:
    """One ``<workout>`` child, where it is (for the error messages)."""

    element: ET.Element
    where: str


def _number(step: _Step, name: str, *, positive: bool = True) -> float:
    value = step.element.get(name)
    if value is None:
        raise PlanError(f"{step.where}: {name}: missing (expected a number)")
    try:
        number = float(value)
    except ValueError:
        raise PlanError(f"{step.where}: {name}: expected a number, got {value!r}") from None
    if not math.isfinite(number) or (positive and number <= 0):
        raise PlanError(f"{step.where}: {name}: expected a number above 0, got {value!r}")
    return number


def _direction(step: _Step, attribute: str, texts: list[str]) -> Direction:
    said = (step.element.get(attribute) or "").strip().lower()
    if said in ("backward", "forward"):
        return Direction(said)
    if said:
        raise PlanError(f"{step.where}: {attribute}: expected backward or forward, got {said!r}")
    return Direction.BACKWARD if any(BACKWARD_WORDS.search(t) for t in texts) else Direction.FORWARD


def _texts(step: _Step, start: float = 0.0, end: float = math.inf) -> list[str]:
    """The messages of the step's text events between two offsets."""
    found = []
    for event in step.element.iter("textevent"):
        offset = float(event.get("timeoffset") or 0)
        if start <= offset < end:
            found.append(event.get("message") or "")
    return found


class _Builder:
    def __init__(self, threshold_kmh: float, by_distance: bool) -> None:
        self.threshold_kmh = threshold_kmh
        self.by_distance = by_distance
        self.segments: list[Segment] = []

    def speed(self, step: _Step, share: float, attribute: str) -> float:
        kmh = round(share * self.threshold_kmh, 1)
        if not 0 < kmh <= MAX_KMH:
            raise PlanError(
                f"{step.where}: {attribute}: {share:g} x your threshold "
                f"{self.threshold_kmh:.1f} km/h is {kmh:g} km/h (expected above 0 and at most "
                f"{MAX_KMH:g} km/h)"
            )
        return kmh

    def add(self, step: _Step, direction: Direction, kmh: float, amount: float, note: str) -> None:
        end = {"distance_m": amount} if self.by_distance else {"duration_s": amount}
        try:
            self.segments.append(Segment(direction=direction, speed_kmh=kmh, note=note[:80], **end))
        except ValueError as exc:
            raise PlanError(f"{step.where}: {exc}") from None

    def steady(self, step: _Step) -> None:
        texts = _texts(step)
        kmh = self.speed(step, _number(step, "Power"), "Power")
        direction = _direction(step, "direction", texts)
        self.add(step, direction, kmh, _number(step, "Duration"), texts[0] if texts else "")

    def ramp(self, step: _Step, kind: str) -> None:
        amount = _number(step, "Duration")
        low = _number(step, "PowerLow")
        high = _number(step, "PowerHigh")
        piece = RAMP_PIECE_M if self.by_distance else RAMP_PIECE_S
        pieces = max(1, min(RAMP_PIECES_MAX, math.ceil(amount / piece)))
        texts = _texts(step)
        direction = _direction(step, "direction", texts)
        label = texts[0] if texts else {"Warmup": "Warm-up", "Cooldown": "Cool-down"}.get(kind, "")
        for i in range(pieces):
            share = low + (high - low) * (i + 0.5) / pieces
            kmh = self.speed(step, share, "PowerLow" if i == 0 else "PowerHigh")
            self.add(step, direction, kmh, amount / pieces, label if i == 0 else "")

    def intervals(self, step: _Step) -> None:
        repeat = _number(step, "Repeat")
        if repeat != int(repeat) or repeat > 100:
            raise PlanError(f"{step.where}: Repeat: expected a whole number of at most 100")
        on_s, off_s = _number(step, "OnDuration"), _number(step, "OffDuration")
        on_kmh = self.speed(step, _number(step, "OnPower"), "OnPower")
        off_kmh = self.speed(step, _number(step, "OffPower"), "OffPower")
        on_texts, off_texts = _texts(step, 0, on_s), _texts(step, on_s, on_s + off_s)
        on_dir = _direction(step, "OnDirection", on_texts)
        off_dir = _direction(step, "OffDirection", off_texts)
        for i in range(int(repeat)):
            self.add(step, on_dir, on_kmh, on_s, f"{i + 1}/{int(repeat)} " + (on_texts or [""])[0])
            self.add(step, off_dir, off_kmh, off_s, (off_texts or ["recover"])[0])


def plan_from_zwo(text: bytes | str, origin: str, threshold_kmh: float | None) -> Plan:
    """A plan from a .zwo file; PlanError names the file, the element and what was expected."""
    if threshold_kmh is None:
        raise PlanError(
            f"{origin}: a .zwo gives paces as a share of your threshold pace: set it first, "
            'in [runner] threshold_pace = "5:00" (minutes per km)'
        )
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise PlanError(f"{origin}: not a workout file (XML error: {exc})") from None
    if root.tag != "workout_file":
        raise PlanError(f"{origin}: <{root.tag}>: expected a <workout_file> (a Zwift .zwo)")
    sport = (root.findtext("sportType") or "").strip().lower()
    if sport and sport != "run":
        raise PlanError(f"{origin}: sportType: expected run, got {sport!r} (a {sport} workout)")
    duration_type = (root.findtext("durationType") or "time").strip().lower()
    if duration_type not in ("time", "distance"):
        raise PlanError(f"{origin}: durationType: expected time or distance, got {duration_type!r}")
    body = root.find("workout")
    if body is None or len(body) == 0:
        raise PlanError(f"{origin}: <workout>: missing or empty (expected its steps)")
    build = _Builder(threshold_kmh, duration_type == "distance")
    counts: dict[str, int] = {}
    for element in body:
        tag = element.tag
        counts[tag] = counts.get(tag, 0) + 1
        step = _Step(element, f"{origin}: workout/{tag}[{counts[tag]}]")
        if tag in RAMPS:
            build.ramp(step, tag)
        elif tag in ("SteadyState", "SolidState"):
            build.steady(step)
        elif tag == "IntervalsT":
            build.intervals(step)
        elif tag in KNOWN:
            raise PlanError(f"{step.where}: has no pace: retrogate needs a speed for the belt "
                            "(use a SteadyState)")  # fmt: skip
        else:
            raise PlanError(f"{step.where}: unknown step (expected one of {', '.join(KNOWN)})")
    name = (root.findtext("name") or "").strip() or origin.rsplit("/", 1)[-1].removesuffix(".zwo")
    try:
        return Plan(
            name=name[:80],
            description=(root.findtext("description") or "").strip(),
            segments=tuple(build.segments),
        )
    except ValueError as exc:
        raise PlanError(f"{origin}: {exc}") from None
