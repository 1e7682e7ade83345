"""Versioned JSON payloads (``"v": 1``) with the canonical field names.

Pydantic models, so other programs can rely on the JSON schema generated
from them (``retrogate mqtt-schema`` writes it into docs/).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from ..ftms import HeartRate, TreadmillData, to_jsonable
from ..hub import Snapshot
from ..safety.actions import Alert, CommandResult, Decision, Facts, Rule
from ..workout.engine import Progress
from ..workout.plan import Plan, Segment

VERSION: Literal[1] = 1


def _exactly_an_integer(value: object) -> object:
    """``true`` and ``1.0`` equal 1 to Python, and a lax Literal[1] took them; the
    schema says integer 1."""
    if type(value) is not int:
        raise ValueError("must be the integer 1")
    return value


Version = Annotated[Literal[1], BeforeValidator(_exactly_an_integer)]

CommandName = Literal[
    "start",
    "pause",
    "stop",
    "set_speed",
    "set_incline",
    "set_direction",
    "next_segment",
    "load_plan",
    "set_hr_target",
    "set_cap",
    "confirm",
]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Version = VERSION


class TelemetryPayload(_Payload):
    """One treadmill record; consumers dedupe by ``seq``."""

    model_config = ConfigDict(extra="allow", frozen=True)  # the record's canonical fields

    seq: int = Field(ge=1)
    ts: float = Field(description="wall-clock seconds since the epoch")
    gateway: str | None = Field(None, description="the gateway that recorded it")
    session: int | None = Field(
        None, description="its session on that gateway: (gateway, station, session, seq) is unique"
    )
    direction: Literal["forward", "backward"] = Field(
        "forward", description="the runner's direction when the record arrived"
    )
    capped: bool = Field(False, description="the backward cap was in force")
    cap_kmh: float | None = None
    gateway_kcal: float | None = Field(
        None,
        description="the gateway's energy estimate so far (ENERGY.md); energy_kcal is the "
        "console's own",
    )
    energy_method: str | None = Field(None, description="how gateway_kcal was estimated")

    @classmethod
    def of(
        cls,
        seq: int,
        ts: float,
        record: TreadmillData,
        direction: str = "forward",
        capped: bool = False,
        cap_kmh: float | None = None,
        gateway_kcal: float | None = None,
        energy_method: str | None = None,
        *,
        gateway: str | None = None,
        session: int | None = None,
    ) -> TelemetryPayload:
        """From a decoded record and the governor's view at that moment."""
        return cls(
            seq=seq,
            ts=ts,
            gateway=gateway,
            session=session,
            direction="backward" if direction == "backward" else "forward",
            capped=capped,
            cap_kmh=cap_kmh,
            gateway_kcal=gateway_kcal,
            energy_method=energy_method,
            **to_jsonable(record),
        )


class HeartRatePayload(_Payload):
    """One HR measurement."""

    seq: int = Field(ge=1)
    ts: float
    gateway: str | None = Field(None, description="the gateway that recorded it")
    session: int | None = Field(None, description="its session on that gateway")
    heart_rate_bpm: int
    contact: bool | None = None
    energy_kj: int | None = None
    rr_intervals_s: list[float] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        seq: int,
        ts: float,
        sample: HeartRate,
        *,
        gateway: str | None = None,
        session: int | None = None,
    ) -> HeartRatePayload:
        """From a decoded measurement."""
        return cls(
            seq=seq,
            ts=ts,
            gateway=gateway,
            session=session,
            heart_rate_bpm=sample.heart_rate_bpm,
            contact=sample.contact,
            energy_kj=sample.energy_kj,
            rr_intervals_s=list(sample.rr_intervals_s),
        )


class SegmentPayload(BaseModel):
    """Where the workout is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int
    count: int
    direction: Literal["forward", "backward"]
    note: str = ""
    left_s: float | None = None
    left_m: float | None = None
    finished: bool = False

    @classmethod
    def of(cls, seg: Progress) -> SegmentPayload:
        """From the engine's progress."""
        return cls(
            index=seg.index,
            count=seg.count,
            direction=seg.direction.value,
            note=seg.note,
            left_s=seg.left_s,
            left_m=seg.left_m,
            finished=seg.finished,
        )


