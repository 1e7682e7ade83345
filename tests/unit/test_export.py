"""Exports read back: CSV by the csv module, TCX as XML, FIT by Garmin's own SDK."""

from __future__ import annotations

import csv
import io
from xml.etree import ElementTree as ET

import pytest
from garmin_fit_sdk import Decoder, Stream

from gateway.store.db import SessionStore
from gateway.store.export import TCX_NS, export

from .store_helpers import fill, store

__all__ = ["store"]  # the fixture


def test_csv_joins_heart_rate_and_direction(store: SessionStore) -> None:
    session, _ = store.open_session("gw", "a", "plan", 600)
    fill(store, session, 60)
    lines = list(csv.DictReader(io.StringIO(export(store, session, "csv").decode())))
    assert len(lines) == 60
    assert lines[0]["heart_rate_bpm"] == ""  # no HR yet at the first record
    assert lines[1]["heart_rate_bpm"] == "101"  # the latest sample before it
    assert lines[10]["direction"] == "forward"
    assert lines[40]["direction"] == "backward"


def test_tcx_has_a_lap_per_segment_with_totals_and_a_trackpoint_per_record(
    store: SessionStore,
) -> None:
    session, _ = store.open_session("gw", "a", None, 600)
    fill(store, session, 60)
    root = ET.fromstring(export(store, session, "tcx"))
    ns = {"t": TCX_NS}
    laps = root.findall("t:Activities/t:Activity/t:Lap", ns)
    assert [lap.findtext("t:DistanceMeters", namespaces=ns) for lap in laps] == ["56.0", "62.0"]
    assert [lap.findtext("t:TotalTimeSeconds", namespaces=ns) for lap in laps] == ["28.0", "31.0"]
    assert [lap.findtext("t:Notes", namespaces=ns) for lap in laps] == [
        "forward 56 m",
        "backward 62 m",
    ]
    points = [p for lap in laps for p in lap.findall("t:Track/t:Trackpoint", ns)]
    assert len(points) == 60
    assert points[-1].findtext("t:HeartRateBpm/t:Value", namespaces=ns) == "159"


def test_fit_decodes_with_garmins_sdk_as_a_treadmill_run(store: SessionStore) -> None:
    session, _ = store.open_session("gw", "a", None, 600)
    fill(store, session, 60)
    messages, errors = Decoder(
        Stream.from_byte_array(bytearray(export(store, session, "fit")))
    ).read()
    assert errors == []
    assert len(messages["record_mesgs"]) == 60
    (summary,) = messages["session_mesgs"]
    assert summary["sport"] == "running"
    assert summary["sub_sport"] == "treadmill"
    assert summary["total_distance"] == pytest.approx(118.0)
    assert messages["record_mesgs"][-1]["heart_rate"] == 159
    assert messages["record_mesgs"][-1]["speed"] == pytest.approx(5.0 / 3.6, abs=1e-3)
