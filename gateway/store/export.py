"""Exporting a recorded session: CSV for spreadsheets, TCX and FIT for Strava/Garmin.

FIT is written with Garmin's own SDK (``garmin-fit-sdk``), never by hand.
Every format is built from one reading of the session (``timeline.py``):
distance and time that survive the treadmill's counter resets, heart rate
only where there was one, the gateway's energy estimate (the console's stays
in the CSV as its own column), and a lap per plan segment or direction
change, the backward ones named.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from importlib.metadata import version
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from garmin_fit_sdk import Encoder, Profile

if TYPE_CHECKING:
    from garmin_fit_sdk.mesgs import DeveloperDataIdMesg, FieldDescriptionMesg

from .db import SessionInfo, SessionSource
from .formats import Format
from .timeline import Row, Stored, Totals, laps_with_rows, read_rows, segments_of, totals

PRODUCT = "retrogate"
DIRECTION_FIELD = {"backward": 1, "forward": 0}  # the FIT developer field's values


def rows(store: SessionSource, session: int) -> list[Row]:
    """The session's treadmill records, read once for every format."""
    telemetry = (Stored(s.ts, s.seq, s.payload) for s in store.iter_samples(session, "telemetry"))
    beats = (Stored(s.ts, s.seq, s.payload) for s in store.iter_samples(session, "heart_rate"))
    return list(read_rows(telemetry, beats, segments_of(store.iter_events(session))))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


CSV_COLUMNS = (
    "time",
    "seq",
    "time_s",
    "distance_m",
    "speed_kmh",
    "incline_pct",
    "heart_rate_bpm",
    "energy_kcal",
    "energy_method",
    "direction",
    "segment",
    "console_elapsed_s",
    "console_distance_m",
    "console_energy_kcal",
)


