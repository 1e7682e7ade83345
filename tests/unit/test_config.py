"""Configuration: file, environment, errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, StationConfig, load_config, save_config

GOOD = """
gateway_id = "pi"
[[stations]]
id = "tm1"
treadmill = "AA:BB:CC:DD:EE:FF"
[runner]
age = 50
[safety]
backward_cap_kmh = 5.0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_file_values_and_limits_for_a_station(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, GOOD))
    assert settings.path == tmp_path / "config.toml"
    (station,) = settings.stations
    limits = settings.limits_for(station)
    assert (limits.backward_cap_kmh, limits.age, limits.hr_max) == (5.0, 50, 173.0)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETROGATE_MQTT__BROKER", "mqtt://broker.lan")
    monkeypatch.setenv("RETROGATE_GATEWAY_ID", "gym")
    settings = load_config(write(tmp_path, GOOD))
    assert (settings.mqtt.broker, settings.gateway_id) == ("mqtt://broker.lan", "gym")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("AA:BB:CC:DD:EE:FF", "treadmill"),
            "line 5, stations[0].treadmill: Value error, expected a Bluetooth address",
        ),
        (
            GOOD.replace("5.0", "14.0"),
            "line 9, safety.backward_cap_kmh: Input should be less than or equal to 12",
        ),
        (GOOD + "colour = 'red'\n", "safety.colour: Extra inputs are not permitted"),
        ("gateway_id = ", "not valid TOML"),
        (
            "[runner]\nage = 40\nthreshold_pace = 5.0\n",
            "line 3, runner.threshold_pace: Input should be a valid string",
        ),
        (
            '[runner]\nthreshold_pace = "5"\n',
            "line 2, runner.threshold_pace: Value error, expected minutes:seconds per km",
        ),
        (
            '[mqtt]\nbroker = "office.lan"\n[mqtt.bridge]\naddress = "central"\n',
            "mqtt: Value error, [mqtt.bridge] makes the embedded mosquitto a bridge: it needs "
            'broker = "embedded"',
        ),
        (
            '[upload]\nafter_session = ["garmin"]\n',
            "line 2, upload.after_session[0]: Input should be 'strava' or 'intervals'",
        ),
    ],
)
def test_invalid_config_names_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value).startswith(f"{path}: ")
    assert message in str(exc.value)


def test_missing_explicit_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run `retrogate pair`"):
        load_config(tmp_path / "nope.toml")


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, GOOD))
    station = StationConfig(id="tm2", treadmill="sim", hrm="11:22:33:44:55:66")
    path = tmp_path / "saved" / "config.toml"
    save_config(settings.model_copy(update={"stations": [*settings.stations, station]}), path)
    again = load_config(path)
    assert [s.id for s in again.stations] == ["tm1", "tm2"]
    assert again.stations[1].hrm == "11:22:33:44:55:66"
    assert again.safety.backward_cap_kmh == 5.0


def test_paired_devices_are_the_real_radios_only() -> None:
    from gateway.ble.diagnose import paired_devices
    from gateway.config import StationConfig

    stations = [
        StationConfig(id="a", treadmill="AA:BB:CC:DD:EE:FF", hrm="11:22:33:44:55:66"),
        StationConfig(id="b", treadmill="sim"),
        StationConfig(id="c", treadmill="CC:BB:CC:DD:EE:FF", hrm="sim"),
    ]
    assert paired_devices(stations) == {
        "a treadmill": "AA:BB:CC:DD:EE:FF",
        "a HR strap": "11:22:33:44:55:66",
        "c treadmill": "CC:BB:CC:DD:EE:FF",
    }


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("[runner]\nage = 40\n[safety]\nbackward_cap_kmh = 5.0\nage = 65\n", 5, "safety.age"),
        ("[safety]\nhr_expected = false\n", 2, "safety.hr_expected"),
        (
            '[[stations]]\nid = "a"\ntreadmill = "sim"\n[stations.safety]\nage = 65\n',
            5,
            "stations.safety.age",
        ),
    ],
)
def test_a_key_the_gateway_would_overwrite_is_refused_with_its_line(
    tmp_path: Path, text: str, line: int, key: str
) -> None:
    """Defect: docs put age under [safety]; the ceiling silently used [runner]'s (162, not 146)."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'config.toml'}: line {line}, {key}: not allowed")
    assert "\n" not in message


def test_the_runners_age_sets_the_hr_ceiling(tmp_path: Path) -> None:
    settings = load_config(
        write(tmp_path, "[runner]\nage = 65\n[[stations]]\nid = 'a'\ntreadmill = 'sim'\n")
    )
    assert round(settings.limits_for(settings.stations[0]).hr_ceiling_bpm) == 146


def test_save_writes_only_what_was_chosen(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, GOOD))
    updated = settings.model_copy(update={"adapter": "hci1"})
    out = tmp_path / "saved.toml"
    save_config(updated, out)
    text = out.read_text()
    assert 'adapter = "hci1"' in text
    assert "backward_cap_kmh = 5.0" in text
    assert "tolerance_kmh" not in text  # a default, not chosen
    assert "[mqtt]" not in text
    assert "age = 50" in text
    assert load_config(out).limits_for(load_config(out).stations[0]).age == 50


def test_a_file_that_is_not_utf8_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'gateway_id = "pi"\n[runner]\nsex = "f\xe9male"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: line 3: not UTF-8 text (save it as UTF-8)"


def test_the_error_names_the_line_of_the_key_in_its_own_table(tmp_path: Path) -> None:
    """Defect: `[safety] age` then `[runner] age = 200` was reported on the first."""
    text = "[mqtt]\nport = 1883\n[runner]\nweight_kg = 70\nage = 200\n"
    with pytest.raises(ConfigError, match=r"line 5, runner\.age"):
        load_config(write(tmp_path, text))
    two = '[[stations]]\nid = "a"\ntreadmill = "sim"\n[[stations]]\nid = "b"\ntreadmill = "nope"\n'
    with pytest.raises(ConfigError, match=r"line 6, stations\[1\]\.treadmill"):
        load_config(write(tmp_path, two))


@pytest.mark.parametrize(
    "text",
    [
        "[safety]\nbackward_cap_kmh = true\n",
        "[safety]\ntolerance_kmh = true\n",
        "[runner]\nage = true\n",
        "[mqtt]\nport = true\n",
    ],
)
def test_a_boolean_is_not_a_number(tmp_path: Path, text: str) -> None:
    """Defect: `backward_cap_kmh = true` became a 1.0 km/h cap; the error blamed another key."""
    key = text.split("\n")[1].split(" =")[0]
    with pytest.raises(ConfigError, match=rf"line 2, [a-z]+\.{key}: .*not true/false"):
        load_config(write(tmp_path, text))
