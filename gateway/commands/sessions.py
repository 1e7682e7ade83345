"""``retrogate sessions`` and ``retrogate export SESSION --format tcx|fit|csv``."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Settings
    from ..store.db import SessionSource, SessionStore


def _open(args: argparse.Namespace, settings: Settings | None = None) -> SessionStore | None:
    from ..store.db import SessionStore, StoreError
    from .common import settings_or_exit

    settings = settings or settings_or_exit(args)
    if settings is None:
        return None
    try:
        return SessionStore.in_dir(settings.data_dir)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _source(args: argparse.Namespace, settings: Settings | None = None) -> SessionSource | None:
    """The archive (``--db``) or this gateway's store: what reading commands read."""
    if getattr(args, "db", None):
        from ..archive.db import ArchiveError
        from ..archive.reader import ArchiveReader

        try:
            return ArchiveReader(args.db)
        except ArchiveError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return None
    return _open(args, settings)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02}:{secs:02}"


def list_sessions(args: argparse.Namespace) -> int:
    """One line per session, newest first: time, distance (backward too), energy, HR."""
    import dataclasses

    from ..store.db import SessionStore
    from ..store.timeline import Summary, summarize
    from ..store.uploads import UploadQueue

    store = _source(args)
    if store is None:
        return 2
    try:
        sessions = store.sessions()
        if not sessions:
            print(f"no sessions yet in {store.path} (run `retrogate run` or `retrogate demo`)")
            return 0
        print(f"{'id':>4}  {'started':16}  {'station':10} {'time':>8} {'dist':>8} "
              f"{'backward':>14} {'kcal':>5} {'avg HR':>6}  plan")  # fmt: skip
        uploads = UploadQueue(store).of_sessions() if isinstance(store, SessionStore) else {}
        many = len({info.gateway for info in sessions}) > 1  # the archive of a site
        for info in sessions:
            cached = store.cached(info.id, "totals") if info.ended else None
            if cached:
                totals = Summary.of(cached)
            else:
                totals = dataclasses.replace(
                    summarize(store.points(info.id)), mean_hr=store.mean_heart_rate(info.id)
                )
                if info.ended:
                    store.keep(info.id, "totals", dataclasses.asdict(totals))
            mean_hr = totals.mean_hr
            distance = f"{totals.distance_m:.0f} m" if info.records else "-"
            backward = f"{totals.backward_m:.0f} m {_duration(totals.backward_s)[2:]}"
            kcal = f"{totals.energy_kcal:.0f}" if totals.energy_kcal is not None else "-"
            avg_hr = f"{mean_hr:.0f}" if mean_hr else "-"
            state = "" if info.ended else " (live)"
            started = datetime.fromtimestamp(info.started).strftime("%Y-%m-%d %H:%M")
            where = f"{info.gateway}/{info.station}" if many else info.station
            print(
                f"{info.id:>4}  {started:16}  {where:10} "
                f"{_duration(totals.time_s):>8} {distance:>8} {backward:>14} {kcal:>5} "
                f"{avg_hr:>6}  {info.plan or 'free'}{state}"
                + (f"  [{_where(uploads[info.id])}]" if info.id in uploads else "")
            )
        return 0
    finally:
        store.close()


def export_session(args: argparse.Namespace) -> int:
    """Write one session as CSV, TCX or FIT."""
    from ..store.db import StoreError
    from ..store.export import export

    store = _source(args)
    if store is None:
        return 2
    try:
        info = store.session(args.session)
        print(
            f"exporting session {info.id}: {info.records} treadmill records, "
            f"{info.heart_rates} heart-rate samples…",
            file=sys.stderr,
        )
        data = export(store, args.session, args.format)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    target: Path | None = args.output
    if target is None:
        target = Path(f"retrogate-session-{args.session}.{args.format}")
    if str(target) == "-":
        sys.stdout.buffer.write(data)
    else:
        target.write_bytes(data)
        print(f"wrote {target} ({len(data)} bytes)", file=sys.stderr)
    return 0


