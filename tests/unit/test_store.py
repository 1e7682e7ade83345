"""The session store on disk: sessions, resume after a crash, acks, exports."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from garmin_fit_sdk import Decoder, Stream

from gateway.store.db import Sample, SessionStore, StoreError
from gateway.store.export import TCX_NS, export


def _telemetry(seq: int, ts: float, speed: float, distance: int) -> Sample:
    body = {"v": 1, "seq": seq, "ts": ts, "speed_kmh": speed, "distance_m": distance}
    body |= {"elapsed_s": seq, "energy_kcal": seq // 10}
    return Sample(seq, ts, json.dumps(body))


def _hr(seq: int, ts: float, bpm: int) -> Sample:
    return Sample(seq, ts, json.dumps({"v": 1, "seq": seq, "ts": ts, "heart_rate_bpm": bpm}))


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:  # type: ignore[misc]
    opened = SessionStore(tmp_path / "s.sqlite3")
    yield opened
    opened.close()


def _fill(store: SessionStore, session: int, n: int = 60) -> float:
    t0 = time.time() - n
    store.write(
        [(session, "telemetry", _telemetry(i, t0 + i, 5.0, i * 2)) for i in range(1, n + 1)]
        + [(session, "heart_rate", _hr(i, t0 + i + 0.5, 100 + i)) for i in range(1, n + 1)],
        [
            (session, t0 + 0.5, "segment", json.dumps({"direction": "forward"})),
            (session, t0 + n / 2, "segment", json.dumps({"direction": "backward"})),
        ],
        [],
    )
    return t0


def test_a_crashed_session_is_resumed_and_an_ended_one_is_not(store: SessionStore) -> None:
    first, resumed = store.open_session("gw", "a", None, resume_within_s=600)
    assert not resumed
    again, resumed = store.open_session("gw", "a", None, resume_within_s=600)
    assert (again, resumed) == (first, True)  # never ended: a restart continues it
    other, _ = store.open_session("gw", "b", None, resume_within_s=600)
    assert other != first
    store.end_session(first, time.time())
    fresh, resumed = store.open_session("gw", "a", None, resume_within_s=600)
    assert fresh != first
    assert not resumed


def test_a_resumed_session_knows_its_plan_and_segment(store: SessionStore) -> None:
    """What a restarted gateway resumes from (SAFETY.md 12): the last segment recorded."""
    session, _ = store.open_session("gw", "a", "intervals", resume_within_s=600)
    assert store.last_segment(session) is None
    now = time.time()
    events = [
        (session, now, "segment", json.dumps({"index": 0, "direction": "forward"})),
        (session, now + 60, "segment", json.dumps({"index": 1, "direction": "backward"})),
        (session, now + 61, "alert", json.dumps({"code": "turned"})),
    ]
    store.write([], events, [])
    assert store.last_segment(session) == ("intervals", 1)


def test_an_old_unfinished_session_is_closed_not_resumed(store: SessionStore) -> None:
    old, _ = store.open_session("gw", "a", None, resume_within_s=600)
    store.write([(old, "telemetry", _telemetry(1, time.time() - 7200, 1.0, 0))], [], [])
    new, resumed = store.open_session("gw", "a", None, resume_within_s=0)
    assert new != old
    assert not resumed
    assert store.session(old).ended is not None


def test_reads_acks_and_the_outbox_depth(store: SessionStore) -> None:
    session, _ = store.open_session("gw", "a", None, 600)
    _fill(store, session, 50)
    assert store.last_seq(session, "telemetry") == 50
    assert [s.seq for s in store.read(session, "telemetry", 48, 10)] == [48, 49, 50]
    assert store.pending() == 100
    store.write([], [], [(session, "telemetry", 40), (session, "heart_rate", 50)])
    store.write([], [], [(session, "telemetry", 30)])  # an older ack never goes back
    assert store.acked(session, "telemetry") == 40
    assert store.pending() == 10
    # Writing the same seq twice (a replay after restart) keeps one row.
    store.write([(session, "telemetry", _telemetry(50, time.time(), 9.0, 0))], [], [])
    assert store.session(session).records == 50


def test_a_missing_session_names_the_file(store: SessionStore) -> None:
    with pytest.raises(StoreError, match=r"no session 7 in .*s\.sqlite3"):
        store.session(7)


def test_an_unwritable_store_says_which_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot open the session store"):
        SessionStore(blocker / "sub" / "s.sqlite3")


def test_csv_joins_heart_rate_and_direction(store: SessionStore) -> None:
    session, _ = store.open_session("gw", "a", "plan", 600)
    _fill(store, session, 60)
    lines = list(csv.DictReader(io.StringIO(export(store, session, "csv").decode())))
    assert len(lines) == 60
    assert lines[0]["heart_rate_bpm"] == ""  # no HR yet at the first record
    assert lines[1]["heart_rate_bpm"] == "101"  # the latest sample before it
    assert lines[10]["direction"] == "forward"
    assert lines[40]["direction"] == "backward"


def test_tcx_has_a_lap_with_totals_and_a_trackpoint_per_record(store: SessionStore) -> None:
    session, _ = store.open_session("gw", "a", None, 600)
    _fill(store, session, 60)
    root = ET.fromstring(export(store, session, "tcx"))
    ns = {"t": TCX_NS}
    lap = root.find("t:Activities/t:Activity/t:Lap", ns)
    assert lap is not None
    assert lap.findtext("t:DistanceMeters", namespaces=ns) == "118.0"
    assert lap.findtext("t:TotalTimeSeconds", namespaces=ns) == "59.0"
    points = lap.findall("t:Track/t:Trackpoint", ns)
    assert len(points) == 60
    assert points[-1].findtext("t:HeartRateBpm/t:Value", namespaces=ns) == "159"


def test_fit_decodes_with_garmins_sdk_as_a_treadmill_run(store: SessionStore) -> None:
    session, _ = store.open_session("gw", "a", None, 600)
    _fill(store, session, 60)
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


def test_sessions_and_export_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli import main

    monkeypatch.setenv("RETROGATE_DATA_DIR", str(tmp_path))
    store = SessionStore.in_dir(tmp_path)
    session, _ = store.open_session("gw", "lane-1", "Retro-running intervals", 600)
    _fill(store, session, 60)
    assert store.summary(session)[1] == pytest.approx(sum(range(101, 161)) / 60)
    store.close()
    assert main(["sessions"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert "lane-1" in line
    assert "120 m" in line
    assert "130" in line  # mean HR
    assert "(live)" in line  # never ended
    target = tmp_path / "out.csv"
    assert main(["export", str(session), "--format", "csv", "-o", str(target)]) == 0
    assert len(target.read_text().splitlines()) == 61
    assert main(["export", "99", "--format", "csv"]) == 1
    assert "no session 99" in capsys.readouterr().err


def test_a_checkpoint_moves_committed_samples_into_the_database_file(store: SessionStore) -> None:
    """The durability point: after it, the samples are in the main file, not only the WAL."""
    session, _ = store.open_session("gw", "a", None, 600)
    store.write([(session, "telemetry", _telemetry(1, time.time(), 1.0, 0))], [], [])
    before = store.path.stat().st_size
    store.checkpoint()
    assert store.path.stat().st_size > before
    assert store.last_seq(session, "telemetry") == 1
