"""``retrogate coach``: the next session from the sessions so far, with its reasons.

Writes the plan to ``<plans folder>/next.toml``, so ``retrogate run --plan
next`` runs it (and ``load_plan next`` over MQTT loads it); ``--history``
draws the progression so far. The rules are in docs/coach.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any


def run(args: argparse.Namespace) -> int:
    """Propose, explain, write."""
    from ..archive.db import ArchiveError
    from ..store.db import SessionSource, SessionStore, StoreError
    from ..store.facts import history
    from ..workout.coach import ladder, propose, rung_of, top_kmh
    from ..workout.plan import plan_to_toml
    from .common import settings_or_exit
    from .plans import describe

    settings = settings_or_exit(args)
    if settings is None:
        return 2
    try:
        store: SessionSource
        if args.db:
            from ..archive.reader import ArchiveReader

            store = ArchiveReader(args.db)
        else:
            store = SessionStore.in_dir(settings.data_dir)
        try:
            past = history(store, args.station)
        finally:
            store.close()
    except (StoreError, ArchiveError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    runner, limits = settings.runner, settings.safety
    ceiling = runner.max_backward_kmh if runner.experience == "rehabilitation" else None
    if args.history:
        from ..store.chart import progression_chart

        backward = [f for f in past if f.backward_stretches]
        if not backward:
            print("no backward sessions recorded yet")
            return 0
        days = [time.strftime("%m-%d", time.localtime(f.started)) for f in backward]
        kmh = [round(f.backward_kmh, 1) for f in backward]
        metres = [f.backward_m for f in backward]
        # a file or a pipe gets the chart without colour codes
        print(progression_chart(days, kmh, metres, colour=sys.stdout.isatty()))
        rungs = ladder(top_kmh(limits.backward_cap_kmh, ceiling))
        for day, f in zip(days, backward, strict=True):
            mark = "ok" if f.clean else "trouble"
            print(f"  {day}  {rungs[rung_of(f, rungs)]}  ({mark})")
        return 0
    proposal = propose(
        past,
        now=time.time(),
        cap_kmh=limits.backward_cap_kmh,
        experience=runner.experience,
        ceiling_kmh=ceiling,
    )
    for reason in proposal.reasons:
        print(f"- {reason}")
    target: Path = args.output or settings.plans_dir / "next.toml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(plan_to_toml(proposal.plan), encoding="utf-8")
    print()
    print(describe(proposal.plan, limits))
    how = "retrogate run --plan next" if args.output is None else f"retrogate run --plan {target}"
    print(f"\nwritten to {target}: `{how}` runs it")
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``coach``."""
    from .common import add_config_option, add_db_option

    parser = sub.add_parser(
        "coach",
        help="propose the next session from the ones so far (writes the plan 'next')",
        description="Read the session store and propose the next session as a plan file, with "
        "its reasons: backward walking before running, stretches 50 -> 100 m before speed, no "
        "step up after trouble (docs/coach.md).",
    )
    add_config_option(parser)
    add_db_option(parser)
    parser.add_argument(
        "--station", help="only this station's sessions (a runner's treadmill, in an archive)"
    )
    parser.add_argument("--history", action="store_true", help="the progression so far, as a chart")
    parser.add_argument(
        "-o", "--output", type=Path, help="write the plan here (default: <plans folder>/next.toml)"
    )
    parser.set_defaults(run=run)