def show_session(args: argparse.Namespace) -> int:
    """One session: totals forward and backward, energy, heart rate, safety, laps, a chart."""
    import json
    import shutil

    from ..safety.limits import hr_max
    from ..store.chart import svg_chart, terminal_chart
    from ..store.db import StoreError
    from ..store.export import rows
    from ..store.timeline import report
    from .common import settings_or_exit

    settings = settings_or_exit(args)
    store = _source(args, settings) if settings is not None else None
    if store is None or settings is None:
        return 2
    try:
        info = store.session(args.session)
        data = rows(store, info.id)
        decisions = [
            json.loads(body)["rule"]
            for _, kind, body in store.iter_events(info.id)
            if kind == "decision"
        ]
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    started = datetime.fromtimestamp(info.started).strftime("%Y-%m-%d %H:%M")
    where = f"{info.station} of {info.gateway}" if getattr(args, "db", None) else info.station
    title = f"session {info.id} on {where}, {started}, {info.plan or 'free run'}"
    print("\n".join(report(title, data, decisions, hr_max(settings.runner.age))))
    if data and not args.no_chart:
        width = min(shutil.get_terminal_size((100, 24)).columns, 120)
        print(terminal_chart(data, width=width, height=18))
    if args.svg is not None and data:
        svg_chart(data, args.svg, title)
        print(f"wrote {args.svg}", file=sys.stderr)
    return 0


def _age_text(seconds: float) -> str:
    days = seconds / 86_400
    return f"{days:g} days" if days >= 1 else f"{seconds / 3600:g} hours"


def prune_sessions(args: argparse.Namespace) -> int:
    """Delete sessions older than the given age (asking first unless --yes)."""
    import time

    store = _open(args)
    if store is None:
        return 2
    try:
        doomed = store.ended_before(time.time() - args.older_than)
        if not doomed:
            print(f"nothing to prune: no ended session is older than {_age_text(args.older_than)}")
            return 0
        records = sum(info.records for info in doomed)
        oldest = datetime.fromtimestamp(min(i.started for i in doomed)).strftime("%Y-%m-%d")
        newest = datetime.fromtimestamp(max(i.started for i in doomed)).strftime("%Y-%m-%d")
        print(
            f"{len(doomed)} sessions from {oldest} to {newest} ({records} treadmill records) "
            f"are older than {_age_text(args.older_than)} and will be deleted from {store.path}"
        )
        if not args.yes:
            try:
                answer = input("Delete them? [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deleted")
                return 1
        before = store.size_bytes()
        store.delete([info.id for info in doomed])
        after = store.size_bytes()
        print(f"deleted {len(doomed)} sessions; the store went from {before // 1024} KiB "
              f"to {after // 1024} KiB")  # fmt: skip
        return 0
    finally:
        store.close()


def _where(uploads: list[Any]) -> str:
    """A session's uploads in a few characters: ``strava ok``, ``intervals failed``..."""
    words = {"done": "ok", "queued": "queued", "sending": "queued", "processing": "queued",
             "failed": "FAILED", "unauthorized": "not connected"}  # fmt: skip
    return ", ".join(f"{u.service} {words[u.state]}" for u in uploads)


