"""Strava: the OAuth code flow, token refresh, and uploads polled to an activity.

From Strava's published API (developers.strava.com): the runner registers
their own API application (client id and secret); ``/oauth/authorize`` with
scope ``activity:write`` hands a code to the redirect URI; ``/oauth/token``
trades it (and later the refresh token) for an access token that lives six
hours. ``POST /api/v3/uploads`` takes the FIT file as multipart form data and
answers with an upload id; ``GET /api/v3/uploads/{id}`` says when it is an
activity, or the error (a duplicate names the activity it duplicates).

No OAuth library: the flow is two form POSTs, and Authlib's httpx
integration (the one that would fit) warns that it is deprecated.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx

from ..errors import RetrogateError
from ..store.activity import Activity
from .accounts import Accounts
from .outcome import (
    Done,
    Outcome,
    Processing,
    Refused,
    Retry,
    Unauthorized,
    strava_spent,
    strava_wait_s,
    why,
)

SCOPE = "activity:write"
REFRESH_BEFORE_S = 3600.0  # Strava hands out a new token in the last hour of the old one
DUPLICATE = re.compile(r"duplicate of\D*?/activities/(\d+)|duplicate of activity (\d+)", re.I)
TAGS = re.compile(r"<[^>]+>")
SERVICE = "strava"
AGAIN = "run `retrogate connect strava` again"


class ConnectError(RetrogateError):
    """The code flow did not end in a usable authorization (the message says why)."""


def authorize_url(base: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Where the runner's browser goes to allow uploads."""
    query = urllib.parse.urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "approval_prompt": "auto",
            "scope": SCOPE,
            "state": state,
        }
    )
    return f"{base}/oauth/authorize?{query}"


def code_from_redirect(text: str, state: str | None) -> tuple[str, str]:
    """The code (and granted scope) from the redirect URL the runner pasted, or the code
    itself; ConnectError if Strava said no, or the state is not ours."""
    text = text.strip()
    if "?" not in text and "=" not in text:
        return text, SCOPE  # a bare code: the runner copied only that
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(text).query or text)
    if "error" in query:
        raise ConnectError(f"Strava said: {query['error'][0]} (nothing was allowed)")
    if state is not None and query.get("state", [state])[0] != state:
        raise ConnectError("the answer is not for this request (state differs): start again")
    if "code" not in query:
        raise ConnectError("no code in that address: paste the whole address Strava sent you to")
    return query["code"][0], query.get("scope", [""])[0]


