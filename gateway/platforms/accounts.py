"""The runner's saved authorizations: one JSON file per service, mode 0600.

In the data directory (``accounts/strava.json``), never in the config file a
runner may paste into a bug report, never logged, never on MQTT. Written
to a temporary file (created 0600, so no moment exists where another user
could read it) and renamed over the old one, so a power cut leaves the old
tokens or the new ones, never half of each.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..destinations import UPLOAD_SERVICES
from ..errors import RetrogateError

SERVICES = UPLOAD_SERVICES
TITLES = {"strava": "Strava", "intervals": "intervals.icu"}


class AccountError(RetrogateError):
    """A saved account cannot be read (the message names the file)."""


class Accounts:
    """The folder of saved accounts."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / "accounts"

    def path(self, service: str) -> Path:
        """Where a service's account is kept."""
        return self.folder / f"{service}.json"

    def load(self, service: str) -> dict[str, Any] | None:
        """The saved account, or None when the runner has not connected the service."""
        path = self.path(service)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AccountError(f"{path}: cannot read: {exc.strerror}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AccountError(
                f"{path}: not valid JSON (line {exc.lineno}): run `retrogate connect {service}`"
            ) from exc
        if not isinstance(data, dict):
            raise AccountError(f"{path}: expected a JSON object: run `retrogate connect {service}`")
        return data

    def save(self, service: str, data: dict[str, Any]) -> Path:
        """Replace the saved account (0600, atomically)."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path(service)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)  # an old tmp left by a crash kept its mode: set it anyway
        os.replace(tmp, path)
        return path

    def forget(self, service: str) -> bool:
        """Delete the saved account; False if there was none."""
        try:
            self.path(service).unlink()
        except FileNotFoundError:
            return False
        return True
