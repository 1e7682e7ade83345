"""``retrogate plans`` and ``retrogate plans show NAME``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def run(args: argparse.Namespace) -> int:
    """List the builtin plans, or show one."""
    from ..safety.limits import SafetyLimits
    from ..workout.plan import PlanError, builtin_plans, resolve_plan

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


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``plans``."""
    parser = sub.add_parser("plans", help="list the builtin workout plans, or show one")
    parser.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    parser.add_argument("name", nargs="?", help="plan name or TOML file (for show)")
    parser.set_defaults(run=run)
