"""``retrogate doctor``: the broker probe against mosquitto, and an invalid config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.ble.diagnose import paired_devices
from gateway.cli import main
from gateway.config import MqttConfig, StationConfig
from gateway.mqtt.probe import probe
from tests.support.mosquitto import PASSWORD, USER, free_port, running_mosquitto

pytestmark = pytest.mark.slow  # real subprocesses and D-Bus probes


@pytest.mark.mosquitto
async def test_the_probe_tells_a_wrong_password_from_a_missing_broker(tmp_path: Path) -> None:
    async with running_mosquitto(tmp_path / "broker", auth=True) as broker:
        good = MqttConfig(broker="127.0.0.1", port=broker.port, username=USER, password=PASSWORD)
        assert (await probe(good))[0]
        bad = good.model_copy(update={"password": None})
        ok, detail, fix = await probe(bad)
        assert not ok
        assert "refused the login" in detail
        assert "mqtt.password" in fix
    ok, detail, fix = await probe(MqttConfig(broker="127.0.0.1", port=free_port()))
    assert not ok
    assert "nothing accepts connections" in detail
    assert "systemctl start mosquitto" in fix


def test_doctor_names_the_file_line_and_key_of_a_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('gateway_id = "gw"\n\n[safety]\nbackward_cap_kmh = "fast"\n')
    assert main(["doctor", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "✘ config:" in out
    assert "config.toml" in out
    assert "line 4" in out
    assert "safety.backward_cap_kmh" in out


@pytest.mark.parametrize("command", ["pair", "scan"])
def test_without_dbus_pair_and_scan_say_why_and_how_to_fix_it(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: `pair` printed a FileNotFoundError traceback; `scan` gave no fix line."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    extra = ["--config", str(tmp_path / "config.toml")] if command == "pair" else []
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", command, "--timeout", "1", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "error: D-Bus:" in done.stderr
    assert "  fix: " in done.stderr


def test_a_treadmill_that_is_also_the_hr_source_is_one_device() -> None:
    """Defect: `run` warned "has not been seen by BlueZ" twice for it."""
    station = StationConfig(id="lane-1", treadmill="AA:BB:CC:DD:EE:FF", hrm="aa:bb:cc:dd:ee:ff")
    assert paired_devices([station]) == {"lane-1 treadmill and HR": "AA:BB:CC:DD:EE:FF"}
