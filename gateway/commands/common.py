"""Shared option handling for the commands."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``."""
    parser.add_argument("--config", type=Path, help="config file (default: the user config dir)")


def settings_or_exit(args: argparse.Namespace) -> Settings | None:
    """Load the config; print the problem and return None when it is invalid."""
    from ..config import ConfigError, load_config

    try:
        return load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def setup_logging(verbose: bool = False) -> None:
    """Concise logs on stderr."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname).1s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("bleak", "dbus_fast", "amqtt", "transitions", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def bluetooth_ready(adapter: str, devices: dict[str, str] | None = None) -> bool:
    """Before scanning or a real session: the doctor's checks, each failure with its fix.

    False (after saying why, one line and a fix each) when D-Bus, BlueZ or
    the adapter cannot work; a device not seen yet is only a warning.
    """
    import asyncio

    from ..ble.diagnose import bluetooth_checks  # bleak and dbus only when a command needs them

    checks = asyncio.run(bluetooth_checks(adapter, devices or {}))
    fatal = False
    for check in checks:
        if check.ok:
            continue
        blocking = check.name in ("D-Bus", "BlueZ", "adapter")
        fatal = fatal or blocking
        print(
            f"{'error' if blocking else 'warning'}: {check.name}: {check.detail}", file=sys.stderr
        )
        print(f"  fix: {check.fix}", file=sys.stderr)
    return not fatal
