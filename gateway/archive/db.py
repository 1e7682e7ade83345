"""The site's archive in PostgreSQL: every gateway's sessions, one schema (docs/gym.md).

Samples and events are partitioned by month (declarative partitions, made
when a month is first seen), so a year of a gym stays quick to query and an
old month is dropped with one statement. Every row has a key that a replayed
message repeats exactly, so a message delivered twice (QoS 1, a gateway's
outbox replay, an archive restarted mid-batch) is a no-op:

* samples: (gateway, station, session, stream, seq, ts)
* events: (gateway, station, kind, ts, digest of the payload)
* sessions: (gateway, station, session), and an ``id`` the commands show.

psycopg 3 (async for the archive, sync for the commands); no SQL is built
from message text: every value is a parameter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from ..errors import RetrogateError

SCHEMA = """
CREATE TABLE IF NOT EXISTS archive_sessions (
    id bigserial UNIQUE,
    gateway text NOT NULL,
    station text NOT NULL,
    session bigint NOT NULL,
    started timestamptz,
    last_ts timestamptz,
    ended timestamptz,
    plan text,
    telemetry_seq bigint NOT NULL DEFAULT 0,
    heart_rate_seq bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (gateway, station, session)
);
CREATE TABLE IF NOT EXISTS archive_samples (
    gateway text NOT NULL,
    station text NOT NULL,
    session bigint NOT NULL,
    stream text NOT NULL,
    seq bigint NOT NULL,
    ts timestamptz NOT NULL,
    payload jsonb NOT NULL,
    archived timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway, station, session, stream, seq, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE IF NOT EXISTS archive_events (
    gateway text NOT NULL,
    station text NOT NULL,
    session bigint NOT NULL,
    ts timestamptz NOT NULL,
    kind text NOT NULL,
    digest text NOT NULL,
    payload jsonb NOT NULL,
    PRIMARY KEY (gateway, station, kind, ts, digest)
) PARTITION BY RANGE (ts);
"""
PARTITIONED = ("archive_samples", "archive_events")


class ArchiveError(RetrogateError):
    """The archive database cannot be reached or used (the message says which)."""


@dataclass(frozen=True, slots=True)
class SampleRow:
    """One treadmill record or heart-rate sample, as the gateway published it."""

    gateway: str
    station: str
    session: int
    stream: str
    seq: int
    ts: float
    payload: str


@dataclass(frozen=True, slots=True)
class EventRow:
    """A decision, an alert or a command's answer."""

    gateway: str
    station: str
    session: int
    ts: float
    kind: str
    payload: str

    @property
    def digest(self) -> str:
        """What makes two deliveries of the same event one row."""
        return hashlib.sha256(self.payload.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session record (retained on ``<station>/session``)."""

    gateway: str
    station: str
    session: int
    started: float
    ended: float | None
    plan: str | None
    telemetry_seq: int = 0  # the last seq the gateway stored: a gap at the tail shows
    heart_rate_seq: int = 0


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _session_params(s: SessionRow) -> tuple[object, ...]:
    ended = None if s.ended is None else _at(s.ended)
    return (s.gateway, s.station, s.session, _at(s.started), _at(s.started), ended, s.plan,
            s.telemetry_seq, s.heart_rate_seq)  # fmt: skip


def month_of(ts: float) -> tuple[int, int]:
    """(year, month) of a timestamp, in UTC: the partition it goes in."""
    when = _at(ts)
    return when.year, when.month


def partition_sql(table: str, year: int, month: int) -> str:
    """The statement that makes a month's partition (idempotent)."""
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    return (
        f"CREATE TABLE IF NOT EXISTS {table}_{year:04}_{month:02} PARTITION OF {table} "
        f"FOR VALUES FROM ('{year:04}-{month:02}-01 00:00+00') "
        f"TO ('{nxt[0]:04}-{nxt[1]:02}-01 00:00+00')"
    )


def safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(an unreadable database URL)"
    host, port = info.get("host", "localhost"), info.get("port", 5432)
    return f"postgresql://{info.get('user', '')}@{host}:{port}/{info.get('dbname', '')}"


class ArchiveWriter:
    """Batched, idempotent writes on one async connection."""

    def __init__(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        self.conn = conn
        self._months: set[tuple[int, int]] = set()
        self.rows = 0

    @classmethod
    async def connect(cls, url: str) -> ArchiveWriter:
        """Connect and make the schema (and the current month's partitions)."""
        try:
            conn = await psycopg.AsyncConnection.connect(url, autocommit=False)
        except psycopg.Error as exc:
            raise ArchiveError(f"{safe_url(url)}: cannot connect: {exc}".strip()) from exc
        writer = cls(conn)
        async with conn.transaction():
            await conn.execute(SCHEMA)
        return writer

    async def close(self) -> None:
        """Close the connection."""
        await self.conn.close()

    async def _partitions(self, stamps: Iterable[float]) -> None:
        months = {month_of(ts) for ts in stamps} - self._months
        for year, month in sorted(months):
            for table in PARTITIONED:
                await self.conn.execute(partition_sql(table, year, month))
        self._months |= months

    async def write(
        self,
        samples: Sequence[SampleRow],
        events: Sequence[EventRow],
        sessions: Sequence[SessionRow],
    ) -> None:
        """One transaction; a row already there is left as it is."""
        async with self.conn.transaction():
            await self._partitions([r.ts for r in samples] + [e.ts for e in events])
            await self.conn.execute("NOTIFY archive_written")  # at the commit: for watchers
            async with self.conn.cursor() as cur:
                if samples:
                    await cur.executemany(
                        "INSERT INTO archive_samples (gateway, station, session, stream, seq, "
                        "ts, payload) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        [
                            (r.gateway, r.station, r.session, r.stream, r.seq, _at(r.ts), r.payload)
                            for r in samples
                        ],
                    )
                    last: dict[tuple[str, str, int], tuple[float, float]] = {}
                    for r in samples:
                        key = (r.gateway, r.station, r.session)
                        low, high = last.get(key, (r.ts, r.ts))
                        last[key] = (min(low, r.ts), max(high, r.ts))
                    await cur.executemany(
                        "INSERT INTO archive_sessions (gateway, station, session, started, "
                        "last_ts) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (gateway, station, "
                        "session) DO UPDATE SET started = least(archive_sessions.started, "
                        "excluded.started), last_ts = greatest(archive_sessions.last_ts, "
                        "excluded.last_ts)",
                        [(g, s, n, _at(lo), _at(hi)) for (g, s, n), (lo, hi) in last.items()],
                    )
                if events:
                    await cur.executemany(
                        "INSERT INTO archive_events (gateway, station, session, ts, kind, "
                        "digest, payload) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT DO NOTHING",
                        [
                            (
                                e.gateway,
                                e.station,
                                e.session,
                                _at(e.ts),
                                e.kind,
                                e.digest,
                                e.payload,
                            )
                            for e in events
                        ],
                    )
                if sessions:
                    await cur.executemany(
                        "INSERT INTO archive_sessions (gateway, station, session, started, "
                        "last_ts, ended, plan, telemetry_seq, heart_rate_seq) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (gateway, station, session) DO UPDATE SET "
                        "started = least(archive_sessions.started, excluded.started), "
                        "ended = coalesce(excluded.ended, archive_sessions.ended), "
                        "plan = coalesce(excluded.plan, archive_sessions.plan), "
                        "telemetry_seq = greatest(archive_sessions.telemetry_seq, "
                        "excluded.telemetry_seq), heart_rate_seq = greatest("
                        "archive_sessions.heart_rate_seq, excluded.heart_rate_seq)",
                        [_session_params(s) for s in sessions],
                    )
        self.rows += len(samples) + len(events)

    async def gaps(self, hours: float = 48.0) -> list[tuple[str, str, int, str, int, int]]:
        """Missing seq ranges of recent sessions, from what is stored: between two rows,
        before the first, and after the last the session record says was stored.
        (gateway, station, session, stream, first missing, last missing)."""
        query = """
        WITH recent AS (
            SELECT gateway, station, session, telemetry_seq, heart_rate_seq
            FROM archive_sessions WHERE last_ts > now() - make_interval(secs => %s)
        ), rows AS (
            SELECT s.gateway, s.station, s.session, s.stream, s.seq,
                   lag(s.seq, 1, 0::bigint) OVER (
                       PARTITION BY s.gateway, s.station, s.session, s.stream ORDER BY s.seq
                   ) AS prev
            FROM archive_samples s JOIN recent r USING (gateway, station, session)
            WHERE s.ts > now() - make_interval(secs => %s)
        ), inner_gaps AS (
            SELECT gateway, station, session, stream, prev + 1 AS lo, seq - 1 AS hi
            FROM rows WHERE seq > prev + 1
        ), tails AS (
            SELECT r.gateway, r.station, r.session, st.stream,
                   coalesce(max(x.seq), 0) + 1 AS lo,
                   CASE st.stream WHEN 'telemetry' THEN r.telemetry_seq
                                  ELSE r.heart_rate_seq END AS hi
            FROM recent r CROSS JOIN (VALUES ('telemetry'), ('heart_rate')) AS st(stream)
            LEFT JOIN rows x ON x.gateway = r.gateway AND x.station = r.station
                 AND x.session = r.session AND x.stream = st.stream
            GROUP BY r.gateway, r.station, r.session, st.stream, r.telemetry_seq,
                     r.heart_rate_seq
        )
        SELECT * FROM inner_gaps UNION ALL SELECT * FROM tails WHERE hi >= lo
        """
        seconds = hours * 3600
        async with self.conn.cursor() as cur:
            await cur.execute(query, (seconds, seconds))
            found = await cur.fetchall()
        await self.conn.commit()
        return [
            (str(g), str(s), int(n), str(st), int(lo), int(hi)) for g, s, n, st, lo, hi in found
        ]
