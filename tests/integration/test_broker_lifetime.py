"""The private mosquitto lives and dies with its gateway (issue 23), outside systemd.

``retrogate run`` in its own process with the embedded broker (a real
mosquitto), killed with SIGKILL the way a crash, the OOM killer or a
container runtime does it; then started again by hand.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.mqtt.broker import mosquitto_commands, wait_listening
from tests.support.gateway import run_env
from tests.support.mosquitto import free_port, require_mosquitto, running_mosquitto

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


def _gateway(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    """``retrogate run --sim`` with the embedded broker; its stderr in ``data_dir``.log."""
    env = run_env(port, data_dir, broker="embedded")
    command = [sys.executable, "-m", "gateway.cli", "run", "--sim", "--no-status"]
    log = data_dir.parent / f"stderr-{len(LOGS)}.log"
    with log.open("wb") as err:
        process = subprocess.Popen(command, env=env, stderr=err)
    LOGS[process.pid] = log
    return process


LOGS: dict[int, Path] = {}  # each gateway's stderr, by pid


def _err(process: subprocess.Popen[bytes]) -> str:
    log = LOGS.get(process.pid)
    return log.read_text(errors="replace") if log is not None else ""


async def _listening(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until the gateway's broker takes connections (or the gateway exits: a failure)."""
    up = await wait_listening("127.0.0.1", port, lambda: process.poll() is not None)
    if not up:
        raise AssertionError(f"exited with {process.returncode}: {_err(process)[-2000:]}")


def _broker_pid(data_dir: Path) -> int:
    """The mosquitto running with this data directory's config (from /proc, not our files)."""
    config = str(data_dir / "broker" / "mosquitto.conf").encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if config in argv:
                return int(entry.name)
    raise AssertionError(f"no broker runs with {config.decode()}")


def _exits_within(pid: int, seconds: float) -> bool:
    """Does the process exit within ``seconds`` (a pidfd is readable once it has)?"""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([handle], [], [], seconds)[0])
    finally:
        os.close(handle)


def _orphan(mosquitto: str, config: Path) -> subprocess.Popen[bytes]:
    """A broker on our config that no gateway started (as one from an older version)."""
    return subprocess.Popen([mosquitto, "-c", str(config)], stderr=subprocess.DEVNULL)


def _stop(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    code = process.wait(30)
    return code, _err(process)


@pytest.mark.timeout(120)
async def test_a_sigkilled_gateway_takes_its_broker_with_it_and_starts_again(
    tmp_path: Path,
) -> None:
    """Defect: after a SIGKILL the private mosquitto ran on, and the next `retrogate run`
    (by hand, in a container without an init) exited "port ... already in use"."""
    require_mosquitto()
    port, data = free_port(), tmp_path / "data"
    first = _gateway(port, data)
    try:
        await _listening(port, first)
        broker = _broker_pid(data)
        first.kill()
        first.wait()
        gone = _exits_within(broker, 10)
        if not gone:
            os.kill(broker, signal.SIGKILL)
        assert gone, "the broker outlived its gateway"
    finally:
        first.kill()
    second = _gateway(port, data)
    try:
        await _listening(port, second)
        assert second.poll() is None
    finally:
        code, err = _stop(second)
    assert code == 0, err[-2000:]
    assert "already in use" not in err


@pytest.mark.timeout(120)
async def test_a_broker_of_ours_left_running_is_stopped_and_a_strangers_is_not(
    tmp_path: Path,
) -> None:
    """A broker an older gateway left (no parent-death signal then) is reclaimed: proven
    ours by the pid file and its command line naming our config. Another broker on the
    port is someone else's: the gateway refuses to start, and leaves it alone."""
    require_mosquitto()
    commands = mosquitto_commands()
    assert commands is not None
    port, data = free_port(), tmp_path / "data"
    once = _gateway(port, data)  # writes the broker's config and password
    try:
        await _listening(port, once)
    finally:
        assert _stop(once)[0] == 0
    config = data / "broker" / "mosquitto.conf"
    orphan = _orphan(commands[0], config)
    try:
        await _listening(port, orphan)
        (data / "broker" / "mosquitto.pid").write_text(f"{orphan.pid}\n")
        gateway = _gateway(port, data)
        try:
            await _listening(port, gateway)
            assert orphan.wait(10) is not None
        finally:
            code, err = _stop(gateway)
        assert code == 0, err[-2000:]
        assert f"stopped the broker a previous gateway left running (pid {orphan.pid})" in err
    finally:
        orphan.kill()
        orphan.wait()

    async with running_mosquitto(tmp_path / "stranger") as stranger:
        other = _gateway(stranger.port, tmp_path / "other")
        code = other.wait(60)
        err = _err(other)
        assert code != 0
        assert "already in use (another broker?)" in err
        assert stranger.process is not None
        assert stranger.process.poll() is None, "someone else's broker was stopped"
