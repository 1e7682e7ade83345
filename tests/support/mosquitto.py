"""A real mosquitto on a free loopback port, for the integration tests.

Persistence is on with a one-second autosave, so a subscriber's persistent
session survives a SIGKILL of the broker (as it would on a production
broker configured the same way: docs/mqtt.md). Optional password file and
TLS (a throwaway CA made with openssl) for the auth tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from gateway.mqtt.broker import wait_listening

from .services import require

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
USER, PASSWORD = "runner", "s3cret-belt"


def free_port() -> int:
    """A loopback port nobody listens on (right now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def require_mosquitto() -> None:
    """Skip locally, fail under CI, when mosquitto is not installed."""
    require(
        Path(MOSQUITTO).exists() and shutil.which("mosquitto_passwd") is not None,
        "mosquitto",
        "apt-get install -y mosquitto (the broker the integration tests run)",
    )


def make_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1: (ca, cert, key)."""
    require(shutil.which("openssl") is not None, "openssl", "apt-get install -y openssl")
    ca_key, ca = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(key), "-out", str(csr))  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return ca, cert, key


@dataclass
class Mosquitto:
    """One broker process; ``kill()`` and ``start()`` again on the same port."""

    directory: Path
    port: int = field(default_factory=free_port)
    auth: bool = False
    tls: bool = False
    autosave_s: int = 1
    process: subprocess.Popen[bytes] | None = None
    ca: Path | None = None

    def _config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            # Run as root (CI), mosquitto would switch to the user "mosquitto",
            # who cannot read a test's files.
            f"user {getpass.getuser()}",
            "persistence true",
            f"persistence_location {self.directory}/",
            f"autosave_interval {self.autosave_s}",
            "max_queued_messages 100000",
            "set_tcp_nodelay true",  # as docs/mqtt.md recommends: answers in ms, not 40 ms
            f"log_dest file {self.directory / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if self.auth:
            passwd = self.directory / "passwd"
            if not passwd.exists():
                subprocess.run(
                    ["mosquitto_passwd", "-b", "-c", str(passwd), USER, PASSWORD],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            self.ca, cert, key = make_tls(self.directory)
            lines += [f"cafile {self.ca}", f"certfile {cert}", f"keyfile {key}"]
        config = self.directory / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    @property
    def persisted(self) -> bool:
        """True once the broker has written its state to disk at least once."""
        return (self.directory / "mosquitto.db").exists()

    def _spawn(self) -> Path:
        config = self._config()
        stderr = self.directory / "stderr.txt"
        with stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=err
            )
        return stderr

    async def start(self) -> None:
        """Start (or restart) and wait until it accepts connections."""
        stderr = self._spawn()
        assert self.process is not None
        process = self.process
        async with asyncio.timeout(10):
            up = await wait_listening("127.0.0.1", self.port, lambda: process.poll() is not None)
        if not up:
            raise RuntimeError(f"mosquitto exited: {stderr.read_text()}")

    def kill(self) -> None:
        """SIGKILL: whatever the broker held only in memory is gone."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """A clean stop."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.asynccontextmanager
async def running_mosquitto(
    directory: Path, *, auth: bool = False, tls: bool = False, autosave_s: int = 1
) -> AsyncIterator[Mosquitto]:
    """A started broker, stopped at the end."""
    require_mosquitto()
    broker = Mosquitto(directory, auth=auth, tls=tls, autosave_s=autosave_s)
    await broker.start()
    try:
        yield broker
    finally:
        broker.stop()
