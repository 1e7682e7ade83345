"""Shared test settings: hypothesis profiles (CI runs more examples, the fast lane fewer)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=300, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100)
settings.register_profile("fast", max_examples=40)  # the everyday lane: -m "not slow"
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


def pytest_configure(config: pytest.Config) -> None:
    """``-m "not slow"`` is the everyday lane: fewer hypothesis examples too (outside CI)."""
    if "not slow" in (config.option.markexpr or "") and os.environ.get("CI") != "true":
        settings.load_profile("fast")


@pytest.fixture(autouse=True)
def _private_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test writes sessions into the user's real data directory."""
    monkeypatch.setenv("RETROGATE_DATA_DIR", str(tmp_path_factory.mktemp("data")))


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Give pytest-asyncio an explicit loop factory.

    With a factory, pytest-asyncio sets each test's loop on the policy and
    clears it afterwards; without one, a sync test running first leaves the
    policy to invent a fresh loop, which looptime then cannot find (the test
    silently runs in real time and the stray loop leaks).
    """
    return {"asyncio": asyncio.new_event_loop}


class _NoImplicitLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """A policy whose ``get_event_loop`` never invents a loop (as on Python 3.14).

    looptime asks the policy for the current loop before every test, sync ones
    included; on 3.11 the default policy answers by creating a loop nobody
    closes. Raising instead is what looptime expects for a sync test.
    """

    def __init__(self) -> None:
        super().__init__()
        self._current: asyncio.AbstractEventLoop | None = None

    def set_event_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._current = loop
        super().set_event_loop(loop)

    def get_event_loop(self) -> asyncio.AbstractEventLoop:
        if self._current is None:
            raise RuntimeError("no current event loop")
        return super().get_event_loop()


# pytest-asyncio's ``event_loop_policy`` fixture hands out the global policy.
asyncio.set_event_loop_policy(_NoImplicitLoopPolicy())
