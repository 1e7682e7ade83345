"""The embedded broker: a private mosquitto when it is installed, else amqtt in-process.

A private mosquitto (``broker = "embedded"``, mosquitto on the machine):
loopback by default, MQTT 5 and 3.1.1, persistence in the data directory,
no anonymous access (a generated password, kept in
``<data_dir>/broker/credentials`` for the dashboard and you), Nagle off. The
fallback when mosquitto is not installed is amqtt inside the gateway: MQTT
3.1.1 only, no authentication, nothing persisted; docs/mqtt.md lists what
it cannot do.

It binds loopback by default: a broker that accepts commands for a belt
should not appear on the LAN unless someone decides so (``mqtt.embedded_bind``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import getpass
import logging
import os
import secrets
import select
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..config import CentralBridge
from ..errors import RetrogateError
from .probe import embedded_port_free

log = logging.getLogger(__name__)

USER = "retrogate"


class BrokerStartError(RetrogateError):
    """The embedded broker could not listen (the message says what to do)."""


@dataclass(frozen=True, slots=True)
class EmbeddedBroker:
    """Where the embedded broker listens and how to log in."""

    kind: Literal["mosquitto", "amqtt"]
    host: str
    port: int
    protocol: Literal["3.1.1", "5"]
    username: str | None = None
    password: str | None = None


def mosquitto_commands() -> tuple[str, str] | None:
    """mosquitto and mosquitto_passwd, if installed (Debian puts them in /usr/sbin, /usr/bin)."""
    broker = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    passwd = shutil.which("mosquitto_passwd")
    return (broker, passwd) if broker and passwd else None


def credentials(data_dir: Path) -> tuple[str, str] | None:
    """The private broker's user and password, if it was ever started here."""
    path = data_dir / "broker" / "credentials"
    try:
        user, _, password = path.read_text(encoding="utf-8").strip().partition(":")
    except OSError:
        return None
    return (user, password) if user and password else None


def _make_credentials(folder: Path, passwd_command: str) -> tuple[str, str]:
    path = folder / "credentials"
    existing = credentials(folder.parent)
    if existing is not None and (folder / "passwd").exists():
        return existing
    password = secrets.token_urlsafe(18)
    path.touch(mode=0o600)
    path.write_text(f"{USER}:{password}\n", encoding="utf-8")
    subprocess.run(
        [passwd_command, "-b", "-c", str(folder / "passwd"), USER, password],
        check=True,
        capture_output=True,
    )
    return USER, password


@dataclass(frozen=True, slots=True)
class Uplink:
    """The embedded mosquitto's bridge to a site's central broker (``[mqtt.bridge]``)."""

    central: CentralBridge
    gateway: str
    prefix: str
    stations: tuple[str, ...]

    @property
    def client_id(self) -> str:
        """The bridge's id on the central broker: one per gateway."""
        return self.central.client_id or f"retrogate-bridge-{self.gateway}"

    @property
    def notification_topic(self) -> str:
        """Where mosquitto says whether the bridge is up ("1") or down ("0"), on both brokers."""
        return f"{self.prefix}/gateways/{self.gateway}/bridge"

    def lines(self) -> list[str]:
        """The mosquitto ``connection`` block.

        Everything under the prefix goes out (QoS 1); only the commands for this
        gateway's own stations come in, with every gateway's owner record and
        status (a station id clash is refused across the site). A persistent
        session on both sides, and the local queue (``max_queued_messages``),
        keep what an outage of the central broker or of the network holds up.
        """
        c = self.central
        out = [
            f"max_queued_messages {c.queue_max}",
            f"connection {self.client_id}",
            f"address {c.address}:{c.port}",
            f"remote_clientid {self.client_id}",
            "bridge_protocol_version mqttv311",
            "cleansession false",
            "local_cleansession false",
            "try_private true",
            "notifications true",
            f"notification_topic {self.notification_topic}",
            "restart_timeout 1 10",  # back within 10 s of the central broker
            "keepalive_interval 15",
        ]
        if c.username is not None:
            out.append(f"remote_username {c.username}")
        if c.password is not None:
            out.append(f"remote_password {c.password.get_secret_value()}")
        for option, path in (
            ("bridge_cafile", c.ca_file),
            ("bridge_certfile", c.cert_file),
            ("bridge_keyfile", c.key_file),
        ):
            if path is not None:
                out.append(f"{option} {path}")
        out.append(f"topic {self.prefix}/# out 1")
        out += [f"topic {self.prefix}/{station}/cmd in 1" for station in self.stations]
        out.append(f"topic {self.prefix}/gateways/{self.gateway}/replay in 1")
        out.append(f"topic {self.prefix}/+/owner in 1")
        out.append(f"topic {self.prefix}/gateways/+/status in 1")
        return out


