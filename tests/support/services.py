"""System services tests need: skip locally with a reason, fail under CI."""

from __future__ import annotations

import os

import pytest


def require(available: bool, what: str, how: str) -> None:
    """Skip (locally) or fail (``CI=true``) when ``what`` is not available."""
    if available:
        return
    message = f"{what} is not available: {how}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI must install it; see .ci/run)")
    pytest.skip(message)
