"""A recorded session as a runner means it: totals that survive counter resets,
heart rate only where there was one, and a lap per segment or direction.

Pure: stored rows in, rows and laps out. Every export (CSV, TCX, FIT) and
``retrogate sessions show`` are built from this one reading, so they agree
with each other.

Treadmills reset their distance, time and energy counters on stop, on a
safety-key pull and on reconnect; the gateway's own energy estimate restarts
with the gateway. Each counter is read as an odometer: a step forward adds,
a drop to a small value is a reset (what follows counts from zero), and a
small step back is jitter, ignored.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..safety.actions import ROUTINE
from ..safety.limits import hr_zone

HR_MAX_AGE_S = 5.0  # a heart-rate reading older than this is no reading (a gap stays a gap)
WALK_BELOW_KMH = 6.5  # a session (or lap) averaging less was walked, not run


@dataclass(slots=True)
class Odometer:
    """A session total from a counter that resets."""

    jitter: float  # a step back smaller than this is noise, not a reset
    total: float = 0.0
    last: float | None = None

    def feed(self, value: float | None) -> float:
        """The total after this reading (unchanged when the reading is missing)."""
        if value is None:
            return self.total
        if self.last is None:
            self.last = value  # the first reading is the baseline
        elif value >= self.last:
            self.total += value - self.last
            self.last = value
        elif value < self.last - self.jitter:
            self.total += value  # reset: counted again from zero
            self.last = value
        return self.total


def _odometers() -> tuple[Odometer, Odometer, Odometer]:
    """Distance (m), time (s) and energy (kcal): the same jitter for every reader."""
    return Odometer(jitter=5.0), Odometer(jitter=2.0), Odometer(jitter=1.0)


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored message: its time and its JSON (as the store hands it out)."""

    ts: float
    seq: int
    payload: str


@dataclass(frozen=True, slots=True)
class Segment:
    """A plan segment starting at ``ts`` (from the session's segment events)."""

    ts: float
    index: int
    direction: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    """One treadmill record of the session, with session totals so far."""

    ts: float
    seq: int
    speed_kmh: float | None
    incline_pct: float | None
    distance_m: float  # since the session started, across counter resets
    time_s: float  # the treadmill's running time, across resets
    energy_kcal: float | None  # the gateway's estimate so far, across gateway restarts
    energy_method: str | None
    console_distance_m: int | None  # the treadmill's own counters, as sent
    console_elapsed_s: int | None
    console_energy_kcal: int | None
    heart_rate_bpm: int | None  # at most HR_MAX_AGE_S old; None in a gap
    direction: str  # the governor's, when the record arrived
    segment: int | None
    planned: str | None  # the segment's direction (None in free mode)
    note: str


def read_rows(
    telemetry: Iterable[Stored], heart_rate: Iterable[Stored], segments: list[Segment]
) -> Iterator[Row]:
    """The session's records joined with heart rate and segment, with odometer totals."""
    beats = iter(heart_rate)
    next_hr = next(beats, None)
    hr: tuple[float, int] | None = None
    distance, time, energy = _odometers()
    seg_i, seg = 0, None
    for sample in telemetry:
        data = json.loads(sample.payload)
        while next_hr is not None and next_hr.ts <= sample.ts:
            bpm = json.loads(next_hr.payload).get("heart_rate_bpm")
            hr = (next_hr.ts, bpm) if bpm else None
            next_hr = next(beats, None)
        while seg_i < len(segments) and segments[seg_i].ts <= sample.ts:
            seg = segments[seg_i]
            seg_i += 1
        bpm = data.get("heart_rate_bpm")  # a receiver in the console, in the record itself
        if not bpm and hr is not None and sample.ts - hr[0] <= HR_MAX_AGE_S:
            bpm = hr[1]
        gateway_kcal = data.get("gateway_kcal")
        yield Row(
            ts=sample.ts,
            seq=sample.seq,
            speed_kmh=data.get("speed_kmh"),
            incline_pct=data.get("incline_pct"),
            distance_m=distance.feed(data.get("distance_m")),
            time_s=time.feed(data.get("elapsed_s")),
            energy_kcal=energy.feed(gateway_kcal) if gateway_kcal is not None else None,
            energy_method=data.get("energy_method"),
            console_distance_m=data.get("distance_m"),
            console_elapsed_s=data.get("elapsed_s"),
            console_energy_kcal=data.get("energy_kcal"),
            heart_rate_bpm=bpm or None,
            direction=data.get("direction") or (seg.direction if seg else "forward"),
            segment=seg.index if seg is not None else None,
            planned=seg.direction if seg is not None else None,
            note=seg.note if seg is not None else "",
        )


