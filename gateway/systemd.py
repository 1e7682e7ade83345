"""systemd's notify protocol (READY, WATCHDOG, STOPPING), without a dependency.

Under a ``Type=notify`` unit with ``WatchdogSec=``, the gateway pings from
its event loop: a loop that hangs stops pinging, and systemd kills and
restarts the gateway (which then slows a moving belt first, SAFETY.md 12).
Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(message: str, environ: dict[str, str] | None = None) -> bool:
    """Send one notification; False when not under systemd (or it failed)."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(message.encode(), address)
    except OSError as exc:
        log.warning("systemd notify %r failed: %s", message, exc)
        return False
    return True


def watchdog_interval_s(environ: dict[str, str] | None = None) -> float | None:
    """Half the unit's WatchdogSec (systemd's advice), or None without a watchdog."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2 / 1_000_000
    except ValueError:
        return None


async def watchdog(interval_s: float) -> None:
    """Ping from the event loop itself: if the loop stalls, the pings stop."""
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval_s)
