"""intervals.icu: uploads with the runner's API key, and their planned workouts.

From the published API (intervals.icu/api/v1/docs and the forum's
"Integration Cookbook"): HTTP Basic with the user ``API_KEY`` and the key as
the password; athlete ``0`` means "the athlete the key belongs to".
``POST /api/v1/athlete/0/activities`` takes the file as multipart form data
(``name``, ``description`` and ``external_id`` as query parameters) and does
not make a second activity of the same file. ``GET
/api/v1/athlete/0/events?category=WORKOUT&ext=zwo`` lists planned workouts
with each one's file in ``workout_file_base64``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import RetrogateError
from ..store.activity import Activity
from .outcome import Done, Outcome, Refused, Retry, Unauthorized, retry_after_s, why

SERVICE = "intervals"
AGAIN = "run `retrogate connect intervals` again"


class IntervalsError(RetrogateError):
    """intervals.icu could not be asked (the message says why, never the key)."""


@dataclass(frozen=True, slots=True)
class PlannedWorkout:
    """One planned workout from the runner's calendar, as a Zwift file."""

    id: str
    date: str
    name: str
    sport: str
    zwo: bytes | None  # None: intervals.icu gave no file for it


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or f"HTTP {response.status_code}")
    return f"HTTP {response.status_code}"


class Intervals:
    """One runner's intervals.icu account."""

    name = SERVICE
    title = "intervals.icu"

    def __init__(
        self,
        account: dict[str, Any],
        http: httpx.AsyncClient,
        base: str,
    ) -> None:
        self.http = http
        self.base = base.rstrip("/")
        self.athlete = str(account.get("athlete_id") or "0")
        self._auth = httpx.BasicAuth("API_KEY", str(account["api_key"]))

    def _not_ok(self, response: httpx.Response) -> Outcome:
        if response.status_code == 429:
            return Retry("intervals.icu asks to slow down (429)", retry_after_s(response.headers))
        if response.status_code in (401, 403):
            return Unauthorized(f"intervals.icu refused the API key: {AGAIN}")
        if response.status_code >= 500:
            return Retry(f"intervals.icu answered {response.status_code}")
        return Refused(f"intervals.icu refused the upload: {_message(response)}")

    async def send(self, activity: Activity) -> Outcome:
        """Upload the FIT file: intervals.icu answers with the activity."""
        try:
            response = await self.http.post(
                f"{self.base}/api/v1/athlete/{self.athlete}/activities",
                params={
                    "name": activity.name,
                    "description": activity.description,
                    "external_id": activity.external_id,
                },
                files={"file": (activity.filename, activity.fit, "application/octet-stream")},
                auth=self._auth,
            )
        except httpx.TransportError as exc:
            return Retry(f"cannot reach intervals.icu: {why(exc)}")
        if response.status_code not in (200, 201):
            return self._not_ok(response)
        body = response.json()
        made = body.get("id")
        if not made and isinstance(body.get("activities"), list) and body["activities"]:
            made = body["activities"][0].get("id")
        if not made:
            return Refused("intervals.icu took the file but named no activity")
        return Done(f"{self.base}/activities/{made}")

    async def check(self, remote_id: str) -> Outcome:
        """intervals.icu answers an upload at once: nothing is ever left to check."""
        return Done(f"{self.base}/activities/{remote_id}")

    async def _get(self, path: str, **params: str) -> Any:
        try:
            response = await self.http.get(f"{self.base}{path}", params=params, auth=self._auth)
        except httpx.TransportError as exc:
            raise IntervalsError(f"cannot reach intervals.icu: {why(exc)}") from exc
        if response.status_code in (401, 403):
            raise IntervalsError(f"intervals.icu refused the API key: {AGAIN}")
        if response.status_code != 200:
            raise IntervalsError(f"intervals.icu answered {response.status_code}: "
                                 f"{_message(response)}")  # fmt: skip
        return response.json()

    async def whoami(self) -> str:
        """The athlete the key belongs to (their name, else their id): proves the key."""
        body = await self._get(f"/api/v1/athlete/{self.athlete}")
        if not isinstance(body, dict):
            raise IntervalsError("intervals.icu answered something that is not an athlete")
        return str(body.get("name") or body.get("id") or "?")

    async def planned(self, oldest: str, newest: str) -> list[PlannedWorkout]:
        """The planned workouts between two dates (YYYY-MM-DD), each with its .zwo file."""
        body = await self._get(
            f"/api/v1/athlete/{self.athlete}/events",
            category="WORKOUT",
            ext="zwo",
            oldest=oldest,
            newest=newest,
        )
        if not isinstance(body, list):
            raise IntervalsError("intervals.icu answered something that is not a list of events")
        out = []
        for event in body:
            if not isinstance(event, dict):
                continue
            data = event.get("workout_file_base64")
            try:
                zwo = base64.b64decode(data, validate=True) if isinstance(data, str) else None
            except (binascii.Error, ValueError):
                zwo = None
            out.append(
                PlannedWorkout(
                    id=str(event.get("id", "")),
                    date=str(event.get("start_date_local", ""))[:10],
                    name=str(event.get("name") or "workout"),
                    sport=str(event.get("type") or ""),
                    zwo=zwo,
                )
            )
        return out


async def who_is(base: str, account: dict[str, Any]) -> str:
    """Whom the key belongs to, on a client of its own (``retrogate connect intervals``)."""
    async with httpx.AsyncClient(timeout=30.0) as http:
        return await Intervals(account, http, base).whoami()


async def planned_workouts(
    base: str, account: dict[str, Any], oldest: str, newest: str
) -> list[PlannedWorkout]:
    """The planned workouts between two days, on a client of its own (``plans import``)."""
    async with httpx.AsyncClient(timeout=30.0) as http:
        return await Intervals(account, http, base).planned(oldest, newest)