def _config(folder: Path, bind: str, port: int, uplink: Uplink | None = None) -> Path:
    lines = [
        f"listener {port} {bind}",
        "allow_anonymous false",
        f"password_file {folder / 'passwd'}",
        "persistence true",
        f"persistence_location {folder}/",
        "autosave_interval 10",
        "set_tcp_nodelay true",
        f"log_dest file {folder / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
    ]
    if os.geteuid() == 0:  # as root, mosquitto would switch to a user who cannot read these
        lines.append(f"user {getpass.getuser()}")
    if uplink is not None:
        lines += uplink.lines()
    path = folder / "mosquitto.conf"
    path.touch(mode=0o600)  # it may hold the central broker's password
    os.chmod(path, 0o600)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _exit_reason(log_file: Path) -> str:
    return log_file.read_text(errors="replace").strip()[-300:] if log_file.exists() else ""


async def wait_listening(host: str, port: int, exited: Callable[[], bool]) -> bool:
    """Until a freshly started broker accepts connections: True, or False if it exited.

    Polls the port (a starting server has nothing to wait on); callers bound
    it with a timeout.
    """
    while not exited():
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.02)  # polling a port that is not open yet
            continue
        writer.close()
        await writer.wait_closed()
        return True
    return False


async def _listening(
    host: str, port: int, process: asyncio.subprocess.Process, log_file: Path
) -> None:
    async with asyncio.timeout(10):
        if await wait_listening(host, port, lambda: process.returncode is not None):
            return
    reason = _exit_reason(log_file)
    if "Address already in use" in reason:
        raise OSError(errno.EADDRINUSE, "address in use")
    raise BrokerStartError(f"the private mosquitto exited: {reason}")


