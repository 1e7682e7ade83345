"""``retrogate connect strava|intervals``: set up an account, on a Pi without a browser.

Strava: the runner's own API application (docs/platforms.md walks through
registering it), the OAuth code flow with scope ``activity:write``. The
authorization address is printed; the browser's answer comes back to a
loopback port (the same machine, or ``ssh -L`` from a laptop), or the runner
pastes the address the browser ended on (``--paste``). intervals.icu: the
API key from the settings page, read without echo (or from a file or
``RETROGATE_INTERVALS_API_KEY``), proved by asking who it belongs to.
Secrets go to the data directory with mode 0600 and are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Settings

PORT = 8723
LOGIN_TIMEOUT_S = 600.0


def _secret(prompt: str, env: str, path: Path | None) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8").strip()
    if os.environ.get(env):
        return os.environ[env].strip()
    return getpass.getpass(prompt).strip()


class _Answer(BaseHTTPRequestHandler):
    """The one page the browser lands on after Strava: keeps the query, says what next."""

    found: list[str]

    def do_GET(self) -> None:
        query = urllib.parse.urlsplit(self.path).query
        known = "code" in urllib.parse.parse_qs(query) or "error" in urllib.parse.parse_qs(query)
        if known:
            self.found.append(self.path)
        self.send_response(200 if known else 404)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        text = "retrogate got Strava's answer: go back to the terminal." if known else "not here"
        self.wfile.write(text.encode())

    def log_message(self, format: str, *args: Any) -> None:  # the query holds the code
        return


def _wait_on_loopback(server: HTTPServer, timeout_s: float) -> str | None:
    """Serve the loopback port until Strava's answer arrives (or the time is up)."""
    found: list[str] = []
    handler = type("Answer", (_Answer,), {"found": found})
    server.RequestHandlerClass = handler
    server.timeout = 1.0
    stop = threading.Event()
    timer = threading.Timer(timeout_s, stop.set)
    timer.start()
    try:
        while not found and not stop.is_set():
            server.handle_request()
    finally:
        timer.cancel()
    return found[0] if found else None


def connect_strava(args: argparse.Namespace, settings: Settings) -> int:
    """The code flow; saves the account, queues again what waited for it."""
    from ..platforms.accounts import Accounts
    from ..platforms.strava import ConnectError, authorize_url, code_from_redirect, trade_code

    client_id = args.client_id or input("Strava client id (your API application's): ").strip()
    if not client_id.isdigit():
        print(f"error: a Strava client id is a number, not {client_id!r}", file=sys.stderr)
        return 2
    client_secret = _secret(
        "Strava client secret (not shown): ", "RETROGATE_STRAVA_CLIENT_SECRET", args.secret_file
    )
    state = secrets.token_urlsafe(12)
    redirect = f"http://localhost:{args.port}/exchange_token"
    base = settings.upload.strava_url
    server: HTTPServer | None = None
    if not args.paste:
        try:
            server = HTTPServer(("127.0.0.1", args.port), _Answer)
        except OSError as exc:
            print(f"error: cannot listen on localhost:{args.port} ({exc.strerror}): "
                  "try --port, or --paste", file=sys.stderr)  # fmt: skip
            return 1
    print("Open this address in a browser and allow retrogate to upload your activities:\n")
    print(f"  {authorize_url(base, client_id, redirect, state)}\n", flush=True)
    try:
        if server is not None:
            print(f"Waiting for the browser on localhost:{args.port} (from another machine: "
                  f"ssh -L {args.port}:localhost:{args.port} this-pi) ...", flush=True)  # fmt: skip
            answer = _wait_on_loopback(server, LOGIN_TIMEOUT_S)
            if answer is None:
                print("error: no answer from the browser in 10 minutes", file=sys.stderr)
                return 1
        else:
            answer = input("Paste the address the browser ended on (it may say it cannot "
                           "connect; that is fine): ")  # fmt: skip
        code, scope = code_from_redirect(answer, state)
    except ConnectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.server_close()
    if "activity:write" not in scope.split(","):
        print(
            "error: uploads were not allowed (activity:write): connect again and leave "
            "'Upload your activities from retrogate to Strava' ticked",
            file=sys.stderr,
        )
        return 1
    try:
        account = asyncio.run(trade_code(base, client_id, client_secret, code))
    except ConnectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    path = Accounts(settings.data_dir).save("strava", account)
    _connected(settings, "strava", f"Strava as {account['athlete']}", path)
    return 0


