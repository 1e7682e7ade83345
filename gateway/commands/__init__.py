"""Subcommands of ``retrogate``; each module offers ``register(subparsers)``.

``register`` adds the subparser and sets ``run`` as its default, so the CLI
core never changes when a command is added.
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from . import archive, coach, connect, decode, doctor, pair, plans, run, scan, schema, sessions


class Subcommand(Protocol):
    """A module that adds one subcommand."""

    def register(self, sub: argparse._SubParsersAction[Any]) -> None:  # pragma: no cover
        """Add the subparser and set ``run`` on it."""


COMMANDS: tuple[Subcommand, ...] = (
    run,
    plans,
    coach,
    scan,
    pair,
    decode,
    sessions,
    connect,
    archive,
    schema,
    doctor,
)
