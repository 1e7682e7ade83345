"""Link providers are chosen in one place (issue 24; bleak's backend choice is the model):
the service names no provider and has no simulator branch."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gateway.link import LinkError, load_provider, provider_name

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("address", "forced", "expected"),
    [
        ("AA:BB:CC:DD:EE:FF", None, "ble"),
        ("aa:bb:cc:dd:ee:ff", None, "ble"),
        ("sim", None, "sim"),
        ("SIM2", None, "sim"),
        ("AA:BB:CC:DD:EE:FF", "sim", "sim"),  # run --sim
    ],
)
def test_the_address_or_the_override_names_the_provider(
    address: str, forced: str | None, expected: str
) -> None:
    assert provider_name(address, forced) == expected


def test_bluetooth_is_built_in_and_the_simulator_plugs_in() -> None:
    assert type(load_provider("ble")).__name__ == "BleProvider"
    assert type(load_provider("sim")).__module__ == "simulators.provider"
    with pytest.raises(LinkError, match="no link provider 'carrier-pigeon'"):
        load_provider("carrier-pigeon")


def test_the_service_has_no_simulator_branch() -> None:
    """The service does not look at addresses (which provider serves one is the link
    facade's question), and a provider's extras reach it only as a hub listener."""
    tree = ast.parse((ROOT / "gateway" / "service.py").read_text())
    looks = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in ("startswith", "treadmill")
    ]
    seen = sorted(ast.unparse(n) for n in looks)
    assert seen == ["cfg.treadmill", "links.treadmill"], "passed on: the spec, the link"
    assert "follow_direction" not in (ROOT / "gateway" / "link.py").read_text()