def _message(response: httpx.Response) -> str:
    """Strava's own words from an error answer (``message`` and ``errors``)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    words = str(body.get("message") or f"HTTP {response.status_code}")
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        details = [
            " ".join(str(e.get(k)) for k in ("resource", "field", "code") if e.get(k))
            for e in errors
            if isinstance(e, dict)
        ]
        words += f" ({'; '.join(d for d in details if d)})"
    return words


async def exchange_code(
    http: httpx.AsyncClient, base: str, client_id: str, client_secret: str, code: str
) -> dict[str, Any]:
    """Trade the code for tokens: the account to save (ConnectError if Strava refuses)."""
    response = await http.post(
        f"{base}/oauth/token",
        data={
            "client_id": client_id,
            "client_secret": client_secret,
            "code": code,
            "grant_type": "authorization_code",
        },
    )
    if response.status_code != 200:
        raise ConnectError(f"Strava refused the code: {_message(response)}")
    body = response.json()
    athlete = body.get("athlete") or {}
    name = " ".join(str(athlete.get(k)) for k in ("firstname", "lastname") if athlete.get(k))
    return {
        "client_id": client_id,
        "client_secret": client_secret,
        "access_token": body["access_token"],
        "refresh_token": body["refresh_token"],
        "expires_at": float(body["expires_at"]),
        "athlete": name or str(athlete.get("id", "")),
    }


async def trade_code(base: str, client_id: str, client_secret: str, code: str) -> dict[str, Any]:
    """``exchange_code`` on a client of its own (``retrogate connect strava``)."""
    async with httpx.AsyncClient(timeout=30.0) as http:
        try:
            return await exchange_code(http, base, client_id, client_secret, code)
        except httpx.TransportError as exc:
            raise ConnectError(f"cannot reach Strava: {type(exc).__name__}") from exc


class Strava:
    """Uploads to one runner's Strava account; refreshes and saves its tokens."""

    name = SERVICE
    title = "Strava"

    def __init__(
        self,
        account: dict[str, Any],
        accounts: Accounts,
        http: httpx.AsyncClient,
        base: str,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.account = account
        self.accounts = accounts
        self.http = http
        self.base = base.rstrip("/")
        self.now = now
        self._not_before = 0.0  # a spent rate limit: no request before this

    async def _token(self, *, renew: bool = False) -> str | Outcome:
        """A valid access token, refreshed (and saved) when it is about to expire, or
        when Strava refused the one we have (``renew``)."""
        if not renew and float(self.account["expires_at"]) - self.now() > REFRESH_BEFORE_S:
            return str(self.account["access_token"])
        try:
            response = await self.http.post(
                f"{self.base}/oauth/token",
                data={
                    "client_id": self.account["client_id"],
                    "client_secret": self.account["client_secret"],
                    "grant_type": "refresh_token",
                    "refresh_token": self.account["refresh_token"],
                },
            )
        except httpx.TransportError as exc:
            return Retry(f"cannot reach Strava to refresh the token: {why(exc)}")
        if response.status_code in (400, 401, 403):
            return Unauthorized(f"Strava refused the saved authorization: {AGAIN}")
        if response.status_code != 200:
            return self._not_ok(response)
        body = response.json()
        self.account.update(
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
            expires_at=float(body["expires_at"]),
        )
        self.accounts.save(SERVICE, self.account)
        return str(self.account["access_token"])

    def _not_ok(self, response: httpx.Response) -> Outcome:
        if response.status_code == 429:
            wait = strava_wait_s(self.now(), response.headers)
            self._not_before = self.now() + wait
            return Retry(f"Strava's rate limit is spent: {_message(response)}", wait)
        if response.status_code in (401, 403):
            return Unauthorized(f"Strava refused the authorization ({_message(response)}): {AGAIN}")
        if response.status_code >= 500:
            return Retry(f"Strava answered {response.status_code}")
        return Refused(f"Strava refused the upload: {_message(response)}")

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response | Outcome:
        """One API request with a valid token; a 401 renews the token once and asks again
        (Strava drops a token when the runner authorizes retrogate anew elsewhere)."""
        if self.now() < self._not_before:
            return Retry("Strava's rate limit is spent", self._not_before - self.now())
        for renew in (False, True):
            token = await self._token(renew=renew)
            if not isinstance(token, str):
                return token
            try:
                response = await self.http.request(
                    method,
                    f"{self.base}{path}",
                    headers={"Authorization": f"Bearer {token}"},
                    **kwargs,
                )
            except httpx.TransportError as exc:
                return Retry(f"cannot reach Strava: {why(exc)}")
            if strava_spent(response.headers):
                self._not_before = self.now() + strava_wait_s(self.now(), response.headers)
            if response.status_code != 401:
                break
        return response

    async def send(self, activity: Activity) -> Outcome:
        """Upload the FIT file; the answer is usually "being processed"."""
        response = await self._request(
            "POST",
            "/api/v3/uploads",
            data={
                "data_type": "fit",
                "name": activity.name,
                "description": activity.description,
                "trainer": "1",  # indoors: Strava takes the treadmill's distance, not GPS
                "commute": "0",
                "external_id": activity.external_id,
            },
            files={"file": (activity.filename, activity.fit, "application/octet-stream")},
        )
        return self._upload(response)

    async def check(self, remote_id: str) -> Outcome:
        """Is the upload an activity yet?"""
        return self._upload(await self._request("GET", f"/api/v3/uploads/{remote_id}"))

    def _upload(self, response: httpx.Response | Outcome) -> Outcome:
        if not isinstance(response, httpx.Response):
            return response
        if response.status_code not in (200, 201):
            return self._not_ok(response)
        body = response.json()
        error = body.get("error")
        if error:
            text = TAGS.sub("", str(error)).strip()
            found = DUPLICATE.search(str(error))
            if found:
                activity = found.group(1) or found.group(2)
                note = f"already on Strava as activity {activity} (Strava: {text})"
                return Done(f"{self.base}/activities/{activity}", note)
            return Refused(f"Strava refused the file: {text}")
        if body.get("activity_id"):
            return Done(f"{self.base}/activities/{body['activity_id']}")
        return Processing(str(body.get("id_str") or body["id"]))
