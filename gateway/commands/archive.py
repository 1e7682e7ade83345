"""``retrogate archive --db postgresql://…``: every station of a site, into PostgreSQL.

Runs as a service next to the central broker (docs/gym.md has a systemd
unit). It reads the central broker as any client does: ``--broker``, else
the ``[mqtt]`` settings, as the dashboard finds its broker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any


def run(args: argparse.Namespace) -> int:
    """Archive until SIGTERM or Ctrl-C."""
    from ..archive.db import ArchiveError, safe_url
    from ..archive.service import Archive
    from .common import broker_of, settings_or_exit, setup_logging

    setup_logging(args.verbose)
    if not args.db:
        print("error: --db postgresql://… (or RETROGATE_ARCHIVE_DB) is needed", file=sys.stderr)
        return 2
    settings = settings_or_exit(args)
    found = broker_of(args, settings) if settings is not None else None
    if found is None:
        return 2
    address, prefix = found
    archive = Archive(args.db, address, prefix, args.client_id)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        logging.getLogger(__name__).info(
            "archive: %s:%d into %s", address.host, address.port, safe_url(args.db)
        )
        with contextlib.suppress(asyncio.CancelledError):
            await archive.run()

    try:
        asyncio.run(main())
    except ArchiveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``archive``."""
    from .common import add_config_option, add_db_option

    parser = sub.add_parser(
        "archive",
        help="archive every station of a site from its central broker into PostgreSQL",
        description="Subscribe to every station on the (central) broker with a persistent "
        "session and write telemetry, heart rate, decisions, alerts and sessions into "
        "PostgreSQL, each message once (docs/gym.md).",
    )
    add_config_option(parser)
    add_db_option(parser)
    parser.add_argument("--broker", help="mqtt[s]://[user@]host[:port] (default: from [mqtt])")
    parser.add_argument(
        "--client-id",
        default="retrogate-archive",
        help="the archive's persistent session on the broker (one per archive)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.set_defaults(run=run)
