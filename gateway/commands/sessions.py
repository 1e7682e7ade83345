"""``retrogate sessions`` and ``retrogate export SESSION --format tcx|fit|csv``."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..store.db import SessionStore


def _open(args: argparse.Namespace) -> SessionStore | None:
    from ..store.db import SessionStore, StoreError
    from .common import settings_or_exit

    settings = settings_or_exit(args)
    if settings is None:
        return None
    try:
        return SessionStore.in_dir(settings.data_dir)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02}:{secs:02}"


def list_sessions(args: argparse.Namespace) -> int:
    """One line per session, newest first: time, distance (backward too), energy, HR."""
    from ..store.timeline import summarize

    store = _open(args)
    if store is None:
        return 2
    try:
        sessions = store.sessions()
        if not sessions:
            print(f"no sessions yet in {store.path} (run `retrogate run` or `retrogate demo`)")
            return 0
        print(f"{'id':>4}  {'started':16}  {'station':10} {'time':>8} {'dist':>8} "
              f"{'backward':>14} {'kcal':>5} {'avg HR':>6}  plan")  # fmt: skip
        for info in sessions:
            _, mean_hr = store.summary(info.id)
            totals = summarize(store.points(info.id))
            distance = f"{totals.distance_m:.0f} m" if info.records else "-"
            backward = f"{totals.backward_m:.0f} m {_duration(totals.backward_s)[2:]}"
            kcal = f"{totals.energy_kcal:.0f}" if totals.energy_kcal is not None else "-"
            avg_hr = f"{mean_hr:.0f}" if mean_hr else "-"
            state = "" if info.ended else " (live)"
            started = datetime.fromtimestamp(info.started).strftime("%Y-%m-%d %H:%M")
            print(
                f"{info.id:>4}  {started:16}  {info.station:10} "
                f"{_duration(totals.time_s):>8} {distance:>8} {backward:>14} {kcal:>5} "
                f"{avg_hr:>6}  {info.plan or 'free'}{state}"
            )
        return 0
    finally:
        store.close()


def export_session(args: argparse.Namespace) -> int:
    """Write one session as CSV, TCX or FIT."""
    from ..store.db import StoreError
    from ..store.export import export

    store = _open(args)
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


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``sessions`` and ``export``."""
    from ..store.formats import FORMATS
    from .common import add_config_option

    parser = sub.add_parser("sessions", help="list the recorded sessions")
    add_config_option(parser)
    parser.set_defaults(run=list_sessions)
    parser = sub.add_parser(
        "export",
        help="export a session for Strava, Garmin Connect or a spreadsheet",
        description="Write a recorded session as CSV, TCX or FIT "
        "(`retrogate sessions` lists them).",
    )
    add_config_option(parser)
    parser.add_argument("session", type=int, help="session id")
    parser.add_argument("--format", choices=FORMATS, default="fit")
    parser.add_argument("-o", "--output", type=Path, help="file to write ('-' for stdout)")
    parser.set_defaults(run=export_session)
