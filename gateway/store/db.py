"""The SQLite session store (WAL): sessions, numbered streams, events, acks.

Streams (``telemetry``, ``heart_rate``) hold the exact JSON that goes on the
wire, keyed by ``seq``; replaying after an outage is a range read.

Durability, chosen on purpose for a Raspberry Pi's SD card: WAL with
``synchronous=NORMAL`` commits without an fsync (an fsync per 4 Hz batch
costs 10-50 ms on an SD card, and wears it), and the recorder calls
:meth:`SessionStore.checkpoint` every few seconds, which fsyncs the WAL. A
power cut therefore loses at most the last seconds since that checkpoint,
never the file's integrity, and the acknowledgements roll back with the
samples, so the outbox re-sends rather than skips. docs/mqtt.md says this
for users.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from ..errors import RetrogateError

Stream = Literal["telemetry", "heart_rate"]
STREAMS: tuple[Stream, ...] = ("telemetry", "heart_rate")
FILENAME = "sessions.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    gateway TEXT NOT NULL,
    station TEXT NOT NULL,
    started REAL NOT NULL,
    last_ts REAL NOT NULL,
    ended REAL,
    plan TEXT
);
CREATE TABLE IF NOT EXISTS samples (
    session INTEGER NOT NULL REFERENCES sessions(id),
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts REAL NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (session, stream, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    session INTEGER NOT NULL REFERENCES sessions(id),
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_session ON events(session, ts);
DROP TABLE IF EXISTS summaries;  -- a cache, keyed by session only: replaced by ``derived``
CREATE TABLE IF NOT EXISTS derived (
    session INTEGER NOT NULL REFERENCES sessions(id),
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (session, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    session INTEGER NOT NULL REFERENCES sessions(id),
    service TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL,
    remote_id TEXT,
    link TEXT,
    message TEXT,
    updated REAL NOT NULL,
    PRIMARY KEY (session, service)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS acks (
    session INTEGER NOT NULL REFERENCES sessions(id),
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (session, stream)
) WITHOUT ROWID;
"""


_INFO = (
    "SELECT s.id, s.gateway, s.station, s.started, s.last_ts, s.ended, s.plan, "
    "(SELECT count(*) FROM samples WHERE session=s.id AND stream='telemetry'), "
    "(SELECT count(*) FROM samples WHERE session=s.id AND stream='heart_rate') "
    "FROM sessions s"
)


class StoreError(RetrogateError):
    """The session store cannot be opened or read (the message says which file)."""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One row of ``retrogate sessions``."""

    id: int
    gateway: str
    station: str
    started: float
    last_ts: float
    ended: float | None
    plan: str | None
    records: int
    heart_rates: int


@dataclass(frozen=True, slots=True)
class Sample:
    """One stored stream message."""

    seq: int
    ts: float
    payload: str


class SessionSource(Protocol):
    """What the exports, reports and the coach read: one gateway's store, or the
    site's archive in PostgreSQL (``gateway.archive.reader``)."""

    @property
    def path(self) -> Path | str:
        """Where it is, for messages."""

    def close(self) -> None:
        """Done reading."""

    def sessions(self) -> list[SessionInfo]:
        """Every session, newest first."""

    def session(self, session: int) -> SessionInfo:
        """One session, or StoreError."""

    def iter_samples(self, session: int, stream: Stream) -> Iterator[Sample]:
        """A stream's messages, in order."""

    def iter_events(self, session: int) -> Iterator[tuple[float, str, str]]:
        """Segment changes, decisions, alerts, in order."""

    def points(
        self, session: int
    ) -> Iterator[tuple[float | None, float | None, float | None, str | None]]:
        """(distance, elapsed, gateway kcal, direction) per record."""

    def mean_heart_rate(self, session: int) -> float | None:
        """The mean heart rate."""

    def cached(self, session: int, kind: str) -> dict[str, Any] | None:
        """Something derived from an ended session, if kept."""

    def keep(self, session: int, kind: str, body: dict[str, Any]) -> None:
        """Keep something derived (a source may decline)."""


