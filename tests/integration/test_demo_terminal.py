"""The README's first command ends when its terminal goes away (issue 23).

A real pseudo-terminal: the demo is the session leader on it, the way a
terminal window or an SSH connection runs a shell's foreground job; the
test closes the terminal's master side under the running demo (what closing
the window, a dropped connection or ``tmux kill-session`` does).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shutil
import socket
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from gateway.store.db import SessionStore
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.slow

SCREEN_BYTES = 50_000  # the dashboard has drawn (and the gateway is running) by then


def _controlling_terminal() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _drawn(master: int, within: float) -> int:
    """Read the terminal until the dashboard has drawn; the bytes read."""
    seen, deadline = 0, time.monotonic() + within
    while seen < SCREEN_BYTES and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            seen += len(os.read(master, 65536))
    return seen


@pytest.mark.timeout(120)
@pytest.mark.parametrize("launcher", ["python", "uv run"])
def test_closing_the_terminal_winds_the_belt_down_and_ends_the_demo(
    launcher: str, tmp_path: Path
) -> None:
    """Defect: with its terminal closed the demo ran on, at 70-120 % of a core, holding
    the broker's port, until somebody killed it."""
    if launcher == "uv run" and shutil.which("uv") is None:
        pytest.skip("uv is not on PATH")
    command = (
        [sys.executable, "-m", "gateway.cli"]
        if launcher == "python"
        else ["uv", "run", "--frozen", "retrogate"]
    )
    port = free_port()
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "RETROGATE_DATA_DIR": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, b"\x1e\x00\x64\x00\x00\x00\x00\x00")  # 30 x 100
    demo = subprocess.Popen(
        [*command, "demo", "--speedup", "10", "--port", str(port)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        preexec_fn=_controlling_terminal,
    )
    os.close(slave)
    try:
        assert _drawn(master, within=60) >= SCREEN_BYTES, "the dashboard never drew"
        os.close(master)  # the terminal goes away
        closed = time.monotonic()
        code = demo.wait(timeout=20)
        ended_after = time.monotonic() - closed
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    print(f"\nfigures: {launcher}: ended {ended_after:.2f} s after the terminal closed ({code})")
    store = SessionStore.in_dir(tmp_path / "data")
    try:
        [session] = store.sessions()
        decisions = [
            json.loads(payload)
            for _, kind, payload in store.iter_events(session.id)
            if kind == "decision"
        ]
    finally:
        store.close()
    assert session.ended is not None, "the session record was not finished"
    assert any(d.get("rule") == "wind_down" for d in decisions), decisions[-5:]
    assert _nothing_listens(port), "the broker's port is still held"


def _nothing_listens(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0