def to_csv(data: list[Row]) -> bytes:
    """One line per treadmill record: session totals, then the console's own counters."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in data:
        writer.writerow(
            [
                _iso(r.ts),
                r.seq,
                _num(r.time_s, 0),
                _num(r.distance_m),
                r.speed_kmh,
                r.incline_pct,
                r.heart_rate_bpm or "",
                _num(r.energy_kcal),
                r.energy_method or "",
                r.direction,
                "" if r.segment is None else r.segment + 1,
                r.console_elapsed_s,
                r.console_distance_m,
                r.console_energy_kcal,
            ]
        )
    return out.getvalue().encode()


TCX_NS = "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
TPX_NS = "http://www.garmin.com/xmlschemas/ActivityExtension/v2"
LX_NS = TPX_NS


def _sub(parent: ET.Element, tag: str, text: object | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{TCX_NS}}}{tag}")
    if text is not None:
        element.text = str(text)
    return element


def to_tcx(info: SessionInfo, data: list[Row]) -> bytes:
    """A Garmin Training Center file: a lap per segment, a trackpoint per record (no GPS).

    TCX v2 knows only Running, Biking and Other: a walked session is Other, and
    its notes say so.
    """
    ET.register_namespace("", TCX_NS)
    ET.register_namespace("tpx", TPX_NS)
    root = ET.Element(f"{{{TCX_NS}}}TrainingCenterDatabase")
    activity = _sub(_sub(root, "Activities"), "Activity")
    whole = totals(data) if data else None
    walked = whole is not None and whole.walked
    activity.set("Sport", "Other" if walked else "Running")
    _sub(activity, "Id", _iso(data[0].ts if data else info.started))
    for lap, points in laps_with_rows(data):
        element = _sub(activity, "Lap")
        element.set("StartTime", _iso(lap.start))
        _sub(element, "TotalTimeSeconds", f"{lap.time_s:.1f}")
        _sub(element, "DistanceMeters", f"{lap.distance_m:.1f}")
        if lap.max_speed_kmh is not None:
            _sub(element, "MaximumSpeed", f"{lap.max_speed_kmh / 3.6:.3f}")
        _sub(element, "Calories", round(lap.energy_kcal or 0))
        if lap.avg_hr:
            _sub(_sub(element, "AverageHeartRateBpm"), "Value", lap.avg_hr)
        if lap.max_hr:
            _sub(_sub(element, "MaximumHeartRateBpm"), "Value", lap.max_hr)
        _sub(element, "Intensity", "Active")
        _sub(element, "TriggerMethod", "Manual")
        track = _sub(element, "Track")
        for r in points:
            point = _sub(track, "Trackpoint")
            _sub(point, "Time", _iso(r.ts))
            _sub(point, "DistanceMeters", f"{r.distance_m:.1f}")
            if r.heart_rate_bpm:
                _sub(_sub(point, "HeartRateBpm"), "Value", r.heart_rate_bpm)
            if r.speed_kmh is not None:
                tpx = ET.SubElement(_sub(point, "Extensions"), f"{{{TPX_NS}}}TPX")
                ET.SubElement(tpx, f"{{{TPX_NS}}}Speed").text = f"{r.speed_kmh / 3.6:.3f}"
        _sub(element, "Notes", lap.name)
        if lap.avg_speed_kmh is not None:
            lx = ET.SubElement(_sub(element, "Extensions"), f"{{{LX_NS}}}LX")
            ET.SubElement(lx, f"{{{LX_NS}}}AvgSpeed").text = f"{lap.avg_speed_kmh / 3.6:.3f}"
    kind = "walk" if walked else "run"
    method = next((r.energy_method for r in reversed(data) if r.energy_method), None)
    energy = f"; energy by the gateway ({method})" if method else ""
    notes = f"retrogate treadmill {kind}, session {info.id} on {info.station}{energy}"
    _sub(activity, "Notes", notes)
    creator = _sub(activity, "Creator")
    creator.set("{http://www.w3.org/2001/XMLSchema-instance}type", "Device_t")
    _sub(creator, "Name", PRODUCT)
    _sub(creator, "UnitId", 0)
    _sub(creator, "ProductID", 0)
    major, minor, *_ = [*version("retrogate").split("."), "0", "0"]
    build = _sub(creator, "Version")
    _sub(build, "VersionMajor", int(major))
    _sub(build, "VersionMinor", int(minor))
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + bytes(ET.tostring(root, encoding="utf-8"))


def _fit_totals(t: Totals, start: datetime, end: datetime) -> dict[str, object]:
    out: dict[str, object] = {
        "timestamp": end,
        "start_time": start,
        "total_elapsed_time": max(0.0, (end - start).total_seconds()),
        "total_timer_time": t.time_s,
        "total_distance": t.distance_m,
        "total_calories": round(t.energy_kcal or 0),
    }
    if t.avg_speed_kmh is not None:
        out["avg_speed"] = out["enhanced_avg_speed"] = t.avg_speed_kmh / 3.6
    if t.max_speed_kmh is not None:
        out["max_speed"] = out["enhanced_max_speed"] = t.max_speed_kmh / 3.6
    if t.avg_hr:
        out["avg_heart_rate"] = t.avg_hr
    if t.max_hr:
        out["max_heart_rate"] = t.max_hr
    return out


def _sport(t: Totals) -> dict[str, str]:
    return (
        {"sport": "walking", "sub_sport": "indoor_walking"}
        if t.walked
        else {
            "sport": "running",
            "sub_sport": "treadmill",
        }
    )


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def to_fit(info: SessionInfo, data: list[Row]) -> bytes:
    """A FIT activity: records (with a ``direction`` developer field), a lap per
    segment named by its workout step, and the session with its totals."""
    mesg: dict[str, int] = Profile["mesg_num"]
    start = _at(data[0].ts if data else info.started)
    end = _at(data[-1].ts if data else info.started)
    whole = totals(data) if data else None
    encoder = Encoder()
    encoder.on_mesg(
        mesg["FILE_ID"],
        {
            "type": "activity",
            "manufacturer": "development",
            "product": 1,
            "product_name": PRODUCT,
            "time_created": start,
        },
    )
    encoder.on_mesg(
        mesg["DEVICE_INFO"],
        {
            "timestamp": start,
            "device_index": "creator",
            "manufacturer": "development",
            "product": 1,
            "product_name": PRODUCT,
            "software_version": float(".".join(version("retrogate").split(".")[:2])),
        },
    )
    developer: DeveloperDataIdMesg = {"developer_data_index": 0, "application_version": 1}
    field: FieldDescriptionMesg = {
        "developer_data_index": 0,
        "field_definition_number": 0,
        "fit_base_type_id": 2,  # uint8
        "field_name": "direction",
        "units": "0 forward, 1 backward",
        "native_mesg_num": mesg["RECORD"],
    }
    encoder.on_mesg(mesg["DEVELOPER_DATA_ID"], dict(developer))
    encoder.on_mesg(mesg["FIELD_DESCRIPTION"], dict(field))
    encoder.add_developer_field(0, developer, field)
    pieces = laps_with_rows(data)
    if whole is not None:  # records, so laps
        encoder.on_mesg(
            mesg["WORKOUT"],
            {
                "wkt_name": info.plan or "free run",
                "num_valid_steps": len(pieces),
                **_sport(whole),
            },
        )
        for i, (lap, _) in enumerate(pieces):
            encoder.on_mesg(
                mesg["WORKOUT_STEP"],
                {"message_index": i, "wkt_step_name": lap.name[:50], "intensity": "active"},
            )
    encoder.on_mesg(mesg["EVENT"], {"timestamp": start, "event": "timer", "event_type": "start"})
    for lap_index, (lap, points) in enumerate(pieces):
        for r in points:
            record: dict[str, object] = {
                "timestamp": _at(r.ts),
                "distance": r.distance_m,
                "developer_fields": {0: DIRECTION_FIELD.get(r.direction, 0)},
            }
            if r.speed_kmh is not None:
                record["speed"] = record["enhanced_speed"] = r.speed_kmh / 3.6
            if r.heart_rate_bpm:
                record["heart_rate"] = r.heart_rate_bpm
            encoder.on_mesg(mesg["RECORD"], record)
        encoder.on_mesg(
            mesg["LAP"],
            {
                "message_index": lap_index,
                **_fit_totals(lap, _at(lap.start), _at(lap.end)),
                **_sport(lap),
                "wkt_step_index": lap_index,
                "event": "lap",
                "event_type": "stop",
                "lap_trigger": "manual",
            },
        )
    encoder.on_mesg(mesg["EVENT"], {"timestamp": end, "event": "timer", "event_type": "stop"})
    if whole is not None:
        encoder.on_mesg(
            mesg["SESSION"],
            {
                **_fit_totals(whole, start, end),
                **_sport(whole),
                "num_laps": len(pieces),
                "first_lap_index": 0,
                "event": "session",
                "event_type": "stop",
                "trigger": "activity_end",
            },
        )
    encoder.on_mesg(
        mesg["ACTIVITY"],
        {
            "timestamp": end,
            "total_timer_time": whole.time_s if whole else 0.0,
            "num_sessions": 1 if whole else 0,
            "type": "manual",
            "event": "activity",
            "event_type": "stop",
        },
    )
    return bytes(encoder.close())


def export(store: SessionSource, session: int, fmt: Format) -> bytes:
    """The session in ``fmt``."""
    info = store.session(session)
    data = rows(store, session)
    if fmt == "csv":
        return to_csv(data)
    if fmt == "tcx":
        return to_tcx(info, data)
    return to_fit(info, data)