def segments_of(events: Iterable[tuple[float, str, str]]) -> list[Segment]:
    """The segment changes among a session's events."""
    out = []
    for ts, kind, body in events:
        if kind != "segment":
            continue
        data = json.loads(body)
        out.append(Segment(ts, int(data.get("index", 0)), data["direction"], data.get("note", "")))
    return out


@dataclass(frozen=True, slots=True)
class Totals:
    """What a stretch of the session (a lap, or the whole) adds up to."""

    start: float
    end: float
    distance_m: float
    time_s: float
    energy_kcal: float | None
    avg_speed_kmh: float | None
    max_speed_kmh: float | None
    avg_hr: int | None
    max_hr: int | None
    direction: str
    segment: int | None
    note: str

    @property
    def walked(self) -> bool:
        """Walked rather than run: by the average speed (WALK_BELOW_KMH)."""
        return (self.avg_speed_kmh or 0.0) < WALK_BELOW_KMH

    @property
    def name(self) -> str:
        """What a runner calls it: "backward 50 m", with the plan's note."""
        what = f"{self.direction} {self.distance_m:.0f} m"
        return f"{what} · {self.note}" if self.note else what


def totals(rows: list[Row], before: Row | None = None) -> Totals:
    """The totals of ``rows``, counted from ``before`` (the last row of what came before)."""
    first, last = rows[0], rows[-1]
    base = before or first
    distance = last.distance_m - base.distance_m
    time = last.time_s - base.time_s
    energy = None
    if last.energy_kcal is not None:
        energy = last.energy_kcal - (base.energy_kcal or 0.0)
    speeds = [r.speed_kmh for r in rows if r.speed_kmh is not None]
    beats = [r.heart_rate_bpm for r in rows if r.heart_rate_bpm]
    return Totals(
        start=(before or first).ts,
        end=last.ts,
        distance_m=distance,
        time_s=time,
        energy_kcal=energy,
        avg_speed_kmh=distance / time * 3.6 if time > 0 else None,
        max_speed_kmh=max(speeds) if speeds else None,
        avg_hr=round(sum(beats) / len(beats)) if beats else None,
        max_hr=max(beats) if beats else None,
        direction=first.planned
        or max(("forward", "backward"), key=lambda d: sum(1 for r in rows if r.direction == d)),
        segment=first.segment,
        note=first.note,
    )


def laps_with_rows(rows: list[Row]) -> list[tuple[Totals, list[Row]]]:
    """One lap per plan segment, and per direction change in free mode, with its rows;
    the laps add up exactly to the session (each counts from the last row before it)."""
    out: list[tuple[Totals, list[Row]]] = []
    start = 0

    def key(row: Row) -> object:
        return row.segment if row.segment is not None else row.direction

    for i in range(1, len(rows) + 1):
        if i == len(rows) or key(rows[i]) != key(rows[start]):
            here = rows[start:i]
            out.append((totals(here, rows[start - 1] if start else None), here))
            start = i
    return out


def laps(rows: list[Row]) -> list[Totals]:
    """The laps' totals (see ``laps_with_rows``)."""
    return [lap for lap, _ in laps_with_rows(rows)]


