"""``retrogate plans`` and ``retrogate plans show NAME``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Settings
    from ..safety.limits import SafetyLimits
    from ..workout.plan import Plan


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def describe(plan: Plan, limits: SafetyLimits) -> str:
    """A plan as text: header, segments, warnings."""
    lines = [f"{plan.name} (level {plan.level}, about {_minutes(plan.total_s)})"]
    if plan.description:
        lines.append(plan.description.strip())
    lines.append("")
    for i, seg in enumerate(plan.segments, start=1):
        end = (
            f"{seg.distance_m:.0f} m"
            if seg.distance_m is not None
            else _minutes(seg.duration_s or 0)
        )
        incline = f", {seg.incline_pct:g} %" if seg.incline_pct is not None else ""
        if seg.hr_bpm is not None:
            incline += f", hold HR {seg.hr_bpm[0]}-{seg.hr_bpm[1]} bpm"
        elif seg.hr_zone is not None:
            incline += f", hold HR zone {seg.hr_zone}"
        arrow = "<<" if seg.direction.value == "backward" else ">>"
        what = f"{seg.direction.value:8} {seg.speed_kmh:4.1f} km/h{incline}"
        lines.append(f"{i:3}. {arrow} {what}  {end:>7}  {seg.note}")
    warnings = plan.warnings(
        limits.backward_cap_kmh,
        limits.backward_segment_limit_m,
        age=limits.age,
        hr_ceiling_bpm=limits.hr_ceiling_bpm,
    )
    if warnings:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in warnings]
    return "\n".join(lines)


def slug(name: str) -> str:
    """A plan's file name from its title: what ``run --plan`` and ``load_plan`` take."""
    import re

    words = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return (words or "imported")[:60]


def _save(plan: Plan, settings: Settings, force: bool) -> int:
    """Write an imported plan into the plans folder; print it with its warnings."""
    from ..workout.plan import plan_to_toml

    name = slug(plan.name)
    path = settings.plans_dir / f"{name}.toml"
    if path.exists() and not force:
        print(f"error: {path} exists (--force replaces it)", file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(plan_to_toml(plan), encoding="utf-8")
    print(describe(plan, settings.safety.model_copy(update={"age": settings.runner.age})))
    print(f"\nsaved as {path}: `retrogate run --plan {name}` (or load_plan {name!r} over MQTT)")
    return 0


def import_plans(args: argparse.Namespace) -> int:
    """``plans import FILE.zwo`` or ``plans import intervals [--date D]``."""
    from pathlib import Path

    from ..workout.plan import PlanError
    from ..workout.zwo import plan_from_zwo
    from .common import settings_or_exit

    settings = settings_or_exit(args)
    if settings is None:
        return 2
    if not args.name:
        print("error: plans import needs a .zwo file, or 'intervals'", file=sys.stderr)
        return 2
    threshold = settings.runner.threshold_kmh
    if args.name == "intervals":
        return _import_intervals(args, settings)
    path = Path(args.name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"error: {path}: cannot read: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        plan = plan_from_zwo(data, str(path), threshold)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return _save(plan, settings, args.force)


def _import_intervals(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import datetime

    from ..platforms.accounts import AccountError, Accounts
    from ..platforms.intervals import IntervalsError, planned_workouts
    from ..workout.plan import PlanError
    from ..workout.zwo import plan_from_zwo

    try:
        account = Accounts(settings.data_dir).load("intervals")
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if account is None:
        print("error: intervals.icu is not connected: run `retrogate connect intervals`",
              file=sys.stderr)  # fmt: skip
        return 1
    day = args.date or datetime.date.today().isoformat()
    try:
        found = asyncio.run(planned_workouts(settings.upload.intervals_url, account, day, day))
    except IntervalsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not found:
        print(f"no planned workout on {day} in intervals.icu")
        return 0
    status = 0
    for workout in found:
        where = f"intervals.icu {workout.date} {workout.name!r}"
        if workout.sport not in ("Run", "VirtualRun", "Walk"):
            print(f"skipped {where}: a {workout.sport or 'non-run'} workout, not for a treadmill")
            continue
        if workout.zwo is None:
            print(f"skipped {where}: intervals.icu gave no .zwo file for it")
            continue
        try:
            plan = plan_from_zwo(workout.zwo, where, settings.runner.threshold_kmh)
        except PlanError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        status = max(status, _save(plan, settings, args.force))
    return status


def run(args: argparse.Namespace) -> int:
    """List the builtin plans, or show one."""
    from ..safety.limits import SafetyLimits
    from ..workout.plan import PlanError, builtin_plans, resolve_plan

    if args.action == "import":
        return import_plans(args)
    if args.action == "show":
        if not args.name:
            print("error: plans show needs a plan name or file", file=sys.stderr)
            return 2
        try:
            print(describe(resolve_plan(args.name), SafetyLimits()))
        except PlanError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    for name, plan in builtin_plans().items():
        summary = plan.description.strip().splitlines()[0] if plan.description.strip() else ""
        print(f"{name:26} level {plan.level}  {_minutes(plan.total_s):>7}  {summary}")
    print("\n`retrogate plans show NAME` for the segments; `retrogate run --plan NAME` to run one.")
    return 0


def _day(text: str) -> str:
    import datetime

    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, not {text!r}") from None


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``plans``."""
    from .common import add_config_option

    parser = sub.add_parser(
        "plans",
        help="list the builtin workout plans, show one, or import one (.zwo, intervals.icu)",
        description="`plans import FILE.zwo` or `plans import intervals [--date D]` turns a "
        "run workout into a plan in your plans folder (docs/platforms.md).",
    )
    add_config_option(parser)
    parser.add_argument("action", nargs="?", choices=["list", "show", "import"], default="list")
    parser.add_argument(
        "name", nargs="?", help="plan name or TOML file (show); a .zwo file or 'intervals' (import)"
    )
    parser.add_argument(
        "--date",
        type=_day,
        help="import intervals: the day's planned workouts (YYYY-MM-DD; default today)",
    )
    parser.add_argument("--force", action="store_true", help="import: replace a plan of that name")
    parser.set_defaults(run=run)