class StatePayload(_Payload):
    """The station's snapshot (retained, at most once a second)."""

    ts: float
    speed_kmh: float | None = None
    target_kmh: float | None = None
    cap_kmh: float
    capped: bool = Field(description="the backward cap applies (backward, or turning around)")
    cap_limiting: bool = Field(
        False, description="the cap is holding the request, the target or the belt down"
    )
    cap_held: bool
    direction: Literal["forward", "backward"]
    phase: str
    running: bool
    incline_pct: float | None = None
    distance_m: int | None = None
    elapsed_s: int | None = None
    energy_kcal: float
    energy_method: str
    treadmill_energy_kcal: int | None = None
    heart_rate_bpm: int | None = None
    hr_contact: bool | None = None
    hr_max_bpm: float
    hr_source: Literal["strap", "treadmill"] | None = Field(
        None, description="where heart rate comes from; null: the HR protections are off"
    )
    segment: SegmentPayload | None = None
    plan: str | None = None
    next_turn_s: float | None = Field(
        None, description="seconds until the plan turns the runner around (time-based segments)"
    )
    backward_left_m: float | None = Field(
        None, description="metres left in the current backward stretch"
    )
    last_alert: str | None = Field(None, description="what the runner was last told")
    hr_target_bpm: tuple[int, int] | None = Field(
        None, description="a heart-rate segment's range [low, high] bpm; null: a speed segment"
    )
    hr_in_range: bool | None = Field(
        None, description="the runner's heart rate is in hr_target_bpm (null: no target)"
    )
    app: str | None = Field(
        None, description="an app connected to the bridge (its name or address); null: none"
    )
    control: Literal["held", "lost", "none"] = Field(
        "lost",
        description="the treadmill's control point: held (the cap is enforced), lost (asking "
        "again), none (watch mode: it takes no commands, the runner sets the speed by hand)",
    )
    app_asked: str | None = Field(None, description="what that app last asked, and what came of it")
    upload: str | None = Field(
        None,
        description="where the station's last session went: each service with the activity's "
        "link, 'waiting' (and why) or 'FAILED' (and the service's own words)",
    )

    @classmethod
    def of(cls, ts: float, s: Snapshot) -> StatePayload:
        """From the hub's snapshot."""
        fields: dict[str, Any] = {
            name: getattr(s, name)
            for name in cls.model_fields
            if name not in ("v", "ts", "segment", "direction") and hasattr(s, name)
        }
        segment = SegmentPayload.of(s.segment) if s.segment is not None else None
        direction: Literal["forward", "backward"] = (
            "backward" if s.direction == "backward" else "forward"
        )
        return cls(ts=ts, segment=segment, direction=direction, **fields)


class SessionPayload(_Payload):
    """A station's session on its gateway (retained): live, then ended."""

    ts: float
    gateway: str
    session: int = Field(ge=1)
    started: float
    ended: float | None = Field(None, description="when it ended; null while it is live")
    plan: str | None = None
    telemetry_seq: int = Field(0, ge=0, description="the last telemetry seq stored so far")
    heart_rate_seq: int = Field(0, ge=0, description="the last heart_rate seq stored so far")


MAX_REPLAY = 10_000  # messages one replay request may ask for


class ReplayPayload(_Payload):
    """An archive asks a gateway for stored stream messages it is missing (a gap).

    The gateway sends them again on their stream topic, as they were first sent:
    consumers dedupe by ``seq``, as for any replay after an outage.
    """

    station: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    session: int = Field(ge=1)
    stream: Literal["telemetry", "heart_rate"]
    from_seq: int = Field(ge=1)
    to_seq: int = Field(ge=1)

    @model_validator(mode="after")
    def _range(self) -> ReplayPayload:
        if not 0 <= self.to_seq - self.from_seq < MAX_REPLAY:
            raise ValueError(
                f"from_seq..to_seq must be an ascending range of at most {MAX_REPLAY} messages"
            )
        return self


class SafetyEventPayload(_Payload):
    """One governor decision: why the belt did what it did."""

    ts: float
    rule: Rule
    input: str
    action: str
    session: int | None = Field(None, description="the station's session on its gateway")

    @classmethod
    def of(cls, ts: float, decision: Decision, session: int | None = None) -> SafetyEventPayload:
        """From a decision record."""
        return cls(
            ts=ts,
            rule=decision.rule,
            input=decision.input,
            action=decision.action,
            session=session,
        )


class AlertPayload(_Payload):
    """What the runner is told (the status line's and dashboard's banner)."""

    ts: float
    level: Literal["info", "warning", "danger"]
    code: str
    message: str
    # What the alert is about, as numbers, for a client that words it itself (a voice,
    # another language): absent when the alert has no such fact.
    seconds: int | None = Field(None, description="the turnaround countdown's seconds")
    direction: Literal["forward", "backward"] | None = Field(
        None, description="the way the runner turns"
    )
    speed_kmh: float | None = Field(None, description="the belt's speed, or the target refused")
    limit_kmh: float | None = Field(None, description="the speed the belt is brought to")
    session: int | None = Field(None, description="the station's session on its gateway")

    @classmethod
    def of(cls, ts: float, alert: Alert, session: int | None = None) -> AlertPayload:
        """From the runtime's alert."""
        facts = dataclasses.asdict(alert.facts)
        return cls(
            ts=ts,
            level=alert.level.value,
            code=alert.code,
            message=alert.message,
            session=session,
            **facts,
        )

    def facts(self) -> Facts:
        """The alert's facts, as the runtime has them."""
        return Facts(self.seconds, self.direction, self.speed_kmh, self.limit_kmh)