def _tied_to_us(argv: list[str]) -> list[str]:
    """The broker dies with the gateway, even a SIGKILLed one: util-linux's ``setpriv``
    sets the parent-death signal and then runs the broker (no ``preexec_fn``, which is
    unsafe with threads). Without setpriv, the stale-broker check below still helps."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


def _ours(pid: int, config: Path) -> bool:
    """Is ``pid`` a broker started with our own config file (so: our data directory)?"""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(config).encode() in argv and any(b"mosquitto" in a for a in argv)


def reclaim_stale(folder: Path, config: Path, timeout_s: float = 5.0) -> int | None:
    """Stop a broker a dead gateway of this data directory left behind; its pid, or None.

    Proven ours by the pid file we wrote when we started it and by its command
    line naming our config file (a reused pid is someone else's: left alone).
    """
    pid_file = folder / "mosquitto.pid"
    try:
        pid = int(pid_file.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    if not _ours(pid, config):
        pid_file.unlink(missing_ok=True)
        return None
    try:
        handle = os.pidfd_open(pid)
    except OSError:
        return None
    try:
        os.kill(pid, signal.SIGTERM)
        if not select.select([handle], [], [], timeout_s)[0]:  # readable once it exited
            os.kill(pid, signal.SIGKILL)
            select.select([handle], [], [], timeout_s)
    except ProcessLookupError:
        pass
    finally:
        os.close(handle)
    pid_file.unlink(missing_ok=True)
    return pid


@contextlib.asynccontextmanager
async def _private_mosquitto(
    bind: str, port: int, data_dir: Path, commands: tuple[str, str], uplink: Uplink | None
) -> AsyncIterator[EmbeddedBroker]:
    folder = data_dir / "broker"
    config = folder / "mosquitto.conf"
    if not embedded_port_free(bind, port):  # else a connect test would find the other one
        stale = await asyncio.to_thread(reclaim_stale, folder, config)
        if stale is None or not embedded_port_free(bind, port):
            raise _port_taken(bind, port)
        log.warning("stopped the broker a previous gateway left running (pid %d)", stale)
    folder.mkdir(parents=True, exist_ok=True)
    user, password = await asyncio.to_thread(_make_credentials, folder, commands[1])
    config = _config(folder, bind, port, uplink)
    host = "127.0.0.1" if bind in ("0.0.0.0", "") else bind
    process = await asyncio.create_subprocess_exec(
        *_tied_to_us([commands[0], "-c", str(config)]),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    (folder / "mosquitto.pid").write_text(f"{process.pid}\n", encoding="utf-8")
    try:
        try:
            await _listening(host, port, process, folder / "mosquitto.log")
        except OSError as exc:
            raise _port_taken(bind, port) from exc
        except TimeoutError as exc:
            raise BrokerStartError(f"mosquitto did not listen on {bind}:{port}") from exc
        log.info("embedded broker (mosquitto) listening on %s:%d", bind, port)
        yield EmbeddedBroker("mosquitto", host, port, "5", user, password)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(5):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        (folder / "mosquitto.pid").unlink(missing_ok=True)


def _port_taken(bind: str, port: int) -> BrokerStartError:
    return BrokerStartError(
        f"port {port} on {bind} is already in use (another broker?): use it with "
        f'mqtt.broker = "localhost" in the config, or choose another mqtt.port'
    )


def _amqtt_broker(config: dict[str, object]) -> Any:
    """amqtt's Broker, fixed: a connecting client gets only its own subscriptions' retained
    messages (amqtt 0.12 hands it those of every client's subscriptions)."""
    from amqtt.broker import Broker  # only when mosquitto is not there

    class OwnRetained(Broker):  # type: ignore[misc]
        async def _publish_retained_messages_for_subscription(
            self, subscription: tuple[str, int], session: Any
        ) -> None:
            holders = self._subscriptions.get(subscription[0], [])
            if any(held.client_id == session.client_id for held, _ in holders):
                await super()._publish_retained_messages_for_subscription(subscription, session)

    return OwnRetained(config)


@contextlib.asynccontextmanager
async def _amqtt(bind: str, port: int) -> AsyncIterator[EmbeddedBroker]:
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    broker = _amqtt_broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{bind}:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    try:
        await broker.start()
    except Exception as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, OSError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
            raise _port_taken(bind, port) from exc
        raise BrokerStartError(
            f"the embedded broker did not start on {bind}:{port}: {exc}"
        ) from exc
    log.warning(
        "embedded broker: amqtt on %s:%d (MQTT 3.1.1, no password: any local user can send "
        "commands). Install mosquitto for a private broker with a password and MQTT 5.",
        bind,
        port,
    )
    host = "127.0.0.1" if bind in ("0.0.0.0", "") else bind
    try:
        yield EmbeddedBroker("amqtt", host, port, "3.1.1")
    finally:
        await broker.shutdown()


@contextlib.asynccontextmanager
async def embedded_broker(
    bind: str,
    port: int,
    data_dir: Path,
    kind: Literal["auto", "mosquitto", "amqtt"] = "auto",
    uplink: Uplink | None = None,
) -> AsyncIterator[EmbeddedBroker]:
    """The embedded broker for the duration of the block (bridged, with an uplink)."""
    commands = mosquitto_commands()
    if (kind == "mosquitto" or uplink is not None) and commands is None:
        why = "[mqtt.bridge] is set" if uplink is not None else 'mqtt.embedded = "mosquitto"'
        raise BrokerStartError(
            f"{why} but mosquitto is not installed (sudo apt-get install mosquitto)"
        )
    if kind != "amqtt" and commands is not None:
        async with _private_mosquitto(bind, port, data_dir, commands, uplink) as broker:
            yield broker
    else:
        async with _amqtt(bind, port) as broker:
            yield broker
