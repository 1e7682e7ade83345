"""``retrogate dashboard``: plugged into the CLI through the ``retrogate.commands`` entry point."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


def run(args: argparse.Namespace) -> int:
    """Open the dashboard until q."""
    from gateway.commands.common import settings_or_exit, voice_of

    if args.web:
        from .web import serve

        return serve(args)
    from .app import Dashboard

    settings = settings_or_exit(args)
    from gateway.commands.common import broker_of

    found = broker_of(args, settings) if settings is not None else None
    if settings is None or found is None:
        return 2
    address, prefix = found
    voice = voice_of(settings, args, config_enables=False)
    Dashboard(address, prefix=prefix, station=args.station, voice=voice, runner=args.runner).run()
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``dashboard``."""
    from gateway.commands.common import add_config_option, add_voice_options

    from .web import add_web_options

    parser = sub.add_parser(
        "dashboard",
        help="live terminal dashboard (reads MQTT; works from any machine)",
        description="Watch and steer treadmills through the broker. ? shows the keys.",
    )
    add_config_option(parser)
    parser.add_argument(
        "--broker", help="mqtt[s]://[user:pass@]host[:port] (default: the config's)"
    )
    parser.add_argument("--station", help="open this station directly")
    parser.add_argument(
        "--runner", action="store_true", help="start in the runner view (big, for 3 m away)"
    )
    add_voice_options(parser)
    add_web_options(parser)
    parser.set_defaults(run=run)
