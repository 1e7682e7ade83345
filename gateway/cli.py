"""The ``retrogate`` command: one subcommand per module in ``gateway.commands``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from importlib.metadata import entry_points

from .commands import COMMANDS, Subcommand

# Commands that live outside the gateway package (the simulator, the
# dashboard) plug in through this entry-point group, so the gateway never
# imports them.
PLUGIN_GROUP = "retrogate.commands"


def _commands() -> Iterator[Subcommand]:
    yield from COMMANDS
    for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        module: Subcommand = entry.load()
        yield module


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (separate so tests and docs can inspect it)."""
    parser = argparse.ArgumentParser(
        prog="retrogate",
        description="A safe, visible gateway for backward running on FTMS treadmills.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _commands():
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status.

    A reader that goes away (``retrogate sessions | head``) ends every command the
    way it ends a shell tool: quietly, with 128 + SIGPIPE, not a traceback.
    """
    try:
        args = build_parser().parse_args(argv)
        status: int = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the exit's own flush must not fail again
        return 128 + signal.SIGPIPE
    return status


if __name__ == "__main__":
    sys.exit(main())