@dataclass(frozen=True, slots=True)
class Summary:
    """A session in one line of ``retrogate sessions``."""

    distance_m: float
    time_s: float
    energy_kcal: float | None
    backward_m: float
    backward_s: float
    mean_hr: float | None = None

    @classmethod
    def of(cls, kept: dict[str, float | None]) -> Summary:
        """From what ``dataclasses.asdict`` kept in the store."""
        return cls(
            distance_m=kept.get("distance_m") or 0.0,
            time_s=kept.get("time_s") or 0.0,
            energy_kcal=kept.get("energy_kcal"),
            backward_m=kept.get("backward_m") or 0.0,
            backward_s=kept.get("backward_s") or 0.0,
            mean_hr=kept.get("mean_hr"),
        )


def summarize(
    points: Iterable[tuple[float | None, float | None, float | None, str | None]],
) -> Summary:
    """(distance, elapsed, gateway kcal, direction) per record -> the session's totals,
    counted by the same odometers as the exports (so the list and the files agree)."""
    distance, time, energy = _odometers()
    back_m = back_s = 0.0
    kcal: float | None = None
    for d, t, k, direction in points:
        before_m, before_s = distance.total, time.total
        distance.feed(d)
        time.feed(t)
        if k is not None:
            kcal = energy.feed(k)
        if direction == "backward":
            back_m += distance.total - before_m
            back_s += time.total - before_s
    return Summary(distance.total, time.total, kcal, back_m, back_s)


def report(title: str, data: list[Row], decisions: list[str], hr_max: float) -> list[str]:
    """``retrogate sessions show``: the session in lines a runner reads."""
    if not data:
        return [title, "  no treadmill records"]
    whole = totals(data)
    found = laps(data)
    back = [lap for lap in found if lap.direction == "backward"]
    back_m = sum(lap.distance_m for lap in back)
    back_s = sum(lap.time_s for lap in back)
    method = next((r.energy_method for r in reversed(data) if r.energy_method), None)
    lines = [
        title,
        f"  distance  {whole.distance_m:7.0f} m   forward {whole.distance_m - back_m:.0f} m, "
        f"backward {back_m:.0f} m",
        f"  time      {_clock(whole.time_s):>9}   forward {_clock(whole.time_s - back_s)}, "
        f"backward {_clock(back_s)}",
    ]
    if whole.energy_kcal is not None:
        lines.append(
            f"  energy    {whole.energy_kcal:7.0f} kcal ({method}, the gateway's estimate)"
        )
    if whole.avg_hr:
        lines.append(f"  heart     avg {whole.avg_hr} bpm, max {whole.max_hr} bpm")
        seconds = [0.0] * 6
        for a, b in itertools.pairwise(data):
            if a.heart_rate_bpm:
                seconds[hr_zone(a.heart_rate_bpm, hr_max)] += b.ts - a.ts
        zones = ", ".join(f"z{z} {_clock(seconds[z])}" for z in range(1, 6) if seconds[z] >= 1)
        lines.append(f"  zones     {zones or '-'}  (HRmax {hr_max:.0f})")
    counted: dict[str, int] = {}
    for rule in decisions:
        if rule not in ROUTINE:
            counted[rule] = counted.get(rule, 0) + 1
    safety = ", ".join(f"{rule} {n}" for rule, n in sorted(counted.items())) or "none"
    lines.append(f"  safety    {safety}")
    lines.append("  laps")
    for i, lap in enumerate(found, start=1):
        speed = f"{lap.avg_speed_kmh:.1f} km/h" if lap.avg_speed_kmh is not None else "-"
        hr = f"{lap.avg_hr} bpm" if lap.avg_hr else "-"
        lines.append(
            f"  {i:3}  {lap.direction:8} {lap.distance_m:6.0f} m {_clock(lap.time_s):>8} "
            f"{speed:>9} {hr:>8}  {lap.note}"
        )
    return lines


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return (
        f"{minutes // 60}:{minutes % 60:02}:{secs:02}" if minutes >= 60 else f"{minutes}:{secs:02}"
    )