def upload_sessions(args: argparse.Namespace) -> int:
    """Queue sessions for upload and carry the queue on until it is done (or waits)."""
    import asyncio
    import time

    from ..platforms.accounts import AccountError
    from ..store.db import StoreError
    from ..store.uploads import UploadQueue
    from .common import settings_or_exit

    settings = settings_or_exit(args)
    store = _open(args, settings) if settings is not None else None
    if store is None or settings is None:
        return 2
    try:
        services = [args.to] if args.to else (settings.upload.after_session or ["strava"])
        queue = UploadQueue(store)
        ids: list[int] = []
        for number in args.session:
            info = store.session(number)
            if info.ended is None:
                print(f"error: session {number} is still live: it uploads when it ends",
                      file=sys.stderr)  # fmt: skip
                return 1
            ids.append(number)
            for service in services:
                if not queue.enqueue(number, service, time.time(), again=True):
                    state = queue.get(number, service)
                    print(f"session {number} → {service}: already {state.state}"
                          + (f" ({state.link})" if state.link else ""))  # fmt: skip
        if args.pending:
            ids += [s for s, ups in queue.of_sessions().items() if any(u.open for u in ups)]
        if not ids:
            print("nothing to upload (give session numbers, or --pending)")
            return 0
        done = asyncio.run(_carry(settings, store, sorted(set(ids)), args.wait))
    except (StoreError, AccountError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0 if done else 1


async def _carry(settings: Settings, store: SessionStore, ids: list[int], wait_s: float) -> bool:
    """Work the queue for these sessions; print where each went. True if all are done."""
    from ..platforms.uploader import Uploader, platforms

    async with platforms(settings) as found:
        uploader = Uploader(store, found)
        uploads = await uploader.settle(ids, wait_s)
    ok = True
    for u in uploads:
        if u.state == "done":
            note = f" ({u.message})" if u.message else ""
            print(f"session {u.session} → {u.service}: {u.link}{note}")
        elif u.open:
            ok = False
            print(f"session {u.session} → {u.service}: waiting ({u.message or 'not sent yet'}); "
                  "it goes with the gateway or `retrogate sessions upload --pending`")  # fmt: skip
        else:
            ok = False
            print(f"session {u.session} → {u.service}: {u.state}: {u.message}")
    return ok


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``sessions`` and ``export``."""
    from ..argtypes import age
    from ..destinations import UPLOAD_SERVICES
    from ..store.formats import FORMATS
    from .common import add_config_option, add_db_option

    parser = sub.add_parser(
        "sessions",
        help="list, show or prune the recorded sessions",
        description="Without an action: one line per session, newest first.",
    )
    add_config_option(parser)
    add_db_option(parser)
    parser.set_defaults(run=list_sessions)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", help="one session: totals, laps and a chart")
    add_config_option(show)
    add_db_option(show)
    show.add_argument("session", type=int, help="session id (`retrogate sessions` lists them)")
    show.add_argument("--svg", type=Path, help="also draw the chart into this SVG file")
    show.add_argument("--no-chart", action="store_true", help="the summary only")
    show.set_defaults(run=show_session)
    upload = actions.add_parser(
        "upload",
        help="upload sessions to Strava or intervals.icu (docs/platforms.md)",
        description="Queue the sessions and send them; what cannot go now (offline, a "
        "rate limit) stays queued and goes with the gateway or --pending later.",
    )
    add_config_option(upload)
    upload.add_argument("session", type=int, nargs="*", help="session ids")
    upload.add_argument(
        "--to", choices=UPLOAD_SERVICES, help="default: [upload] after_session, or strava"
    )
    upload.add_argument("--pending", action="store_true", help="also every upload still waiting")
    upload.add_argument(
        "--wait", type=float, default=120.0, metavar="S", help="give up waiting after S seconds"
    )
    upload.set_defaults(run=upload_sessions)
    prune = actions.add_parser("prune", help="delete old sessions (asks first)")
    add_config_option(prune)
    prune.add_argument(
        "--older-than",
        type=age,
        required=True,
        metavar="AGE",
        help="e.g. 90d, 12w or 36h: ended sessions that started longer ago are deleted",
    )
    prune.add_argument("--yes", action="store_true", help="do not ask")
    prune.set_defaults(run=prune_sessions)
    parser = sub.add_parser(
        "export",
        help="export a session for Strava, Garmin Connect or a spreadsheet",
        description="Write a recorded session as CSV, TCX or FIT "
        "(`retrogate sessions` lists them).",
    )
    add_config_option(parser)
    add_db_option(parser)
    parser.add_argument("session", type=int, help="session id")
    parser.add_argument("--format", choices=FORMATS, default="fit")
    parser.add_argument("-o", "--output", type=Path, help="file to write ('-' for stdout)")
    parser.set_defaults(run=export_session)
