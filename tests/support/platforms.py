"""Local doubles of Strava and intervals.icu, on a real HTTP server (pytest-httpserver).

Built from the services' published API documentation, not from our client:

* Strava (developers.strava.com: Authentication, Uploads, Rate Limits):
  ``/oauth/authorize`` redirects to the redirect URI with ``code``, ``state``
  and the granted ``scope``; ``/oauth/token`` takes the code or the refresh
  token with the client id and secret, answers ``access_token``,
  ``refresh_token``, ``expires_at`` and the athlete; ``POST /api/v3/uploads``
  (Bearer) takes multipart ``file``, ``data_type``, ``name``,
  ``description``, ``trainer``, ``commute``, ``external_id`` and answers 201
  with an upload that is processed asynchronously: ``GET
  /api/v3/uploads/{id}`` says "Your activity is still being processed." until
  it is an activity or an error; a file already uploaded is an error naming
  the activity it duplicates ("x.fit duplicate of <a href='/activities/N'
  target='_blank'>name</a>"). Every answer carries ``X-RateLimit-Limit`` and
  ``X-RateLimit-Usage`` (15-minute, daily); a spent limit answers 429.
  Errors are ``{"message": ..., "errors": [{resource, field, code}]}``.
* intervals.icu (its API docs and the forum's Integration Cookbook): HTTP
  Basic ``API_KEY``:key; athlete ``0`` is the key's own; ``POST
  /api/v1/athlete/0/activities`` takes multipart ``file`` with ``name``,
  ``description``, ``external_id`` as query parameters and never makes a
  second activity of the same file; ``GET /api/v1/athlete/0/events?
  category=WORKOUT&ext=zwo`` lists planned workouts with
  ``workout_file_base64``.

The doubles check what the services check (credentials, token expiry, the
file is a FIT file, rate limits) and keep what they received, so tests assert
on what arrived. Faults are switched on by the tests: a number of 5xx
answers, a spent rate limit, a revoked refresh token, slow processing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fitdecode
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ANY = re.compile(r".*")


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def _error(
    status: int,
    message: str,
    where: tuple[str, str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Strava's error body: a message and the (resource, field, code) it is about."""
    errors = [] if where is None else [dict(zip(("resource", "field", "code"), where, strict=True))]
    return _json(status, {"message": message, "errors": errors}, headers)


def is_fit(data: bytes) -> bool:
    """Read the whole file with fitdecode, CRC included (an independent FIT reader)."""
    try:
        with fitdecode.FitReader(io.BytesIO(data), check_crc=fitdecode.CrcCheck.ENABLED) as fit:
            for _ in fit:
                pass
    except Exception:
        return False
    return True


@dataclass
class Received:
    """One upload as the service received it."""

    fields: dict[str, str]
    filename: str
    data: bytes


@dataclass
class _Double:
    """A service on a loopback HTTP server: every request goes to ``_route``, one at a
    time (the server is threaded)."""

    server: HTTPServer
    _lock: threading.Lock = field(default_factory=threading.Lock, kw_only=True)

    def __post_init__(self) -> None:
        self.server.expect_request(ANY).respond_with_handler(self._handle)

    @property
    def base(self) -> str:
        """What the ``[upload]`` URL of the service is set to."""
        return self.server.url_for("/").rstrip("/")

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self._seen(request)
            return self._route(request)

    def _seen(self, request: Request) -> None:
        """A request arrived (before it is answered)."""

    def _route(self, request: Request) -> Response:
        raise NotImplementedError


