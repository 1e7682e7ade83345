"""The archive read like a session store: ``sessions``, ``export``, ``show``, the coach.

The commands read a :class:`~gateway.store.db.SessionStore` through a handful
of methods; this class offers the same ones over PostgreSQL, so every export
and report works from the archive as it does from one gateway's file. A
session's number here is the archive's own ``id`` (one gateway's session 3
and another's session 3 are two sessions of the site).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg

from ..store.db import Sample, SessionInfo, StoreError, Stream
from .db import ArchiveError, safe_url

_INFO = """
SELECT s.id, s.gateway, s.station, extract(epoch FROM s.started)::float8,
       extract(epoch FROM s.last_ts)::float8, extract(epoch FROM s.ended)::float8, s.plan,
       (SELECT count(*) FROM archive_samples x WHERE x.gateway = s.gateway
          AND x.station = s.station AND x.session = s.session AND x.stream = 'telemetry'),
       (SELECT count(*) FROM archive_samples x WHERE x.gateway = s.gateway
          AND x.station = s.station AND x.session = s.session AND x.stream = 'heart_rate')
FROM archive_sessions s
"""
_KEY = "SELECT gateway, station, session FROM archive_sessions WHERE id = %s"


class ArchiveReader:
    """One synchronous connection to the archive, read only."""

    def __init__(self, url: str) -> None:
        self.path = safe_url(url)
        try:
            self._db: psycopg.Connection[tuple[Any, ...]] = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise ArchiveError(f"{self.path}: cannot connect: {exc}".strip()) from exc

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def sessions(self) -> list[SessionInfo]:
        """Every session of every station of every gateway, newest first."""
        rows = self._db.execute(_INFO + " ORDER BY s.id DESC").fetchall()
        return [SessionInfo(*row) for row in rows]

    def session(self, session: int) -> SessionInfo:
        """One session, or StoreError naming what exists."""
        row = self._db.execute(_INFO + " WHERE s.id = %s", (session,)).fetchone()
        if row is None:
            raise StoreError(f"no session {session} in {self.path} (`retrogate sessions --db` "
                             "lists them)")  # fmt: skip
        return SessionInfo(*row)

    def _key(self, session: int) -> tuple[str, str, int]:
        row = self._db.execute(_KEY, (session,)).fetchone()
        if row is None:
            raise StoreError(f"no session {session} in {self.path}")
        return str(row[0]), str(row[1]), int(row[2])

    def iter_samples(self, session: int, stream: Stream) -> Iterator[Sample]:
        """Every message of a stream, in order."""
        key = self._key(session)
        for seq, ts, payload in self._db.execute(
            "SELECT seq, extract(epoch FROM ts)::float8, payload::text FROM archive_samples "
            "WHERE gateway = %s AND station = %s AND session = %s AND stream = %s ORDER BY seq",
            (*key, stream),
        ):
            yield Sample(int(seq), float(ts), str(payload))

    def iter_events(self, session: int) -> Iterator[tuple[float, str, str]]:
        """Segment changes, decisions and alerts, in order."""
        key = self._key(session)
        for ts, kind, payload in self._db.execute(
            "SELECT extract(epoch FROM ts)::float8, kind, payload::text FROM archive_events "
            "WHERE gateway = %s AND station = %s AND session = %s ORDER BY ts, kind",
            key,
        ):
            yield float(ts), str(kind), str(payload)

    def points(
        self, session: int
    ) -> Iterator[tuple[float | None, float | None, float | None, str | None]]:
        """(distance, elapsed, gateway kcal, direction) per treadmill record."""
        key = self._key(session)
        yield from self._db.execute(
            "SELECT (payload->>'distance_m')::float8, (payload->>'elapsed_s')::float8, "
            "(payload->>'gateway_kcal')::float8, payload->>'direction' FROM archive_samples "
            "WHERE gateway = %s AND station = %s AND session = %s AND stream = 'telemetry' "
            "ORDER BY seq",
            key,
        )

    def mean_heart_rate(self, session: int) -> float | None:
        """The session's mean heart rate."""
        key = self._key(session)
        row = self._db.execute(
            "SELECT avg((payload->>'heart_rate_bpm')::float8) FROM archive_samples "
            "WHERE gateway = %s AND station = %s AND session = %s AND stream = 'heart_rate'",
            key,
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def cached(self, session: int, kind: str) -> dict[str, Any] | None:
        """Nothing is cached in the archive (it is read, not written, by the commands)."""
        return None

    def keep(self, session: int, kind: str, body: dict[str, Any]) -> None:
        """Not kept: the commands never write into the archive."""
