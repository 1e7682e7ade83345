"""The session store on disk: sessions, resume after a crash, acks, durability."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gateway.store.db import SessionStore, StoreError

from .store_helpers import fill, store, telemetry

__all__ = ["store"]  # the fixture


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
    store.write([(old, "telemetry", telemetry(1, time.time() - 7200, 1.0, 0))], [], [])
    new, resumed = store.open_session("gw", "a", None, resume_within_s=0)
    assert new != old
    assert not resumed
    assert store.session(old).ended is not None


def test_reads_acks_and_the_outbox_depth(store: SessionStore) -> None:
    session, _ = store.open_session("gw", "a", None, 600)
    fill(store, session, 50)
    assert store.last_seq(session, "telemetry") == 50
    assert [s.seq for s in store.read(session, "telemetry", 48, 10)] == [48, 49, 50]
    assert store.pending() == 100
    store.write([], [], [(session, "telemetry", 40), (session, "heart_rate", 50)])
    store.write([], [], [(session, "telemetry", 30)])  # an older ack never goes back
    assert store.acked(session, "telemetry") == 40
    assert store.pending() == 10
    # Writing the same seq twice (a replay after restart) keeps one row.
    store.write([(session, "telemetry", telemetry(50, time.time(), 9.0, 0))], [], [])
    assert store.session(session).records == 50


def test_a_missing_session_names_the_file(store: SessionStore) -> None:
    with pytest.raises(StoreError, match=r"no session 7 in .*s\.sqlite3"):
        store.session(7)


def test_an_unwritable_store_says_which_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot open the session store"):
        SessionStore(blocker / "sub" / "s.sqlite3")


def test_a_checkpoint_moves_committed_samples_into_the_database_file(store: SessionStore) -> None:
    """The durability point: after it, the samples are in the main file, not only the WAL."""
    session, _ = store.open_session("gw", "a", None, 600)
    store.write([(session, "telemetry", telemetry(1, time.time(), 1.0, 0))], [], [])
    before = store.path.stat().st_size
    store.checkpoint()
    assert store.path.stat().st_size > before
    assert store.last_seq(session, "telemetry") == 1
