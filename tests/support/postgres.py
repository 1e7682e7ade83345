"""A real PostgreSQL from Debian, in a temporary directory (initdb), for the archive tests.

Debian keeps the server programs in /usr/lib/postgresql/<version>/bin. The
cluster listens on a free loopback port and a socket in its own directory,
trusts local connections (a throwaway cluster), and is stopped (fast) at the
end. PostgreSQL refuses to run as root: as root (CI), it runs as the
``postgres`` user the Debian package creates.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .mosquitto import free_port
from .services import require


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def require_postgres() -> Path:
    """The server's bin directory; skips locally, fails under CI, when it is missing."""
    bin_dir = _bin_dir()
    require(
        bin_dir is not None and (bin_dir / "pg_ctl").exists(),
        "postgresql",
        "apt-get install -y postgresql (the archive's tests run a real server)",
    )
    assert bin_dir is not None
    return bin_dir


@dataclass
class Postgres:
    """A running cluster: connect with :attr:`url`."""

    directory: Path
    port: int
    bin_dir: Path
    user: str | None  # who runs it (None: us)

    @property
    def url(self) -> str:
        """A libpq URL to the ``archive`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/archive"

    def _run(self, *argv: str) -> None:
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """Start (or start again) and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-w", "-t", "60",
                  "-l", str(self.directory / "server.log"), "-o", options, "start")  # fmt: skip

    def stop(self) -> None:
        """A fast, clean stop."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")


@contextlib.contextmanager
def running_postgres(directory: Path) -> Iterator[Postgres]:
    """initdb, start, create the ``archive`` database; stop at the end."""
    bin_dir = require_postgres()
    directory.mkdir(parents=True, exist_ok=True)
    user = "postgres" if os.geteuid() == 0 else None
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        for parent in directory.parents:  # the server must reach its own directory
            if parent == Path("/"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
    server = Postgres(directory, free_port(), bin_dir, user)
    server._run("initdb", "-D", str(directory / "data"), "-U", "postgres", "-A", "trust",
                "--no-sync", "-E", "UTF8")  # fmt: skip
    server.start()
    try:
        server._run("createdb", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
                    "archive")  # fmt: skip
        yield server
    finally:
        server.stop()
