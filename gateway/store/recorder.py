"""Recording every station's hub into the session store, as it arrives.

The hub listener only appends to a list (the station's brain must never wait
on the disk); one writer task turns the messages into wire JSON and commits
them in batches. After each commit it wakes whoever publishes the streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from ..clock import Clock
from ..contract.payloads import (
    AlertPayload,
    CommandResultPayload,
    HeartRatePayload,
    SafetyEventPayload,
    SegmentPayload,
    TelemetryPayload,
)
from ..hub import (
    AlertMessage,
    DecisionMessage,
    HeartRateMessage,
    Hub,
    HubMessage,
    ResultMessage,
    StateMessage,
    TelemetrySample,
)
from ..tasks import background
from .db import STREAMS, Sample, SessionStore, Stream

log = logging.getLogger(__name__)

RESUME_WITHIN_S = 600.0
DURABLE_EVERY_S = 5.0  # wall seconds between checkpoints: the most a power cut can lose


@dataclass(frozen=True, slots=True)
class Resumed:
    """A session resumed after a crash: what the record says about where it stood."""

    last_speed: tuple[float, float] | None  # (wall time, km/h)
    last_segment: tuple[str, int] | None  # (plan, segment index)


@dataclass
class StationRecord:
    """One station's session: where its streams stand."""

    station: str
    session: int
    resumed: bool
    base: dict[Stream, int]  # seq offset: a resumed session continues its numbering
    stored: dict[Stream, int]  # highest committed seq
    new_data: dict[Stream, asyncio.Event] = field(
        default_factory=lambda: {"telemetry": asyncio.Event(), "heart_rate": asyncio.Event()}
    )
    segment_key: tuple[int, str] | None = None
    plan: str | None = None
    unsubscribe: Callable[[], None] | None = None