class SessionStore:
    """One SQLite file; one connection, used from the event loop's thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{path}: cannot open the session store: {exc}") from exc

    @classmethod
    def in_dir(cls, data_dir: Path) -> SessionStore:
        """The store in the user data directory."""
        return cls(data_dir / FILENAME)

    def close(self) -> None:
        """Checkpoint and close."""
        self._db.close()

    # --- sessions -------------------------------------------------------------------

    def open_session(
        self, gateway: str, station: str, plan: str | None, resume_within_s: float
    ) -> tuple[int, bool]:
        """The session to record into: the station's unfinished one if it was
        active within ``resume_within_s`` (a crash or restart), else a new one.

        Returns (session id, resumed).
        """
        now = time.time()
        row = self._db.execute(
            "SELECT id, last_ts FROM sessions WHERE gateway=? AND station=? AND ended IS NULL "
            "ORDER BY id DESC LIMIT 1",
            (gateway, station),
        ).fetchone()
        if row is not None and now - row[1] <= resume_within_s:
            return int(row[0]), True
        if row is not None:  # abandoned long ago: close it where it stopped
            self._db.execute("UPDATE sessions SET ended=last_ts WHERE id=?", (row[0],))
        cur = self._db.execute(
            "INSERT INTO sessions (gateway, station, started, last_ts, plan) VALUES (?,?,?,?,?)",
            (gateway, station, now, now, plan),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid, False

    def end_session(self, session: int, ts: float) -> None:
        """A clean end: the next start opens a new session."""
        self._db.execute("UPDATE sessions SET ended=? WHERE id=?", (ts, session))

    def set_plan(self, session: int, plan: str | None) -> None:
        """The plan the session runs (a ``load_plan`` command changes it)."""
        self._db.execute("UPDATE sessions SET plan=? WHERE id=?", (plan, session))

    def end_all(self, sessions: Iterable[int], ts: float) -> None:
        """End these sessions where they are not already ended (idempotent)."""
        self._db.executemany(
            "UPDATE sessions SET ended=? WHERE id=? AND ended IS NULL",
            [(ts, sid) for sid in sessions],
        )

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, for the store's own tables kept in sibling modules (uploads)."""
        return self._db

    def checkpoint(self) -> None:
        """A durability point: the WAL is fsynced, so a power cut loses nothing before it.

        On a connection of its own, so it can run in a worker thread (an fsync
        on an SD card takes tens of milliseconds) without holding the one the
        event loop writes and reads with; PASSIVE never blocks that writer.
        """
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def last_segment(self, session: int) -> tuple[str, int] | None:
        """The plan and the segment index the session was last in (to resume after a crash)."""
        row = self._db.execute(
            "SELECT s.plan, json_extract(e.payload, '$.index') FROM events e "
            "JOIN sessions s ON s.id = e.session WHERE e.session=? AND e.kind='segment' "
            "ORDER BY e.ts DESC, e.rowid DESC LIMIT 1",
            (session,),
        ).fetchone()
        if row is None or row[0] is None or row[1] is None:
            return None
        return str(row[0]), int(row[1])

    def last_speed(self, session: int) -> tuple[float, float] | None:
        """When the session's last telemetry was taken (wall clock) and the belt's speed then:
        after a crash, how fast the belt was going when the gateway stopped."""
        row = self._db.execute(
            "SELECT ts, json_extract(payload, '$.speed_kmh') FROM samples "
            "WHERE session=? AND stream='telemetry' ORDER BY seq DESC LIMIT 1",
            (session,),
        ).fetchone()
        if row is None or row[1] is None:
            return None
        return float(row[0]), float(row[1])

    def sessions(self) -> list[SessionInfo]:
        """Every session, newest first, with its sample counts."""
        rows = self._db.execute(_INFO + " ORDER BY s.id DESC").fetchall()
        return [SessionInfo(*row) for row in rows]

    def mean_heart_rate(self, session: int) -> float | None:
        """The session's mean heart rate, averaged in SQLite."""
        row = self._db.execute(
            "SELECT avg(json_extract(payload, '$.heart_rate_bpm')) FROM samples "
            "WHERE session=? AND stream='heart_rate'",
            (session,),
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def points(
        self, session: int
    ) -> Iterator[tuple[float | None, float | None, float | None, str | None]]:
        """(distance, elapsed, gateway kcal, direction) per treadmill record, extracted
        in SQLite so a summary never parses whole payloads."""
        yield from self._db.execute(
            "SELECT json_extract(payload, '$.distance_m'), json_extract(payload, '$.elapsed_s'), "
            "json_extract(payload, '$.gateway_kcal'), json_extract(payload, '$.direction') "
            "FROM samples WHERE session=? AND stream='telemetry' ORDER BY seq",
            (session,),
        )

    def ended_before(self, ts: float) -> list[SessionInfo]:
        """Sessions that started before ``ts`` and have ended (a live one is never pruned)."""
        return [info for info in self.sessions() if info.ended is not None and info.started < ts]

    def delete(self, sessions: list[int]) -> None:
        """Delete these sessions and everything recorded in them, then give the space back."""
        marks = ",".join("?" * len(sessions))
        with self._transaction():
            for table in ("samples", "events", "acks", "derived", "uploads"):
                self._db.execute(f"DELETE FROM {table} WHERE session IN ({marks})", sessions)
            self._db.execute(f"DELETE FROM sessions WHERE id IN ({marks})", sessions)
        self._db.execute("VACUUM")

    def cached(self, session: int, kind: str) -> dict[str, Any] | None:
        """What was derived from an ended session (its totals, the coach's facts), if kept."""
        row = self._db.execute(
            "SELECT body FROM derived WHERE session=? AND kind=?", (session, kind)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def keep(self, session: int, kind: str, body: dict[str, Any]) -> None:
        """Keep something derived from an ended session: it never changes again, and a
        store that holds years of sessions must not be re-read for every listing or advice."""
        self._db.execute(
            "INSERT OR REPLACE INTO derived (session, kind, body) VALUES (?, ?, ?)",
            (session, kind, json.dumps(body)),
        )

    def size_bytes(self) -> int:
        """The store's size on disk (the database and its write-ahead log)."""
        wal = self.path.with_name(self.path.name + "-wal")
        return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    def session(self, session: int) -> SessionInfo:
        """One session (one row, not every session: MQTT asks at each connect and each
        replay), or StoreError naming what exists."""
        row = self._db.execute(_INFO + " WHERE s.id=?", (session,)).fetchone()
        if row is not None:
            return SessionInfo(*row)
        raise StoreError(f"no session {session} in {self.path} (`retrogate sessions` lists them)")

    # --- writing --------------------------------------------------------------------

    def write(
        self,
        samples: Iterable[tuple[int, Stream, Sample]],
        events: Iterable[tuple[int, float, str, str]],
        acks: Iterable[tuple[int, Stream, int]],
    ) -> None:
        """One transaction: samples, events, acknowledged seqs, and last activity."""
        samples = list(samples)
        events = list(events)
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO samples VALUES (?,?,?,?,?)",
                [(sid, stream, s.seq, s.ts, s.payload) for sid, stream, s in samples],
            )
            self._db.executemany("INSERT INTO events VALUES (?,?,?,?)", events)
            self._db.executemany(
                "INSERT INTO acks VALUES (?,?,?) ON CONFLICT(session, stream) "
                "DO UPDATE SET seq=max(seq, excluded.seq)",
                list(acks),
            )
            last: dict[int, float] = {}
            for sid, _, s in samples:
                last[sid] = max(last.get(sid, 0.0), s.ts)
            for sid, ts, _, _ in events:
                last[sid] = max(last.get(sid, 0.0), ts)
            self._db.executemany(
                "UPDATE sessions SET last_ts=max(last_ts, ?) WHERE id=?",
                [(ts, sid) for sid, ts in last.items()],
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    # --- reading --------------------------------------------------------------------

    def last_seq(self, session: int, stream: Stream) -> int:
        """The highest stored seq of a stream (0 if none)."""
        row = self._db.execute(
            "SELECT max(seq) FROM samples WHERE session=? AND stream=?", (session, stream)
        ).fetchone()
        return int(row[0] or 0)

    def acked(self, session: int, stream: Stream) -> int:
        """The highest seq the broker acknowledged (0 if none)."""
        row = self._db.execute(
            "SELECT seq FROM acks WHERE session=? AND stream=?", (session, stream)
        ).fetchone()
        return int(row[0]) if row else 0

    def read(self, session: int, stream: Stream, from_seq: int, limit: int) -> list[Sample]:
        """Stored messages with seq ≥ ``from_seq``, in order."""
        rows = self._db.execute(
            "SELECT seq, ts, payload FROM samples WHERE session=? AND stream=? AND seq>=? "
            "ORDER BY seq LIMIT ?",
            (session, stream, from_seq, limit),
        ).fetchall()
        return [Sample(*row) for row in rows]

    def iter_samples(self, session: int, stream: Stream) -> Iterator[Sample]:
        """Every message of a stream, in order (for exports)."""
        for row in self._db.execute(
            "SELECT seq, ts, payload FROM samples WHERE session=? AND stream=? ORDER BY seq",
            (session, stream),
        ):
            yield Sample(*row)

    def iter_events(self, session: int) -> Iterator[tuple[float, str, str]]:
        """Segment changes, decisions, alerts and results, in order."""
        yield from self._db.execute(
            "SELECT ts, kind, payload FROM events WHERE session=? ORDER BY ts, rowid", (session,)
        )

    def pending(self) -> int:
        """Stored stream messages the broker has not acknowledged (the outbox depth)."""
        row = self._db.execute(
            "SELECT count(*) FROM samples s JOIN sessions x ON x.id=s.session "
            "WHERE x.ended IS NULL AND s.seq > coalesce("
            "(SELECT seq FROM acks a WHERE a.session=s.session AND a.stream=s.stream), 0)"
        ).fetchone()
        return int(row[0])


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
