"""``retrogate sessions`` and ``retrogate export`` as a runner types them."""

from __future__ import annotations

import re
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from gateway.cli import main
from gateway.store.db import SessionStore
from gateway.store.timeline import summarize

from .store_helpers import fill


def test_sessions_and_export_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RETROGATE_DATA_DIR", str(tmp_path))
    store = SessionStore.in_dir(tmp_path)
    session, _ = store.open_session("gw", "lane-1", "Retro-running intervals", 600)
    fill(store, session, 60)
    assert store.mean_heart_rate(session) == pytest.approx(sum(range(101, 161)) / 60)
    store.close()
    assert main(["sessions"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert "lane-1" in line
    assert "118 m" in line  # last minus first, as in every export
    assert "130" in line  # mean HR
    assert "(live)" in line  # never ended
    target = tmp_path / "out.csv"
    assert main(["export", str(session), "--format", "csv", "-o", str(target)]) == 0
    assert len(target.read_text().splitlines()) == 61
    assert main(["export", "99", "--format", "csv"]) == 1
    assert "no session 99" in capsys.readouterr().err


def _stored(tmp_path: Path, *ages_days: float, live: bool = False) -> list[int]:
    """Sessions that started ``ages_days`` ago (ended unless ``live``)."""
    store = SessionStore.in_dir(tmp_path)
    ids = []
    for n, days in enumerate(ages_days):
        session, _ = store.open_session("gw", f"lane-{n}", None, 0)
        fill(store, session, 30)
        started = time.time() - days * 86_400
        store._db.execute(
            "UPDATE sessions SET started=?, last_ts=? WHERE id=?", (started, started + 30, session)
        )
        if not live:
            store.end_session(session, started + 30)
        ids.append(session)
    store.close()
    return ids


@pytest.mark.slow  # matplotlib for the SVG
def test_show_gives_totals_backward_laps_and_a_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RETROGATE_DATA_DIR", str(tmp_path))
    store = SessionStore.in_dir(tmp_path)
    session, _ = store.open_session("gw", "lane-1", "intervals", 600)
    fill(store, session, 60)  # forward, then backward from half-way (segment events)
    store.close()
    svg = tmp_path / "chart.svg"
    assert main(["sessions", "show", str(session), "--svg", str(svg)]) == 0
    out = capsys.readouterr().out
    assert "backward 62 m" in out  # 2 m a second for the second half (31 records)
    assert "safety    none" in out
    assert "minutes" in out  # the terminal chart's axis
    laps = [m.group(1) for m in re.finditer(r"^\s+\d+\s+(forward|backward)\s", out, re.M)]
    assert laps == ["forward", "backward"]
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")


def test_prune_deletes_only_old_ended_sessions_after_saying_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RETROGATE_DATA_DIR", str(tmp_path))
    old, recent = _stored(tmp_path, 120, 10)
    (live_old,) = _stored(tmp_path, 200, live=True)
    monkeypatch.setattr("builtins.input", lambda _: "n")
    assert main(["sessions", "prune", "--older-than", "90d"]) == 1
    out = capsys.readouterr().out
    assert "1 sessions" in out
    assert "nothing deleted" in out
    assert main(["sessions", "prune", "--older-than", "90d", "--yes"]) == 0
    store = SessionStore.in_dir(tmp_path)
    remaining = {info.id for info in store.sessions()}
    store.close()
    assert remaining == {recent, live_old}  # a live session is never pruned
    assert old not in remaining


def test_prune_refuses_an_age_it_cannot_read_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["sessions", "prune", "--older-than", "90x"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("expected an age like 90d, 12w or 36h, not '90x'")


def test_an_ended_sessions_totals_are_kept_after_the_first_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Listing years of sessions must not re-read every record each time."""
    monkeypatch.setenv("RETROGATE_DATA_DIR", str(tmp_path))
    (ended,) = _stored(tmp_path, 1)
    assert main(["sessions"]) == 0
    first = capsys.readouterr().out
    store = SessionStore.in_dir(tmp_path)
    kept = store.cached(ended, "totals")
    assert kept is not None
    assert kept["distance_m"] == summarize(store.points(ended)).distance_m
    # Blank the records: a list that re-read them would now say 0 m.
    store._db.execute(
        "UPDATE samples SET payload='{}' WHERE session=? AND stream='telemetry'", (ended,)
    )
    store.close()
    assert main(["sessions"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == first.splitlines()[1:]


def test_the_coach_reads_an_ended_sessions_records_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like the list: the coach must not re-read years of records every time it is asked."""
    monkeypatch.setenv("RETROGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RETROGATE_PLANS_DIR", str(tmp_path / "plans"))
    (ended,) = _stored(tmp_path, 1)
    assert main(["coach"]) == 0
    first = capsys.readouterr().out
    assert "last session" in first  # the stored session has a backward stretch
    store = SessionStore.in_dir(tmp_path)
    store._db.execute(  # a coach that re-read the records would now see no stretch at all
        "UPDATE samples SET payload='{}' WHERE session=? AND stream='telemetry'", (ended,)
    )
    store.close()
    assert main(["coach"]) == 0
    assert capsys.readouterr().out == first
