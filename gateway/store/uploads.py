"""The durable upload queue: one row per (session, service), in the session store.

Kept in the same SQLite file as the session it uploads, so a session and the
promise to upload it are never in two places that can disagree after a power
cut. The row is the whole truth of an upload: ``sending`` is written (and
committed) before the file leaves, so a crash in the middle is seen at the
next start and the file is sent again, which the services answer as a
duplicate of the activity they already have (never a second activity).

States: ``queued`` → ``sending`` → (``processing`` →) ``done``; or ``failed``
(the service refused the file, with its own message) or ``unauthorized`` (the
saved authorization no longer works: ``retrogate connect`` queues it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from .db import SessionStore

UploadState = Literal["queued", "sending", "processing", "done", "failed", "unauthorized"]
STATES: tuple[UploadState, ...] = get_args(UploadState)
OPEN: tuple[UploadState, ...] = ("queued", "sending", "processing")  # still to do


@dataclass(frozen=True, slots=True)
class Upload:
    """One session on its way to one service."""

    session: int
    service: str
    state: UploadState
    attempts: int
    next_try: float
    remote_id: str | None  # the service's upload id while it processes the file
    link: str | None  # the activity, once it is one
    message: str | None  # the last reason for a retry, or the service's own refusal
    updated: float

    @property
    def open(self) -> bool:
        """Still to be done (queued, being sent, being processed)."""
        return self.state in OPEN


_COLUMNS = "session, service, state, attempts, next_try, remote_id, link, message, updated"


class UploadQueue:
    """The queue's rows; every change is its own committed statement."""

    def __init__(self, store: SessionStore) -> None:
        self._db = store.db

    def enqueue(self, session: int, service: str, now: float, *, again: bool = False) -> bool:
        """Queue a session for a service; False if it is already queued or done.

        A done upload is never queued again (that would be a second activity);
        ``again`` queues a failed or unauthorized one anew.
        """
        cur = self._db.execute(
            f"INSERT OR IGNORE INTO uploads ({_COLUMNS}) VALUES (?, ?, 'queued', 0, ?, "
            "NULL, NULL, NULL, ?)",
            (session, service, now, now),
        )
        if cur.rowcount:
            return True
        if not again:
            return False
        cur = self._db.execute(
            "UPDATE uploads SET state='queued', attempts=0, next_try=?, message=NULL, updated=? "
            "WHERE session=? AND service=? AND state IN ('failed', 'unauthorized')",
            (now, now, session, service),
        )
        return bool(cur.rowcount)

    def requeue_unauthorized(self, service: str, now: float) -> int:
        """After ``retrogate connect``: every upload that waited for it goes again."""
        cur = self._db.execute(
            "UPDATE uploads SET state='queued', next_try=?, updated=? "
            "WHERE service=? AND state='unauthorized'",
            (now, now, service),
        )
        return cur.rowcount

    def update(
        self,
        upload: Upload,
        state: UploadState,
        now: float,
        *,
        next_try: float | None = None,
        remote_id: str | None = None,
        link: str | None = None,
        message: str | None = None,
        attempt: bool = False,
    ) -> Upload:
        """Move an upload on; returns it as stored."""
        self._db.execute(
            "UPDATE uploads SET state=?, attempts=attempts+?, next_try=?, "
            "remote_id=coalesce(?, remote_id), link=coalesce(?, link), message=?, updated=? "
            "WHERE session=? AND service=?",
            (
                state,
                int(attempt),
                now if next_try is None else next_try,
                remote_id,
                link,
                message,
                now,
                upload.session,
                upload.service,
            ),
        )
        return self.get(upload.session, upload.service)

    def get(self, session: int, service: str) -> Upload:
        """One upload (KeyError if it was never queued)."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM uploads WHERE session=? AND service=?", (session, service)
        ).fetchone()
        if row is None:
            raise KeyError((session, service))
        return Upload(*row)

    def due(self, now: float) -> list[Upload]:
        """Open uploads whose time has come, oldest promise first."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM uploads WHERE state IN ('queued', 'sending', 'processing') "
            "AND next_try <= ? ORDER BY next_try, session",
            (now,),
        ).fetchall()
        return [Upload(*row) for row in rows]

    def next_try(self) -> float | None:
        """When the earliest open upload is due (None: nothing to do)."""
        row = self._db.execute(
            "SELECT min(next_try) FROM uploads WHERE state IN ('queued', 'sending', 'processing')"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def of_sessions(self, sessions: list[int] | None = None) -> dict[int, list[Upload]]:
        """Every upload, by session (of these sessions only, if given)."""
        if sessions is None:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM uploads ORDER BY session, service")
        else:
            marks = ",".join("?" * len(sessions))
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM uploads WHERE session IN ({marks}) "
                "ORDER BY session, service",
                sessions,
            )
        out: dict[int, list[Upload]] = {}
        for row in rows:
            upload = Upload(*row)
            out.setdefault(upload.session, []).append(upload)
        return out
