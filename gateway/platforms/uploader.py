"""The upload worker: takes due uploads from the queue and carries each one step on.

One step per due upload, each step committed before the next request: a
restart (or a crash) anywhere resumes from the row. ``sending`` is written
before the file leaves, so a file that may have arrived is sent again rather
than forgotten; the services recognise it and answer with the activity they
already have. Waiting (backoff, rate limits, polling) lives in the row's
``next_try``, on the wall clock, so it survives a restart too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Protocol

import httpx

from ..config import Settings
from ..store.activity import Activity, activity_of
from ..store.db import SessionStore, StoreError
from ..store.uploads import Upload, UploadQueue, UploadState
from .accounts import SERVICES, TITLES, AccountError, Accounts
from .intervals import Intervals
from .outcome import (
    POLL_S,
    Done,
    Outcome,
    Processing,
    Refused,
    Retry,
    Unauthorized,
    backoff_s,
)
from .strava import Strava

log = logging.getLogger(__name__)

IDLE_S = 60.0  # look at the queue at least this often (a `sessions upload` from another process)
TIMEOUT_S = 60.0  # one request; a FIT file of a long session is a few hundred kB


class Platform(Protocol):
    """A service runs go to."""

    name: str
    title: str

    async def send(self, activity: Activity) -> Outcome: ...

    async def check(self, remote_id: str) -> Outcome: ...


class Uploader:
    """Works the queue: every due upload one step on, until nothing is due."""

    def __init__(
        self,
        store: SessionStore,
        platforms: Mapping[str, Platform],
        *,
        on_change: Callable[[Upload], None] = lambda _: None,
        now: Callable[[], float] = time.time,
        activity: Callable[[SessionStore, int], Activity] = activity_of,
    ) -> None:
        self.store = store
        self.queue = UploadQueue(store)
        self.platforms = platforms
        self.on_change = on_change
        self.now = now
        self._activity = activity
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # the worker and a stopping gateway's settle() share rows

    def wake(self) -> None:
        """Something was queued: look now."""
        self._wake.set()

    async def step(self) -> int:
        """Carry every due upload one step on; returns how many were due."""
        async with self._lock:
            due = self.queue.due(self.now())
            for upload in due:
                try:
                    await self._advance(upload)
                except Exception as exc:  # a bug: this upload fails, said; the others go on
                    log.error("upload of session %d to %s: unexpected error %r",
                              upload.session, upload.service, exc, exc_info=exc)  # fmt: skip
                    message = f"retrogate could not send it ({exc!r}): please report this"
                    self._changed(self.queue.update(upload, "failed", self.now(), message=message))
            return len(due)

    async def _advance(self, upload: Upload) -> None:
        platform = self.platforms.get(upload.service)
        title = TITLES.get(upload.service, upload.service)
        if platform is None:
            message = f"{title} is not connected: run `retrogate connect {upload.service}`"
            self._changed(self.queue.update(upload, "unauthorized", self.now(), message=message))
            return
        if upload.state == "processing" and upload.remote_id:
            outcome = await platform.check(upload.remote_id)
        else:
            try:
                activity = self._activity(self.store, upload.session)
            except StoreError as exc:
                self._changed(self.queue.update(upload, "failed", self.now(), message=str(exc)))
                return
            upload = self.queue.update(upload, "sending", self.now(), attempt=True)
            outcome = await platform.send(activity)
        self._changed(self._apply(upload, outcome))

    def _apply(self, upload: Upload, outcome: Outcome) -> Upload:
        now = self.now()
        match outcome:
            case Done(link, note):
                return self.queue.update(upload, "done", now, link=link, message=note or None)
            case Processing(remote_id):
                return self.queue.update(
                    upload, "processing", now, next_try=now + POLL_S, remote_id=remote_id
                )
            case Retry(reason, after_s):
                wait = after_s if after_s is not None else backoff_s(max(upload.attempts, 1))
                state: UploadState = "processing" if upload.state == "processing" else "queued"
                log.info("upload of session %d to %s: %s; again in %.0f s",
                         upload.session, upload.service, reason, wait)  # fmt: skip
                return self.queue.update(upload, state, now, next_try=now + wait, message=reason)
            case Refused(message):
                return self.queue.update(upload, "failed", now, message=message)
            case Unauthorized(message):
                return self.queue.update(upload, "unauthorized", now, message=message)
        raise TypeError(f"not an outcome: {outcome!r}")

    def _changed(self, upload: Upload) -> None:
        if upload.state == "done":
            log.info("session %d is on %s: %s", upload.session, upload.service, upload.link)
        elif upload.state in ("failed", "unauthorized"):
            log.warning("upload of session %d to %s failed: %s",
                        upload.session, upload.service, upload.message)  # fmt: skip
        self.on_change(upload)

    async def run(self) -> None:
        """Forever: step when something is due, sleep until the next one (or a wake).

        An unexpected error in a step is logged (with its traceback, once) and the
        worker goes on after a pause: one bad row must not stop every later upload.
        """
        failures = 0
        while True:
            try:
                await self.step()
                failures = 0
            except Exception as exc:
                failures += 1
                log.error("uploads: unexpected error (%d in a row): %r; going on",
                          failures, exc, exc_info=exc if failures == 1 else None)  # fmt: skip
                await asyncio.sleep(min(IDLE_S, 5.0 * failures))
            upcoming = self.queue.next_try()
            wait = IDLE_S if upcoming is None else min(max(upcoming - self.now(), 0.0), IDLE_S)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def settle(self, sessions: list[int], within_s: float) -> list[Upload]:
        """Work the queue until these sessions' uploads are done or failed, or the time is
        up (a gateway that stops waits this long); returns their uploads as they stand."""
        deadline = self.now() + within_s
        while True:
            await self.step()
            mine = [u for s in self.queue.of_sessions(sessions).values() for u in s]
            if not any(u.open for u in mine):
                return mine
            upcoming = self.queue.next_try()
            if upcoming is None or upcoming >= deadline:
                return mine
            await asyncio.sleep(max(upcoming - self.now(), 0.0))


@contextlib.asynccontextmanager
async def platforms(settings: Settings) -> AsyncIterator[dict[str, Platform]]:
    """The services the runner connected, on one HTTP client (closed on the way out).

    A saved account that cannot be read is said in one line and left out (its uploads
    wait as "not connected"): it must never stop the gateway that holds the belt.
    """
    accounts = Accounts(settings.data_dir)
    cfg = settings.upload
    async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as http:
        found: dict[str, Platform] = {}
        for service in SERVICES:
            try:
                account = accounts.load(service)
                if account is None:
                    continue
                found[service] = (
                    Strava(account, accounts, http, cfg.strava_url)
                    if service == "strava"
                    else Intervals(account, http, cfg.intervals_url)
                )
            except (AccountError, KeyError, TypeError, ValueError) as exc:
                log.error("uploads: %s: the saved account cannot be used (%s): run "
                          "`retrogate connect %s` again", accounts.path(service),
                          str(exc) or type(exc).__name__, service)  # fmt: skip
        yield found


def where_it_went(uploads: list[Upload]) -> str:
    """A session's uploads in one line for the runner: links, waits, refusals."""
    parts = []
    for u in uploads:
        title = TITLES.get(u.service, u.service)
        if u.state == "done":
            parts.append(f"{title} {u.link}")
        elif u.open:
            parts.append(f"{title} waiting ({u.message or 'queued'})")
        else:
            parts.append(f"{title} FAILED: {u.message}")
    return "; ".join(parts)