class Recorder:
    """Writes every station's hub into the store; the outbox of the MQTT streams."""

    def __init__(
        self,
        store: SessionStore,
        gateway: str,
        clock: Clock,
        resume_within_s: float = RESUME_WITHIN_S,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.clock = clock
        self.resume_within_s = resume_within_s
        self.records: dict[str, StationRecord] = {}
        self.dropped = 0
        self.batches = 0
        self._pending: list[tuple[StationRecord, HubMessage]] = []
        self._acks: dict[tuple[int, Stream], int] = {}
        self._wake = asyncio.Event()
        self._wall0 = time.time()
        self._session0 = 0.0
        self._durable_at = time.monotonic()

    def wall(self, at: float) -> float:
        """Session-clock seconds as wall-clock seconds since the epoch (speedup included)."""
        return self._wall0 + (at - self._session0)

    def attach(self, station: str, hub: Hub, plan: str | None) -> StationRecord:
        """Start recording a station (resuming its unfinished session if recent)."""
        session, resumed = self.store.open_session(
            self.gateway, station, plan, self.resume_within_s
        )
        last: dict[Stream, int] = {s: self.store.last_seq(session, s) for s in STREAMS}
        record = StationRecord(
            station, session, resumed, base=dict(last), stored=dict(last), plan=plan
        )
        if resumed:
            log.info("%s: continuing session %d after a restart", station, session)
        record.unsubscribe = hub.subscribe(lambda message: self._listen(record, message))
        self.records[station] = record
        return record

    def resumed(self, station: str) -> Resumed | None:
        """Where a session resumed after a crash stood: the belt's last recorded speed
        (when, how fast) and the plan's last segment; None for a new session."""
        record = self.records.get(station)
        if record is None or not record.resumed:
            return None
        return Resumed(
            self.store.last_speed(record.session), self.store.last_segment(record.session)
        )

    def ack(self, record: StationRecord, stream: Stream, seq: int) -> None:
        """The broker acknowledged ``seq``: remember it with the next batch."""
        key = (record.session, stream)
        if seq > self._acks.get(key, 0):
            self._acks[key] = seq
            self._wake.set()

    def _listen(self, record: StationRecord, message: HubMessage) -> None:
        self._pending.append((record, message))
        self._wake.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Recorder]:
        """The writer task, flushed and sessions ended on the way out."""
        self._wall0, self._session0 = time.time(), self.clock.now()
        try:
            async with background(self._writer(), "recorder"):
                yield self
        finally:
            self.finish()

    def finish(self) -> dict[str, int]:
        """Flush and end every session (again: a no-op); returns the sessions that hold
        treadmill records, by station: what a session end may upload."""
        self.flush()
        for record in self.records.values():
            if record.unsubscribe:
                record.unsubscribe()
                record.unsubscribe = None
        self.store.end_all([r.session for r in self.records.values()], self.wall(self.clock.now()))
        return {r.station: r.session for r in self.records.values() if r.stored["telemetry"] > 0}

    async def _writer(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                self.flush()
                if time.monotonic() - self._durable_at >= DURABLE_EVERY_S:
                    await asyncio.to_thread(self.store.checkpoint)  # the fsync, off the loop
                    self._durable_at = time.monotonic()
            except Exception as exc:  # a full disk must not end the recording silently
                failures += 1
                log.error(
                    "recorder: writing the session failed (%d so far): %r; retrying",
                    failures,
                    exc,
                    exc_info=exc if failures == 1 else None,
                )
                await asyncio.sleep(1.0)
                self._wake.set()

    def flush(self) -> None:
        """Write everything pending in one transaction and wake the stream publishers."""
        pending, self._pending = self._pending, []
        acks, self._acks = self._acks, {}
        if not pending and not acks:
            return
        samples: list[tuple[int, Stream, Sample]] = []
        events: list[tuple[int, float, str, str]] = []
        touched: set[tuple[int, Stream]] = set()
        for record, message in pending:
            sample = self._as_sample(record, message)
            if sample is not None:
                stream, row = sample
                samples.append((record.session, stream, row))
                record.stored[stream] = row.seq
                touched.add((id(record), stream))
                continue
            event = self._as_event(record, message)
            if event is not None:
                events.append(event)
        self.store.write(samples, events, [(s, st, q) for (s, st), q in acks.items()])
        self.batches += 1
        for record in self.records.values():
            for stream, ready in record.new_data.items():
                if (id(record), stream) in touched:
                    ready.set()

    def _as_sample(
        self, record: StationRecord, message: HubMessage
    ) -> tuple[Stream, Sample] | None:
        if isinstance(message, TelemetrySample):
            seq = record.base["telemetry"] + message.seq
            ts = self.wall(message.at)
            payload = TelemetryPayload.of(
                seq,
                ts,
                message.record,
                message.direction,
                message.capped,
                message.cap_kmh,
                message.gateway_kcal,
                message.energy_method,
                gateway=self.gateway,
                session=record.session,
            ).model_dump_json(exclude_none=True)
            return "telemetry", Sample(seq, ts, payload)
        if isinstance(message, HeartRateMessage):
            seq = record.base["heart_rate"] + message.seq
            ts = self.wall(message.at)
            payload = HeartRatePayload.of(
                seq, ts, message.sample, gateway=self.gateway, session=record.session
            ).model_dump_json()
            return "heart_rate", Sample(seq, ts, payload)
        return None

    def _as_event(
        self, record: StationRecord, message: HubMessage
    ) -> tuple[int, float, str, str] | None:
        if isinstance(message, DecisionMessage):
            ts = self.wall(message.at)
            body = SafetyEventPayload.of(ts, message.decision, record.session).model_dump_json()
            return record.session, ts, "decision", body
        if isinstance(message, AlertMessage):
            ts = self.wall(message.at)
            body = AlertPayload.of(ts, message.alert, record.session).model_dump_json()
            return record.session, ts, "alert", body
        if isinstance(message, ResultMessage):
            ts = self.wall(message.at)
            body = CommandResultPayload.of(message.result).model_dump_json()
            return record.session, ts, "result", body
        if isinstance(message, StateMessage):
            return self._segment_event(record, message)
        return None

    def _segment_event(
        self, record: StationRecord, message: StateMessage
    ) -> tuple[int, float, str, str] | None:
        snap = message.snapshot
        if snap.plan != record.plan:
            record.plan = snap.plan
            self.store.set_plan(record.session, snap.plan)
        seg = snap.segment
        if seg is None:
            return None
        key = (seg.index, seg.direction.value)
        if key == record.segment_key:
            return None
        record.segment_key = key
        ts = self.wall(snap.last_sample_at if snap.last_sample_at is not None else self.clock.now())
        body = SegmentPayload.of(seg).model_dump()
        body["distance_m"] = snap.distance_m
        return record.session, ts, "segment", json.dumps(body)