@dataclass
class StravaDouble(_Double):
    """Strava's OAuth, uploads and rate limits (see the module's docstring)."""

    client_id: str = "12345"
    client_secret: str = "s3cr3t-client"
    token_life_s: float = 6 * 3600
    polls_to_ready: int = 2  # status checks that still say "being processed"
    limit: tuple[int, int] = (200, 2000)
    usage: list[int] = field(default_factory=lambda: [0, 0])
    fail_next: list[int] = field(default_factory=list)  # statuses to answer next, in order
    grant_scope: str = "read,activity:write"
    revoked: bool = False  # the runner revoked the app: refresh tokens stop working
    received: list[Received] = field(default_factory=list)
    activities: dict[int, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    times: list[tuple[float, str, str]] = field(default_factory=list)  # when, method, path
    refreshes: int = 0
    hold: threading.Event = field(default_factory=threading.Event)  # answer uploads late
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    _codes: dict[str, str] = field(default_factory=dict)
    _access: dict[str, float] = field(default_factory=dict)
    _refresh: set[str] = field(default_factory=set)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1001))

    def issue_tokens(self, expires_in: float | None = None) -> dict[str, Any]:
        """Tokens as if the runner had connected (for tests that start connected)."""
        with self._lock:
            return self._tokens(expires_in)

    def _tokens(self, expires_in: float | None = None) -> dict[str, Any]:
        access, refresh = f"acc-{next(self._ids)}", f"ref-{next(self._ids)}"
        expires_at = time.time() + (self.token_life_s if expires_in is None else expires_in)
        self._access[access] = expires_at
        self._refresh.add(refresh)
        return {
            "token_type": "Bearer",
            "expires_at": int(expires_at),
            "expires_in": int(expires_at - time.time()),
            "refresh_token": refresh,
            "access_token": access,
            "athlete": {"id": 777, "firstname": "Rita", "lastname": "Retro"},
        }

    def secrets(self) -> list[str]:
        """Every secret this double handed out or knows (for leak checks)."""
        return [self.client_secret, *self._access, *self._refresh, *self._codes]

    def _rate(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": f"{self.limit[0]},{self.limit[1]}",
            "X-RateLimit-Usage": f"{self.usage[0]},{self.usage[1]}",
        }

    def _seen(self, request: Request) -> None:
        self.requests.append((request.method, request.path, dict(request.form)))
        self.times.append((time.monotonic(), request.method, request.path))

    def _route(self, request: Request) -> Response:
        path = request.path
        if path == "/oauth/authorize":
            return self._authorize(request)
        if path == "/oauth/token" and request.method == "POST":
            return self._token(request)
        if not path.startswith("/api/v3/"):
            return _error(404, "Record Not Found")
        self.usage[0] += 1
        self.usage[1] += 1
        if self.usage[0] > self.limit[0] or self.usage[1] > self.limit[1]:
            where = ("Application", "rate limit", "exceeded")
            return _error(429, "Rate Limit Exceeded", where, self._rate())
        if self.fail_next:
            status = self.fail_next.pop(0)
            return _error(status, "Service Unavailable", None, self._rate())
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self._access.get(token, 0) < time.time():
            where = ("Athlete", "access_token", "invalid")
            return _error(401, "Authorization Error", where, self._rate())
        if path == "/api/v3/uploads" and request.method == "POST":
            return self._upload(request)
        found = re.fullmatch(r"/api/v3/uploads/(\d+)", path)
        if found and request.method == "GET":
            return self._status(int(found.group(1)))
        return _error(404, "Record Not Found", None, self._rate())

    def _authorize(self, request: Request) -> Response:
        query = request.args
        target = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id:
            return _error(400, "Bad Request", ("Application", "client_id", "invalid"))
        code = f"code-{next(self._ids)}"
        self._codes[code] = query.get("scope", "")
        answer = {"state": query.get("state", ""), "code": code, "scope": self.grant_scope}
        return Response(
            status=302, headers={"Location": f"{target}?{urllib.parse.urlencode(answer)}"}
        )

    def _token(self, request: Request) -> Response:
        form = request.form
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return _error(401, "Authorization Error", ("Application", "client_secret", "invalid"))
        grant = form.get("grant_type")
        if grant == "authorization_code" and form.get("code") in self._codes:
            del self._codes[form["code"]]  # a code is good once
            return _json(200, self._tokens())
        if grant == "refresh_token" and form.get("refresh_token") in self._refresh:
            if self.revoked:
                return _error(400, "Bad Request", ("RefreshToken", "refresh_token", "invalid"))
            self.refreshes += 1
            self._refresh.discard(form["refresh_token"])
            return _json(200, self._tokens())
        what = "RefreshToken" if grant == "refresh_token" else "AuthorizationCode"
        return _error(400, "Bad Request", (what, "code", "invalid"))

    def _upload(self, request: Request) -> Response:
        upload = request.files.get("file")
        fields = dict(request.form.items())
        if upload is None:
            return _error(400, "Bad Request", ("Upload", "file", "empty"), self._rate())
        data = upload.read()
        if fields.get("data_type") not in ("fit", "fit.gz", "tcx", "tcx.gz", "gpx", "gpx.gz"):
            return _error(400, "Bad Request", ("Upload", "data_type", "invalid"), self._rate())
        self.received.append(Received(fields, upload.filename or "", data))
        upload_id = next(self._ids)
        digest = hashlib.sha256(data).hexdigest()
        entry: dict[str, Any] = {
            "id": upload_id,
            "id_str": str(upload_id),
            "external_id": fields.get("external_id"),
            "error": None,
            "status": "Your activity is still being processed.",
            "activity_id": None,
            "polls": 0,
            "digest": digest,
            "filename": upload.filename,
            "fields": fields,
            "valid": is_fit(data),
        }
        entry["result"] = self._process(entry)
        self.uploads[upload_id] = entry
        self.arrived.set()
        if self.hold.is_set():  # the file is in; the answer waits (a client killed meanwhile)
            self._lock.release()
            try:
                self.release.wait(30)
            finally:
                self._lock.acquire()
        return _json(201, self._public(entry), self._rate())

    def _status(self, upload_id: int) -> Response:
        entry = self.uploads.get(upload_id)
        if entry is None:
            return _error(404, "Record Not Found", None, self._rate())
        entry["polls"] += 1
        if entry["polls"] > self.polls_to_ready:  # what processing decided, shown now
            entry.update(entry["result"])
        return _json(200, self._public(entry), self._rate())

    def _process(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Processing, done when the file arrives (Strava does it whether or not anyone
        asks); the status shows the result after ``polls_to_ready`` checks."""
        failed = "There was an error processing your activity."
        if not entry["valid"]:
            return {"error": "Improperly formatted data.", "status": failed}
        for activity_id, activity in self.activities.items():
            if activity["digest"] == entry["digest"] or (
                entry["external_id"] and activity["external_id"] == entry["external_id"]
            ):
                error = (
                    f"{entry['filename']} duplicate of <a href='/activities/{activity_id}' "
                    f"target='_blank'>{activity['name']}</a>"
                )
                return {"error": error, "status": failed}
        activity_id = next(self._ids)
        fields = entry["fields"]
        self.activities[activity_id] = {
            "digest": entry["digest"],
            "external_id": entry["external_id"],
            "name": fields.get("name", ""),
            "description": fields.get("description", ""),
            "trainer": fields.get("trainer") == "1",
        }
        return {"activity_id": activity_id, "status": "Your activity is ready."}

    @staticmethod
    def _public(entry: dict[str, Any]) -> dict[str, Any]:
        return {
            k: entry[k] for k in ("id", "id_str", "external_id", "error", "status", "activity_id")
        }


@dataclass
class IntervalsDouble(_Double):
    """intervals.icu's uploads and planned workouts (see the module's docstring)."""

    api_key: str = "k3y-for-intervals"
    athlete_id: str = "i4242"
    fail_next: list[int] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(501))

    def plan(self, date: str, name: str, zwo: str, sport: str = "Run") -> None:
        """Put a planned workout on the runner's calendar."""
        self.events.append(
            {
                "id": next(self._ids),
                "start_date_local": f"{date}T00:00:00",
                "category": "WORKOUT",
                "type": sport,
                "name": name,
                "workout_filename": f"{name}.zwo",
                "workout_file_base64": base64.b64encode(zwo.encode()).decode(),
            }
        )

    def _route(self, request: Request) -> Response:
        auth = request.authorization
        if auth is None or auth.username != "API_KEY" or auth.password != self.api_key:
            return _json(401, {"status": 401, "error": "Access denied"})
        if self.fail_next:
            return _json(self.fail_next.pop(0), {"error": "Server error"})
        found = re.fullmatch(r"/api/v1/athlete/([^/]+)(/.*)?", request.path)
        if found is None or found.group(1) not in ("0", self.athlete_id):
            return _json(404, {"error": "Not found"})
        rest = found.group(2) or ""
        if rest == "" and request.method == "GET":
            return _json(200, {"id": self.athlete_id, "name": "Rita Retro"})
        if rest == "/activities" and request.method == "POST":
            return self._upload(request)
        if rest == "/events" and request.method == "GET":
            return self._events(request)
        return _json(404, {"error": "Not found"})

    def _upload(self, request: Request) -> Response:
        upload = request.files.get("file")
        if upload is None:
            return _json(422, {"error": "file is required"})
        data = upload.read()
        self.received.append(Received(dict(request.args), upload.filename or "", data))
        if not is_fit(data):
            return _json(422, {"error": "Unable to parse file"})
        digest = hashlib.sha256(data).hexdigest()
        for activity_id, activity in self.activities.items():
            if activity["digest"] == digest:  # no second activity of the same file
                return _json(200, {"icu_athlete_id": self.athlete_id, "id": activity_id,
                                   "activities": [{"id": activity_id}]})  # fmt: skip
        activity_id = f"i{next(self._ids)}"
        self.activities[activity_id] = {"digest": digest, **dict(request.args)}
        return _json(201, {"icu_athlete_id": self.athlete_id, "id": activity_id,
                           "activities": [{"id": activity_id}]})  # fmt: skip

    def _events(self, request: Request) -> Response:
        args = request.args
        oldest, newest = args.get("oldest", ""), args.get("newest", "9999")
        chosen = [
            event
            for event in self.events
            if (args.get("category") in (None, event["category"]))
            and oldest <= event["start_date_local"][:10] <= newest
        ]
        if args.get("ext") != "zwo":
            chosen = [
                {k: v for k, v in e.items() if not k.startswith("workout_file")} for e in chosen
            ]
        return _json(200, chosen)


@contextlib.contextmanager
def http_double() -> Iterator[HTTPServer]:
    """A threaded HTTP server on a free loopback port (stopped on the way out)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        if server.is_running():
            server.stop()


def strava_account(double: StravaDouble, expires_in: float | None = None) -> dict[str, Any]:
    """An account as ``retrogate connect strava`` saves it, with tokens from the double."""
    tokens = double.issue_tokens(expires_in)
    return {
        "client_id": double.client_id,
        "client_secret": double.client_secret,
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "expires_at": float(tokens["expires_at"]),
        "athlete": "Rita Retro",
    }


def connect_both(data: Path, strava: StravaDouble, intervals: IntervalsDouble) -> list[str]:
    """Both accounts saved in ``data`` as ``retrogate connect`` saves them; their secrets."""
    from gateway.platforms.accounts import Accounts

    account = strava_account(strava)
    accounts = Accounts(data)
    accounts.save("strava", account)
    accounts.save("intervals", {"api_key": intervals.api_key, "athlete_id": "0"})
    return [strava.client_secret, account["access_token"], account["refresh_token"],
            intervals.api_key]  # fmt: skip
