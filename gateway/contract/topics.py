"""The topic tree of MQTT.md, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

# What a station topic carries, after ``<prefix>/<station>/``.
StationKind = Literal[
    "state",
    "telemetry",
    "heart_rate",
    "workout",
    "safety/events",
    "alerts",
    "cmd",
    "cmd/result",
    "owner",
    "session",
    "treadmill/availability",
    "hrm/availability",
]
# What a gateway topic carries, after ``<prefix>/gateways/<gateway>/``.
GatewayKind = Literal["status", "diag", "fence", "replay", "bridge"]
_STATION_KINDS: frozenset[str] = frozenset(get_args(StationKind))
_GATEWAY_KINDS: frozenset[str] = frozenset(get_args(GatewayKind))


@dataclass(frozen=True, slots=True)
class StationTopic:
    """A topic about one station."""

    station: str
    kind: StationKind


@dataclass(frozen=True, slots=True)
class GatewayTopic:
    """A topic about one gateway."""

    gateway: str
    kind: GatewayKind


def route(prefix: str, topic: str) -> StationTopic | GatewayTopic | None:
    """What a topic under ``prefix`` is about; None for one the contract does not define.

    Consumers route with this rather than splitting topics by hand, so a
    topic renamed here is renamed for both sides.
    """
    base = prefix.split("/")
    parts = topic.split("/")
    if parts[: len(base)] != base or len(parts) < len(base) + 2:
        return None
    head, rest = parts[len(base)], "/".join(parts[len(base) + 1 :])
    if head == "gateways":
        gateway, _, kind = rest.partition("/")
        if kind in _GATEWAY_KINDS and gateway:
            return GatewayTopic(gateway, kind)  # type: ignore[arg-type]
        return None
    if rest in _STATION_KINDS and head:
        return StationTopic(head, rest)  # type: ignore[arg-type]
    return None


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one gateway under a prefix (default ``retrogate``)."""

    prefix: str
    gateway: str = ""  # a consumer that only reads and commands stations has none

    @property
    def gateway_status(self) -> str:
        """``online``/``offline``, retained; the connection's Last Will."""
        return f"{self.prefix}/gateways/{self.gateway}/status"

    @property
    def diag(self) -> str:
        """Counters, retained."""
        return f"{self.prefix}/gateways/{self.gateway}/diag"

    def availability(self, station: str, device: Literal["treadmill", "hrm"]) -> str:
        """Per-device ``online``/``offline``, retained."""
        return f"{self.prefix}/{station}/{device}/availability"

    def state(self, station: str) -> str:
        """JSON snapshot at most once a second, retained."""
        return f"{self.prefix}/{station}/state"

    def telemetry(self, station: str) -> str:
        """One message per treadmill record, with ``seq``: the stream nothing may lose."""
        return f"{self.prefix}/{station}/telemetry"

    def heart_rate(self, station: str) -> str:
        """One message per HR sample, with ``seq``."""
        return f"{self.prefix}/{station}/heart_rate"

    def workout(self, station: str) -> str:
        """The active plan and segment, retained."""
        return f"{self.prefix}/{station}/workout"

    def safety_events(self, station: str) -> str:
        """Every governor decision."""
        return f"{self.prefix}/{station}/safety/events"

    def alerts(self, station: str) -> str:
        """What the runner is told (an extension of MQTT.md for dashboards)."""
        return f"{self.prefix}/{station}/alerts"

    def owner(self, station: str) -> str:
        """Which gateway serves the station (retained): two may not answer one command."""
        return f"{self.prefix}/{station}/owner"

    def session(self, station: str) -> str:
        """The station's session record (retained): gateway, session, started, ended."""
        return f"{self.prefix}/{station}/session"

    def status_of(self, gateway: str) -> str:
        """Another gateway's ``online``/``offline`` (its Last Will)."""
        return f"{self.prefix}/gateways/{gateway}/status"

    def command(self, station: str) -> str:
        """Commands in (never retained)."""
        return f"{self.prefix}/{station}/cmd"

    @property
    def replay(self) -> str:
        """Where an archive asks this gateway to send stored stream messages again."""
        return f"{self.prefix}/gateways/{self.gateway}/replay"

    def replay_of(self, gateway: str) -> str:
        """Another gateway's replay topic (the archive's side)."""
        return f"{self.prefix}/gateways/{gateway}/replay"

    @property
    def fence(self) -> str:
        """The gateway's own round-trip marker (MQTT 3.1.1 retained-command check)."""
        return f"{self.prefix}/gateways/{self.gateway}/fence"

    @property
    def reply_namespace(self) -> str:
        """Where MQTT v5 response topics may point (``<prefix>/reply/…``), nowhere else."""
        return f"{self.prefix}/reply/"

    def command_result(self, station: str) -> str:
        """One answer per command."""
        return f"{self.prefix}/{station}/cmd/result"

    def command_filter(self) -> str:
        """Subscription for the commands of every station."""
        return f"{self.prefix}/+/cmd"

    def station_of_command(self, topic: str) -> str | None:
        """The station a command topic addresses, or None if it is not one."""
        return self._station_of(topic, "cmd")

    def station_of_owner(self, topic: str) -> str:
        """The station of an owner record's topic ("" if it is not one)."""
        return self._station_of(topic, "owner") or ""

    def _station_of(self, topic: str, leaf: str) -> str | None:
        parts = topic.split("/")
        prefix = self.prefix.split("/")
        if len(parts) == len(prefix) + 2 and parts[: len(prefix)] == prefix and parts[-1] == leaf:
            return parts[len(prefix)]
        return None