def connect_intervals(args: argparse.Namespace, settings: Settings) -> int:
    """The API key, proved by asking who it belongs to, then saved."""
    from ..platforms.accounts import Accounts
    from ..platforms.intervals import IntervalsError, who_is

    key = _secret(
        "intervals.icu API key (Settings, Developer Settings; not shown): ",
        "RETROGATE_INTERVALS_API_KEY",
        args.secret_file,
    )
    if not key:
        print("error: no API key given", file=sys.stderr)
        return 2
    account = {"api_key": key, "athlete_id": args.athlete or "0"}
    try:
        who = asyncio.run(who_is(settings.upload.intervals_url, account))
    except IntervalsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    account["athlete"] = who
    path = Accounts(settings.data_dir).save("intervals", account)
    _connected(settings, "intervals", f"intervals.icu as {who}", path)
    return 0


def _connected(settings: Settings, service: str, who: str, path: Path) -> None:
    """Say so, and send again what waited for this account."""
    import time

    from ..store.db import SessionStore
    from ..store.uploads import UploadQueue

    print(f"connected to {who} (saved in {path}, readable by you only)")
    store = SessionStore.in_dir(settings.data_dir)
    try:
        again = UploadQueue(store).requeue_unauthorized(service, time.time())
    finally:
        store.close()
    if again:
        print(f"{again} upload(s) that waited for this will go with `retrogate sessions upload "
              "--pending` or the gateway's next start")  # fmt: skip
    if service not in settings.upload.after_session:
        print(f'to upload every session when it ends: [upload] after_session = ["{service}"]')


def run(args: argparse.Namespace) -> int:
    """Connect (or forget) one service."""
    from ..platforms.accounts import Accounts
    from .common import settings_or_exit

    settings = settings_or_exit(args)
    if settings is None:
        return 2
    if args.forget:
        gone = Accounts(settings.data_dir).forget(args.service)
        print(f"{args.service}: {'forgotten' if gone else 'was not connected'}")
        return 0
    if args.service == "strava":
        return connect_strava(args, settings)
    return connect_intervals(args, settings)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``connect``."""
    from ..destinations import UPLOAD_SERVICES
    from .common import add_config_option

    parser = sub.add_parser(
        "connect",
        help="connect Strava or intervals.icu, for uploads (docs/platforms.md)",
        description="Set up an account for `sessions upload` and [upload] after_session. "
        "Secrets are kept in the data directory, readable by you only.",
    )
    add_config_option(parser)
    parser.add_argument("service", choices=UPLOAD_SERVICES)
    parser.add_argument("--client-id", help="Strava: your API application's client id")
    parser.add_argument(
        "--secret-file",
        type=Path,
        metavar="FILE",
        help="read the client secret (Strava) or API key (intervals.icu) from FILE "
        "instead of asking (also: RETROGATE_STRAVA_CLIENT_SECRET, RETROGATE_INTERVALS_API_KEY)",
    )
    parser.add_argument(
        "--port", type=int, default=PORT, help=f"Strava: the loopback port (default {PORT})"
    )
    parser.add_argument(
        "--paste",
        action="store_true",
        help="Strava: paste the address the browser ended on instead of listening",
    )
    parser.add_argument("--athlete", help="intervals.icu: athlete id (default: the key's own)")
    parser.add_argument("--forget", action="store_true", help="delete the saved account")
    parser.set_defaults(run=run)
