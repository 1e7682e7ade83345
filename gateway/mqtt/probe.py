"""Can the gateway reach its broker? One connection attempt, with the fix if not."""

from __future__ import annotations

import socket

import aiomqtt

from ..config import MqttConfig
from .tls import tls_parameters


def embedded_port_free(bind: str, port: int) -> bool:
    """True if the embedded broker could listen there.

    With SO_REUSEADDR, as the broker's own listener binds: a port whose last
    broker has gone (a client's connection still lingering on it) is free.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((bind, port))
        except OSError:
            return False
    return True


async def probe(cfg: MqttConfig, timeout_s: float = 3.0) -> tuple[bool, str, str]:
    """(ok, what happened, how to fix it) for the configured broker."""
    where = f"{cfg.broker}:{cfg.port}"
    tls = tls_parameters(cfg.ca_file, cfg.cert_file, cfg.key_file)
    try:
        async with aiomqtt.Client(
            cfg.broker,
            cfg.port,
            username=cfg.username,
            password=cfg.password.get_secret_value() if cfg.password else None,
            tls_params=tls,
            timeout=timeout_s,
        ):
            return True, f"connected to {where}", ""
    except aiomqtt.MqttCodeError as exc:
        text = str(exc)
        if "authori" in text.lower() or "password" in text.lower():
            return (
                False,
                f"{where} refused the login ({text})",
                ("check mqtt.username and mqtt.password (mosquitto_passwd on the broker)"),
            )
        return False, f"{where}: {text}", "check the broker's log"
    except aiomqtt.MqttError as exc:
        text = str(exc)
        if "refused" in text.lower():
            fix = (
                "start it (sudo systemctl start mosquitto), fix mqtt.broker/mqtt.port, "
                'or use broker = "embedded"'
            )
            return False, f"nothing accepts connections on {where}", fix
        if "ssl" in text.lower() or "certificate" in text.lower():
            return False, f"TLS with {where} failed ({text})", "check mqtt.ca_file and the port"
        return False, f"{where} unreachable ({text})", "check the host name, network and firewall"
