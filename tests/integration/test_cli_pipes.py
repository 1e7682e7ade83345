"""Every command's output may go into a pipe that closes early (``| head``, ``| less``
quit at once): issue 23 found ``retrogate coach | head`` and ``retrogate sessions | head``
ending in a BrokenPipeError traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a process per command

COMMANDS = [
    ["sessions"],
    ["coach", "--history"],
    ["coach", "-o", "next.toml"],
    ["plans"],
    ["plans", "show", "intro-backward-walk"],
    ["mqtt-schema"],
    ["decode", "speed-range", "f4 01 b8 0b 32 00"],
    ["--help"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_a_reader_that_goes_away_ends_the_command_quietly(argv: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "RETROGATE_DATA_DIR": str(tmp_path / "data")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write is EPIPE
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gateway.cli", *argv],
            stdout=write,
            stderr=subprocess.PIPE,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    err = result.stderr.decode()
    assert "Traceback" not in err, err
    assert "BrokenPipeError" not in err, err
    assert result.returncode in (0, 141), err  # 141: 128 + SIGPIPE, as a shell tool ends
