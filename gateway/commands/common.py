"""Shared option handling for the commands."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings, VoiceConfig
    from ..mqtt.consumer import BrokerAddress


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``."""
    parser.add_argument("--config", type=Path, help="config file (default: the user config dir)")


def add_db_option(parser: argparse.ArgumentParser) -> None:
    """``--db URL``: read the site's archive instead of this gateway's store."""
    parser.add_argument(
        "--db",
        metavar="URL",
        default=os.environ.get("RETROGATE_ARCHIVE_DB"),
        help="the site's archive (postgresql://user@host/db; also RETROGATE_ARCHIVE_DB) "
        "instead of this gateway's sessions (docs/gym.md)",
    )


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


def add_voice_options(parser: argparse.ArgumentParser) -> None:
    """``--voice``, ``--mute`` and ``--voice-to`` (the same on run, demo and dashboard)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--voice", action="store_true", help="speak cues: countdowns, metres left, interventions"
    )
    group.add_argument("--mute", action="store_true", help="no cues, whatever the config says")
    parser.add_argument(
        "--voice-to",
        type=Path,
        metavar="DIR",
        help="write each cue to a numbered WAV file in DIR instead of the speaker",
    )


def voice_of(
    settings: Settings, args: argparse.Namespace, *, config_enables: bool = True
) -> VoiceConfig | None:
    """The ``[voice]`` config as the command line amends it; None when silent.

    ``[voice] enabled`` speaks on the gateway (``run``); a dashboard speaks only
    when asked (``config_enables=False``), or a Pi and a laptop would talk at once.
    """
    config = settings.voice
    if args.voice_to is not None:
        config = config.model_copy(update={"record_dir": args.voice_to})
    asked = args.voice or args.voice_to is not None
    wanted = (asked or (config.enabled and config_enables)) and not args.mute
    return config if wanted else None


def broker_of(
    args: argparse.Namespace, settings: Settings | None = None
) -> tuple[BrokerAddress, str] | None:
    """The broker from --broker, else from the config (the embedded one on loopback)."""
    import dataclasses

    from ..mqtt.broker import credentials
    from ..mqtt.consumer import AddressError, BrokerAddress

    settings = settings or settings_or_exit(args)
    if settings is None:
        return None
    prefix = settings.mqtt.prefix
    if args.broker:
        try:
            address = BrokerAddress.parse(args.broker, settings.mqtt.ca_file)
        except AddressError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return None
        if address.password is not None:
            print(
                "warning: a password in --broker is visible to every user in the process "
                "list; put it in the config ([mqtt] password) or in RETROGATE_MQTT__PASSWORD",
                file=sys.stderr,
            )
        elif address.username is not None and settings.mqtt.password is not None:
            address = dataclasses.replace(
                address, password=settings.mqtt.password.get_secret_value()
            )
        return address, prefix
    mqtt = settings.mqtt
    host = "127.0.0.1" if mqtt.broker in ("embedded", "none") else mqtt.broker
    password = mqtt.password.get_secret_value() if mqtt.password else None
    if mqtt.broker == "embedded" and mqtt.username is None:
        login = credentials(settings.data_dir)  # the private mosquitto's generated password
        if login is not None:
            return BrokerAddress(host, mqtt.port, *login, False, None), prefix
    tls = mqtt.ca_file is not None
    return BrokerAddress(host, mqtt.port, mqtt.username, password, tls, mqtt.ca_file), prefix
