"""``retrogate sessions`` and ``retrogate export`` as a runner types them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.store.db import SessionStore

from .store_helpers import fill


def test_sessions_and_export_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RETROGATE_DATA_DIR", str(tmp_path))
    store = SessionStore.in_dir(tmp_path)
    session, _ = store.open_session("gw", "lane-1", "Retro-running intervals", 600)
    fill(store, session, 60)
    assert store.summary(session)[1] == pytest.approx(sum(range(101, 161)) / 60)
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
