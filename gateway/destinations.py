"""Where runs go, by name, apart from the clients (which load httpx), so that the
config and every command's parser can list them at no start-up cost."""

from __future__ import annotations

from typing import Literal, get_args

UploadService = Literal["strava", "intervals"]
UPLOAD_SERVICES: tuple[UploadService, ...] = get_args(UploadService)
