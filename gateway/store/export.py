"""Exporting a recorded session: CSV for spreadsheets, TCX and FIT for Strava/Garmin.

FIT is written with Garmin's own SDK (``garmin-fit-sdk``), never by hand.
Every format is built from the same rows: one per treadmill record, with the
latest heart rate and the direction of the segment it fell in.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from garmin_fit_sdk import Encoder, Profile

from .db import SessionInfo, SessionStore
from .formats import Format


@dataclass(frozen=True, slots=True)
class Row:
    """One moment of the session."""

    ts: float
    seq: int
    speed_kmh: float | None
    distance_m: float | None
    incline_pct: float | None
    elapsed_s: int | None
    energy_kcal: int | None
    heart_rate_bpm: int | None
    direction: str


def rows(store: SessionStore, session: int) -> Iterator[Row]:
    """The session's treadmill records joined with heart rate and direction."""
    heart = iter(store.iter_samples(session, "heart_rate"))
    segments = [
        (ts, json.loads(body)["direction"])
        for ts, kind, body in store.iter_events(session)
        if kind == "segment"
    ]
    next_hr = next(heart, None)
    bpm: int | None = None
    direction, seg_i = "forward", 0
    for sample in store.iter_samples(session, "telemetry"):
        data = json.loads(sample.payload)
        while next_hr is not None and next_hr.ts <= sample.ts:
            bpm = json.loads(next_hr.payload)["heart_rate_bpm"]
            next_hr = next(heart, None)
        while seg_i < len(segments) and segments[seg_i][0] <= sample.ts:
            direction = segments[seg_i][1]
            seg_i += 1
        yield Row(
            ts=sample.ts,
            seq=sample.seq,
            speed_kmh=data.get("speed_kmh"),
            distance_m=data.get("distance_m"),
            incline_pct=data.get("incline_pct"),
            elapsed_s=data.get("elapsed_s"),
            energy_kcal=data.get("energy_kcal"),
            heart_rate_bpm=data.get("heart_rate_bpm") or bpm,
            direction=data.get("direction", direction),
        )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def to_csv(data: list[Row]) -> bytes:
    """One line per treadmill record, with a header."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "time",
            "seq",
            "elapsed_s",
            "speed_kmh",
            "distance_m",
            "incline_pct",
            "heart_rate_bpm",
            "energy_kcal",
            "direction",
        ]
    )
    for r in data:
        writer.writerow(
            [
                _iso(r.ts),
                r.seq,
                r.elapsed_s,
                r.speed_kmh,
                r.distance_m,
                r.incline_pct,
                r.heart_rate_bpm,
                r.energy_kcal,
                r.direction,
            ]
        )
    return out.getvalue().encode()


TCX_NS = "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
TPX_NS = "http://www.garmin.com/xmlschemas/ActivityExtension/v2"


def _sub(parent: ET.Element, tag: str, text: object | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{TCX_NS}}}{tag}")
    if text is not None:
        element.text = str(text)
    return element


def _totals(data: list[Row]) -> tuple[float, float, int]:
    first, last = data[0], data[-1]
    seconds = last.ts - first.ts
    distance = (last.distance_m or 0) - (first.distance_m or 0)
    calories = max(0, (last.energy_kcal or 0) - (first.energy_kcal or 0))
    return seconds, max(0.0, distance), calories


def to_tcx(info: SessionInfo, data: list[Row]) -> bytes:
    """A Garmin Training Center file: one lap, a trackpoint per record (no GPS)."""
    ET.register_namespace("", TCX_NS)
    ET.register_namespace("tpx", TPX_NS)
    root = ET.Element(f"{{{TCX_NS}}}TrainingCenterDatabase")
    activity = _sub(_sub(root, "Activities"), "Activity")
    activity.set("Sport", "Running")
    _sub(activity, "Id", _iso(data[0].ts if data else info.started))
    lap = _sub(activity, "Lap")
    lap.set("StartTime", _iso(data[0].ts if data else info.started))
    seconds, distance, calories = _totals(data) if data else (0.0, 0.0, 0)
    _sub(lap, "TotalTimeSeconds", f"{seconds:.1f}")
    _sub(lap, "DistanceMeters", f"{distance:.1f}")
    _sub(lap, "Calories", calories)
    _sub(lap, "Intensity", "Active")
    _sub(lap, "TriggerMethod", "Manual")
    track = _sub(lap, "Track")
    start_m = data[0].distance_m or 0 if data else 0
    for r in data:
        point = _sub(track, "Trackpoint")
        _sub(point, "Time", _iso(r.ts))
        if r.distance_m is not None:
            _sub(point, "DistanceMeters", f"{r.distance_m - start_m:.1f}")
        if r.heart_rate_bpm:
            _sub(_sub(point, "HeartRateBpm"), "Value", r.heart_rate_bpm)
        if r.speed_kmh is not None:
            ext = _sub(point, "Extensions")
            tpx = ET.SubElement(ext, f"{{{TPX_NS}}}TPX")
            ET.SubElement(tpx, f"{{{TPX_NS}}}Speed").text = f"{r.speed_kmh / 3.6:.3f}"
    _sub(activity, "Notes", f"retrogate session {info.id} on {info.station}")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + bytes(ET.tostring(root, encoding="utf-8"))


def to_fit(info: SessionInfo, data: list[Row]) -> bytes:
    """A FIT activity (treadmill running) with a record per treadmill record."""
    mesg: dict[str, int] = Profile["mesg_num"]
    start = datetime.fromtimestamp(data[0].ts if data else info.started, UTC)
    encoder = Encoder()
    encoder.on_mesg(
        mesg["FILE_ID"],
        {"type": "activity", "manufacturer": "development", "product": 1, "time_created": start},
    )
    encoder.on_mesg(mesg["EVENT"], {"timestamp": start, "event": "timer", "event_type": "start"})
    start_m = data[0].distance_m or 0 if data else 0
    for r in data:
        record: dict[str, object] = {"timestamp": datetime.fromtimestamp(r.ts, UTC)}
        if r.distance_m is not None:
            record["distance"] = float(r.distance_m - start_m)
        if r.speed_kmh is not None:
            record["speed"] = r.speed_kmh / 3.6
        if r.heart_rate_bpm:
            record["heart_rate"] = r.heart_rate_bpm
        encoder.on_mesg(mesg["RECORD"], record)
    seconds, distance, calories = _totals(data) if data else (0.0, 0.0, 0)
    end = datetime.fromtimestamp(data[-1].ts if data else info.started, UTC)
    encoder.on_mesg(mesg["EVENT"], {"timestamp": end, "event": "timer", "event_type": "stop"})
    totals = {
        "timestamp": end,
        "start_time": start,
        "total_elapsed_time": seconds,
        "total_timer_time": seconds,
        "total_distance": distance,
        "total_calories": calories,
    }
    encoder.on_mesg(mesg["LAP"], {**totals, "sport": "running", "sub_sport": "treadmill"})
    encoder.on_mesg(
        mesg["SESSION"],
        {
            **totals,
            "sport": "running",
            "sub_sport": "treadmill",
            "num_laps": 1,
            "first_lap_index": 0,
        },
    )
    encoder.on_mesg(
        mesg["ACTIVITY"],
        {"timestamp": end, "total_timer_time": seconds, "num_sessions": 1, "type": "manual"},
    )
    return bytes(encoder.close())


def export(store: SessionStore, session: int, fmt: Format) -> bytes:
    """The session in ``fmt``."""
    info = store.session(session)
    data = list(rows(store, session))
    if fmt == "csv":
        return to_csv(data)
    if fmt == "tcx":
        return to_tcx(info, data)
    return to_fit(info, data)
