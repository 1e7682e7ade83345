"""Scenario files: what loads, and what a typo says."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.scenario import Console, Scenario, ScenarioError, Silent, load_scenario


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return path


def test_a_scenario_with_every_trigger_kind(tmp_path: Path) -> None:
    scenario = load_scenario(
        write(
            tmp_path,
            """
            name = "speed-up"
            [[events]]
            at_s = 30
            action = "console"
            button = "speed_up"
            presses = 4
            [[events]]
            at_m = 200
            action = "silent"
            duration_s = 5
            """,
        )
    )
    assert scenario.name == "speed-up"
    assert scenario.events == (
        Console(at_s=30, action="console", button="speed_up", presses=4),
        Silent(at_m=200, action="silent", duration_s=5),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[events]]\nat_s = 1\naction = 'explode'", "events[0]: Input tag 'explode'"),
        ("[[events]]\nat_s = 1\naction = 'console'\nbutton = 'faster'", "events[0].console.button"),
        ("[[events]]\naction = 'disconnect'", "give exactly one of at_s, at_m or at_run_s"),
        ("[[events]]\nat_s = -1\naction = 'disconnect'", "events[0].disconnect.at_s"),
        (
            "[[events]]\nat_s = 1\naction = 'silent'\nlength = 3",
            "events[0].silent.length: Extra inputs",
        ),
        ("name = ", "not valid TOML"),
    ],
)
def test_bad_scenarios_name_the_event_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    assert str(exc.value).startswith(str(path))
    assert message in str(exc.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.toml")


def test_empty_scenario_is_quiet() -> None:
    assert Scenario().events == ()
