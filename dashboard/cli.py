"""``retrogate dashboard``: plugged into the CLI through the ``retrogate.commands`` entry point."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.mqtt.consumer import BrokerAddress


def broker_of(
    args: argparse.Namespace, settings: Settings | None = None
) -> tuple[BrokerAddress, str] | None:
    """The broker from --broker, else from the config (the embedded one on loopback)."""
    from gateway.commands.common import settings_or_exit
    from gateway.mqtt.broker import credentials
    from gateway.mqtt.consumer import AddressError, BrokerAddress

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


def run(args: argparse.Namespace) -> int:
    """Open the dashboard until q."""
    from gateway.commands.common import settings_or_exit, voice_of

    if args.web:
        from .web import serve

        return serve(args)
    from .app import Dashboard

    settings = settings_or_exit(args)
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
