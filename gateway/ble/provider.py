"""Bluetooth links through bleak: the provider for every station with a real address."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from ..link import Link, LinkContext, LinkSpec, ProvidedLinks
from .link import BleakLink


class BleProvider:
    """A treadmill and, when paired, a strap (or the treadmill's own Heart Rate service)."""

    @contextlib.asynccontextmanager
    async def links(self, spec: LinkSpec, ctx: LinkContext) -> AsyncIterator[ProvidedLinks]:
        treadmill: Link = BleakLink(spec.treadmill, ctx.adapter)
        hrm: Link | None = None
        if spec.hrm is not None:
            same = spec.hrm.upper() == spec.treadmill.upper()
            hrm = treadmill if same else BleakLink(spec.hrm, ctx.adapter)
        yield ProvidedLinks(treadmill, hrm)
