"""docs/images are the snapshot tests' SVGs: they cannot drift from the app."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = Path(__file__).parent / "__snapshots__" / "test_dashboard_snapshots"


@pytest.mark.parametrize(
    ("image", "snapshot"),
    [
        ("dashboard-station.svg", "test_station_screen.raw"),
        ("dashboard-overview.svg", "test_overview_of_a_gym.raw"),
        ("dashboard-help-light.svg", "test_help_in_the_light_theme.raw"),
        ("dashboard-80x24.svg", "test_station_screen_at[80x24].raw"),
        ("dashboard-160x50.svg", "test_station_screen_at[160x50].raw"),
        ("dashboard-runner.svg", "test_runner_view_at[80x24].raw"),
        ("dashboard-runner-turning.svg", "test_runner_view_turns_amber_in_a_turnaround.raw"),
    ],
)
def test_docs_image_matches_its_snapshot(image: str, snapshot: str) -> None:
    assert (ROOT / "docs" / "images" / image).read_bytes() == (SNAPSHOTS / snapshot).read_bytes(), (
        f"cp {SNAPSHOTS.relative_to(ROOT)}/{snapshot} docs/images/{image}"
    )
