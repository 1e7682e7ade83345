"""The systemd unit we ship (docs/retrogate.service) is the one the docs show, and it
restarts a crashed gateway quickly (issue 23: crash to a safe belt)."""

from __future__ import annotations

import configparser
from pathlib import Path

from gateway.config import UploadConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DOCS / "retrogate.service").read_text())
    return parser


def test_the_unit_restarts_within_half_a_second_and_lets_the_gateway_notify() -> None:
    service = unit()["Service"]
    assert service["Type"] == "notify"
    assert service["Restart"] == "always"
    assert service["RestartSec"].endswith("ms")
    assert int(service["RestartSec"].removesuffix("ms")) <= 500
    assert service["NotifyAccess"] == "all"
    wait_s = UploadConfig().wait_s  # a stopping gateway waits this long for its uploads
    assert int(service["TimeoutStopSec"]) >= 10 + wait_s, "room for the wind-down and uploads"
    assert service["RestartPreventExitStatus"] == "2"
    assert int(unit()["Unit"]["StartLimitBurst"]) >= 10


def test_the_docs_show_the_shipped_unit_verbatim() -> None:
    assert (DOCS / "retrogate.service").read_text() in (DOCS / "hardware.md").read_text()
