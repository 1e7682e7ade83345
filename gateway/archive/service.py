"""``retrogate archive``: the central broker's every station, into PostgreSQL.

One durable subscriber (a persistent QoS 1 session, acknowledged after each
commit), one database connection, batched idempotent writes. Every few
seconds it asks the gateways for what is missing (``replay``): a message the
central broker lost in a crash is still in its gateway's own store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from ..contract.topics import Topics
from ..mqtt.consumer import BrokerAddress
from ..mqtt.durable import Delivery, DurableSubscriber
from ..tasks import background
from .db import ArchiveWriter
from .ingest import Ingest, subscriptions

log = logging.getLogger(__name__)

ASK_EVERY_S = 2.0
REPORT_EVERY_S = 60.0


@dataclass
class ArchiveStats:
    """What the archive did (for its log line, the tests and the benchmark)."""

    batches: int = 0
    rows: int = 0
    replays_asked: int = 0


class Archive:
    """Subscribes, writes, asks for gaps; runs until cancelled."""

    def __init__(self, db_url: str, address: BrokerAddress, prefix: str, identifier: str) -> None:
        self.db_url = db_url
        self.prefix = prefix
        self.ingest = Ingest(prefix)
        self.subscriber = DurableSubscriber(address, identifier, subscriptions(prefix))
        self.stats = ArchiveStats()
        self.writer: ArchiveWriter | None = None
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Connect to the database, resume what it knows is missing, then serve."""
        self.writer = await ArchiveWriter.connect(self.db_url)
        try:
            now = time.time()
            for gateway, station, session, stream, lo, hi in await self.writer.gaps():
                self.ingest.gaps.missing((gateway, station, session, stream), lo, hi, now)
            self.ready.set()
            async with (
                background(self._ask(), "archive-replays"),
                background(self._report(), "archive-report"),
            ):
                await self.subscriber.run(self._handle)
        finally:
            await self.writer.close()

    async def _handle(self, batch: list[Delivery]) -> None:
        assert self.writer is not None
        rows = self.ingest.take(((d.topic, d.payload) for d in batch), time.time())
        await self.writer.write(rows.samples, rows.events, rows.sessions)
        self.stats.batches += 1
        self.stats.rows += len(rows.samples) + len(rows.events)

    async def _ask(self) -> None:
        topics = Topics(self.prefix, "archive")
        while True:
            await asyncio.sleep(ASK_EVERY_S)
            if not self.subscriber.connected.is_set():
                continue
            for gateway, request in self.ingest.gaps.due(time.time()):
                sent = await self.subscriber.publish(
                    topics.replay_of(gateway), request.model_dump_json()
                )
                if sent:
                    self.stats.replays_asked += 1
                    log.info("archive: asked %s for %s %s %d..%d again", gateway,
                             request.station, request.stream, request.from_seq,
                             request.to_seq)  # fmt: skip

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(REPORT_EVERY_S)
            log.info("archive: %d rows in %d batches; %d seqs missing; %d malformed",
                     self.stats.rows, self.stats.batches, self.ingest.gaps.count(),
                     self.ingest.malformed)  # fmt: skip