class PlanSegmentPayload(BaseModel):
    """One segment of the active plan, for timelines."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: Literal["forward", "backward"]
    speed_kmh: float
    duration_s: float | None = None
    distance_m: float | None = None
    incline_pct: float | None = None
    hr_zone: int | None = Field(None, description="held heart-rate zone (speed_kmh: the start)")
    hr_bpm: tuple[int, int] | None = Field(None, description="held heart-rate range [low, high]")
    note: str = ""

    @classmethod
    def of(cls, seg: Segment) -> PlanSegmentPayload:
        """From a plan segment."""
        return cls(
            direction=seg.direction.value,
            speed_kmh=seg.speed_kmh,
            duration_s=seg.duration_s,
            distance_m=seg.distance_m,
            hr_zone=seg.hr_zone,
            hr_bpm=seg.hr_bpm,
            incline_pct=seg.incline_pct,
            note=seg.note,
        )


class WorkoutPayload(_Payload):
    """The active plan and where the runner is in it (retained)."""

    ts: float
    plan: str | None
    segments: list[PlanSegmentPayload] = Field(default_factory=list)
    current: SegmentPayload | None = None

    @classmethod
    def of(cls, ts: float, plan: Plan | None, progress: Progress | None) -> WorkoutPayload:
        """From the runtime's plan and the engine's progress."""
        return cls(
            ts=ts,
            plan=plan.name if plan else None,
            segments=[PlanSegmentPayload.of(seg) for seg in plan.segments] if plan else [],
            current=SegmentPayload.of(progress) if progress else None,
        )


class DiagPayload(_Payload):
    """The gateway's counters (retained on ``gateways/<id>/diag``)."""

    ts: float
    uptime_s: float
    reconnects: int
    decode_errors: int
    outbox_depth: int
    dropped: int
    commands: int
    commands_refused: int
    replayed: int = Field(0, description="stream messages sent again at an archive's request")
    replays_refused: int = Field(
        0, description="replay requests refused (malformed, or not this gateway's session)"
    )


class CommandPayload(BaseModel):
    """What a client publishes on ``…/cmd``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Version | None = Field(None, description="the contract version; 1 if given")
    id: str = Field(min_length=1, max_length=64)
    cmd: CommandName
    # Strict: a JSON ``true`` must not become 1.0 km/h, nor "5" a speed.
    value: StrictFloat | StrictStr | None = None
    ttl_ms: StrictInt | None = Field(None, ge=1, le=60_000)
    ts: float | None = Field(None, description="wall-clock seconds since the epoch when sent")


class CommandResultPayload(_Payload):
    """The one answer every command gets, malformed ones included."""

    id: str | None
    ok: bool
    applied: str | None = None
    error: str | None = None

    @classmethod
    def of(cls, result: CommandResult) -> CommandResultPayload:
        """From the governor's (or the engine's) result."""
        return cls(id=result.id, ok=result.ok, applied=result.applied, error=result.error)


SCHEMAS: dict[str, type[BaseModel]] = {
    "telemetry": TelemetryPayload,
    "heart_rate": HeartRatePayload,
    "state": StatePayload,
    "safety_event": SafetyEventPayload,
    "alert": AlertPayload,
    "workout": WorkoutPayload,
    "diag": DiagPayload,
    "command": CommandPayload,
    "command_result": CommandResultPayload,
    "session": SessionPayload,
    "replay": ReplayPayload,
}


# Which model each station or gateway topic carries (see ``topics.route``).
BY_KIND: dict[str, type[BaseModel]] = {
    "state": StatePayload,
    "telemetry": TelemetryPayload,
    "heart_rate": HeartRatePayload,
    "workout": WorkoutPayload,
    "safety/events": SafetyEventPayload,
    "alerts": AlertPayload,
    "cmd": CommandPayload,
    "cmd/result": CommandResultPayload,
    "diag": DiagPayload,
    "session": SessionPayload,
    "replay": ReplayPayload,
}


def read(kind: str, payload: bytes) -> BaseModel:
    """The model a topic of this kind carries, validated from its JSON.

    Raises ``ValueError`` (pydantic's ValidationError is one) for a payload
    that breaks the contract, and ``KeyError`` for a kind that has no model.
    """
    return BY_KIND[kind].model_validate_json(payload)
