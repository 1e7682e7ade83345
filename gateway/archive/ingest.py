"""From MQTT messages to archive rows, and what is missing: pure, no I/O.

Every station topic of the contract that belongs in a record becomes a row:
telemetry and heart rate (keyed by gateway, station, session, seq),
decisions and alerts, a segment event when the state shows a new segment
(as the gateway's own recorder makes them), and the session record. A
message that breaks the contract is counted and skipped, never guessed at.

Gaps: the archive sees every numbered stream and knows the last seq each
gateway stored (the session record). A range still missing after a grace
period is asked for again from the gateway that has it (``replay``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from ..contract.payloads import (
    MAX_REPLAY,
    AlertPayload,
    HeartRatePayload,
    ReplayPayload,
    SafetyEventPayload,
    SessionPayload,
    StatePayload,
    TelemetryPayload,
)
from ..contract.topics import StationTopic, route
from .db import EventRow, SampleRow, SessionRow

GRACE_S = 5.0  # a seq missing this long is not merely late (QoS 1 keeps order per topic)
ASK_AGAIN_S = 30.0  # a replay asked for and still missing is asked for again
TOPICS = ("telemetry", "heart_rate", "safety/events", "alerts", "state", "session", "owner")


def subscriptions(prefix: str) -> list[str]:
    """What the archive subscribes to on the central broker."""
    return [f"{prefix}/+/{kind}" for kind in TOPICS]


StreamKey = tuple[str, str, int, str]  # gateway, station, session, stream


@dataclass
class _Stream:
    top: int = 0  # the highest seq seen (or that the gateway says it stored)
    missing: dict[int, float] = field(default_factory=dict)  # seq -> first noticed
    asked: dict[int, float] = field(default_factory=dict)  # seq -> last asked


@dataclass
class Gaps:
    """Missing seqs per stream, and when to ask for them."""

    streams: dict[StreamKey, _Stream] = field(default_factory=dict)

    def seen(self, key: StreamKey, seq: int, now: float) -> None:
        """A message arrived."""
        s = self.streams.setdefault(key, _Stream())
        if seq > s.top:
            for missing in range(s.top + 1, seq):
                s.missing.setdefault(missing, now)
            s.top = seq
        s.missing.pop(seq, None)
        s.asked.pop(seq, None)

    def stored_up_to(self, key: StreamKey, seq: int, now: float) -> None:
        """The gateway says it stored up to ``seq`` (its session record)."""
        s = self.streams.setdefault(key, _Stream())
        for missing in range(s.top + 1, seq + 1):
            s.missing.setdefault(missing, now)
        s.top = max(s.top, seq)

    def missing(self, key: StreamKey, lo: int, hi: int, now: float) -> None:
        """Known missing from the database (after an archive restart)."""
        s = self.streams.setdefault(key, _Stream())
        for seq in range(lo, hi + 1):
            s.missing.setdefault(seq, now - GRACE_S)
        s.top = max(s.top, hi)

    def due(self, now: float) -> list[tuple[str, ReplayPayload]]:
        """Replay requests to send now: (gateway, request), ranges of at most MAX_REPLAY."""
        out = []
        for (gateway, station, session, stream), s in self.streams.items():
            ready = sorted(
                seq
                for seq, noticed in s.missing.items()
                if now - noticed >= GRACE_S and now - s.asked.get(seq, -1e18) >= ASK_AGAIN_S
            )
            for lo, hi in _ranges(ready):
                out.append(
                    (
                        gateway,
                        ReplayPayload(
                            station=station,
                            session=session,
                            stream=stream,
                            from_seq=lo,
                            to_seq=hi,
                        ),
                    )
                )
                for seq in range(lo, hi + 1):
                    s.asked[seq] = now
        return out

    def count(self) -> int:
        """Seqs missing now, over every stream."""
        return sum(len(s.missing) for s in self.streams.values())


def _ranges(seqs: list[int]) -> Iterable[tuple[int, int]]:
    """Consecutive runs, each at most MAX_REPLAY long."""
    start = prev = None
    for seq in seqs:
        if start is None or prev is None:
            start = prev = seq
        elif seq == prev + 1 and seq - start < MAX_REPLAY:
            prev = seq
        else:
            yield start, prev
            start = prev = seq
    if start is not None and prev is not None:
        yield start, prev


@dataclass
class Batch:
    """The rows one batch of messages makes."""

    samples: list[SampleRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    sessions: list[SessionRow] = field(default_factory=list)


@dataclass
class Ingest:
    """The archive's reading of the contract."""

    prefix: str
    gaps: Gaps = field(default_factory=Gaps)
    owners: dict[str, str] = field(default_factory=dict)  # station -> gateway
    current: dict[str, tuple[str, int]] = field(default_factory=dict)  # station -> session
    segment_keys: dict[str, tuple[int, str]] = field(default_factory=dict)
    malformed: int = 0

    def take(self, messages: Iterable[tuple[str, bytes]], now: float) -> Batch:
        """Rows for a batch of (topic, payload)."""
        batch = Batch()
        for topic, payload in messages:
            where = route(self.prefix, topic)
            if not isinstance(where, StationTopic) or not payload:
                continue
            try:
                self._one(where, payload, batch, now)
            except (ValidationError, ValueError, KeyError):
                self.malformed += 1
        return batch

    def _session_of(
        self, station: str, gateway: str | None, session: int | None
    ) -> tuple[str, int]:
        known = self.current.get(station)
        owner = gateway or (known[0] if known else self.owners.get(station, "unknown"))
        number = session if session is not None else (known[1] if known else 0)
        return owner, number

    def _one(self, where: StationTopic, payload: bytes, batch: Batch, now: float) -> None:
        station, kind = where.station, where.kind
        if kind == "owner":
            self.owners[station] = payload.decode(errors="replace")
        elif kind in ("telemetry", "heart_rate"):
            model: TelemetryPayload | HeartRatePayload = (
                TelemetryPayload.model_validate_json(payload)
                if kind == "telemetry"
                else HeartRatePayload.model_validate_json(payload)
            )
            gateway, session = self._session_of(station, model.gateway, model.session)
            self.current[station] = (gateway, session)
            text = payload.decode()
            batch.samples.append(
                SampleRow(gateway, station, session, kind, model.seq, model.ts, text)
            )
            self.gaps.seen((gateway, station, session, kind), model.seq, now)
        elif kind == "session":
            record = SessionPayload.model_validate_json(payload)
            self.current[station] = (record.gateway, record.session)
            batch.sessions.append(
                SessionRow(
                    record.gateway,
                    station,
                    record.session,
                    record.started,
                    record.ended,
                    record.plan,
                    record.telemetry_seq,
                    record.heart_rate_seq,
                )
            )
            for stream, top in (
                ("telemetry", record.telemetry_seq),
                ("heart_rate", record.heart_rate_seq),
            ):
                self.gaps.stored_up_to((record.gateway, station, record.session, stream), top, now)
        elif kind in ("safety/events", "alerts"):
            event: SafetyEventPayload | AlertPayload = (
                SafetyEventPayload.model_validate_json(payload)
                if kind == "safety/events"
                else AlertPayload.model_validate_json(payload)
            )
            gateway, session = self._session_of(station, None, event.session)
            name = "decision" if kind == "safety/events" else "alert"
            batch.events.append(
                EventRow(gateway, station, session, event.ts, name, payload.decode())
            )
        elif kind == "state":
            self._segment(station, StatePayload.model_validate_json(payload), batch)

    def _segment(self, station: str, state: StatePayload, batch: Batch) -> None:
        """A segment event when the state shows a new segment (as the recorder makes them)."""
        seg = state.segment
        if seg is None or station not in self.current:
            return
        key = (seg.index, seg.direction)
        if self.segment_keys.get(station) == key:
            return
        self.segment_keys[station] = key
        gateway, session = self.current[station]
        body = seg.model_dump() | {"distance_m": state.distance_m}
        batch.events.append(
            EventRow(gateway, station, session, state.ts, "segment", json.dumps(body))
        )
