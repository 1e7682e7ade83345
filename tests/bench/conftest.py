"""Benchmarks are figures, not assertions: they run in the full suite, not the fast lane."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/bench is ``slow``."""
    for item in items:
        if "tests/bench/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.slow)
