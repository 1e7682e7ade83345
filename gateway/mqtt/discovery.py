"""Home Assistant device discovery (``homeassistant/device/<id>/config``, HA ≥ 2024.11).

One retained message per station describes the whole device: sensors read
the retained ``state`` topic, numbers and buttons publish commands on
``…/cmd`` like any other client (so they meet the governor like any other).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiomqtt

from ..contract.topics import Topics
from ..hub import Hub, HubMessage, Listener, StateMessage
from ..safety.governor import Phase

DEFAULT_MAX_KMH = 20.0  # until the treadmill says its range
ORIGIN = {"name": "retrogate"}  # no url: the project has no public home yet


def device_id(topics: Topics, station: str) -> str:
    """A device id unique across gateways on one broker."""
    return f"retrogate_{topics.gateway}_{station}".replace("-", "_")


def discovery_topic(discovery_prefix: str, topics: Topics, station: str) -> str:
    """Where the station's device config is published (retained)."""
    return f"{discovery_prefix}/device/{device_id(topics, station)}/config"


def _command(cmd: str, value: str | None = None) -> str:
    # HA renders this template on every press/set; a fresh id per command keeps
    # results apart.
    value_part = f', "value": {value}' if value is not None else ""
    return (
        '{"id": "ha-' + cmd + '-{{ now().timestamp() }}", "cmd": "' + cmd + '"' + value_part + "}"
    )


def device_config(
    topics: Topics,
    station: str,
    *,
    version: str,
    max_speed_kmh: float,
    backward_cap_kmh: float,
) -> dict[str, Any]:
    """The discovery payload for one station."""
    dev = device_id(topics, station)
    state = topics.state(station)
    cmd = topics.command(station)

    def sensor(key: str, name: str, template: str, **extra: Any) -> dict[str, Any]:
        return {
            "p": "sensor",
            "name": name,
            "unique_id": f"{dev}_{key}",
            "state_topic": state,
            "value_template": template,
            **extra,
        }

    components: dict[str, Any] = {
        "speed": sensor(
            "speed",
            "Belt speed",
            "{{ value_json.speed_kmh }}",
            device_class="speed",
            unit_of_measurement="km/h",
            state_class="measurement",
        ),
        "distance": sensor(
            "distance",
            "Distance",
            "{{ value_json.distance_m }}",
            device_class="distance",
            unit_of_measurement="m",
            state_class="total_increasing",
        ),
        "energy": sensor(
            "energy",
            "Energy",
            "{{ value_json.energy_kcal }}",
            unit_of_measurement="kcal",
            state_class="total_increasing",
            icon="mdi:fire",
        ),
        "heart_rate": sensor(
            "heart_rate",
            "Heart rate",
            "{{ value_json.heart_rate_bpm }}",
            unit_of_measurement="bpm",
            state_class="measurement",
            icon="mdi:heart-pulse",
        ),
        "duration": sensor(
            "duration",
            "Elapsed",
            "{{ value_json.elapsed_s }}",
            device_class="duration",
            unit_of_measurement="s",
        ),
        "incline": sensor(
            "incline",
            "Incline",
            "{{ value_json.incline_pct }}",
            unit_of_measurement="%",
            state_class="measurement",
        ),
        "direction": sensor(
            "direction",
            "Direction",
            "{{ value_json.direction }}",
            device_class="enum",
            options=["forward", "backward"],
        ),
        "phase": sensor(
            "phase",
            "Phase",
            "{{ value_json.phase }}",
            device_class="enum",
            options=[p.value for p in Phase],  # HA refuses a value not listed here
        ),
        "next_turnaround": sensor(
            "next_turnaround",
            "Next turnaround in",
            "{{ value_json.next_turn_s if value_json.next_turn_s is not none else 'unknown' }}",
            device_class="duration",
            unit_of_measurement="s",
        ),
        "backward_left": sensor(
            "backward_left",
            "Backward left",
            "{{ value_json.backward_left_m if value_json.backward_left_m is not none "
            "else 'unknown' }}",
            device_class="distance",
            unit_of_measurement="m",
        ),
        "last_alert": sensor(
            "last_alert", "Last alert", "{{ value_json.last_alert or '' }}", icon="mdi:bullhorn"
        ),
        "cap_active": {
            "p": "binary_sensor",
            "name": "Backward cap active",
            "unique_id": f"{dev}_cap_active",
            "state_topic": state,
            "value_template": "{{ 'ON' if value_json.capped else 'OFF' }}",
        },
        "watch_mode": {
            # On (a problem) when the gateway cannot enforce the cap: the treadmill takes no
            # commands (watch mode) or control is lost.
            "p": "binary_sensor",
            "name": "Cap not enforced",
            "unique_id": f"{dev}_watch_mode",
            "device_class": "problem",
            "state_topic": state,
            "value_template": "{{ 'OFF' if value_json.control == 'held' else 'ON' }}",
        },
        "target_speed": {
            "p": "number",
            "name": "Target speed",
            "unique_id": f"{dev}_target_speed",
            "state_topic": state,
            "value_template": "{{ value_json.target_kmh or 0 }}",
            "command_topic": cmd,
            "command_template": _command("set_speed", "{{ value }}"),
            "min": 0,
            "max": max_speed_kmh,
            "step": 0.1,
            "unit_of_measurement": "km/h",
            "mode": "box",
        },
        "backward_cap": {
            "p": "number",
            "name": "Backward cap",
            "unique_id": f"{dev}_backward_cap",
            "state_topic": state,
            "value_template": "{{ value_json.cap_kmh }}",
            "command_topic": cmd,
            "command_template": _command("set_cap", "{{ value }}"),
            "min": 0.5,
            "max": backward_cap_kmh,
            "step": 0.1,
            "unit_of_measurement": "km/h",
            "mode": "box",
        },
    }
    for action in ("start", "pause", "stop"):
        components[action] = {
            "p": "button",
            "name": action.capitalize(),
            "unique_id": f"{dev}_{action}",
            "command_topic": cmd,
            "command_template": _command(action),
        }
    for component in components.values():
        component["qos"] = 1  # HA reads qos per component; the root one is ignored
    return {
        "dev": {
            "ids": [dev],
            "name": f"Treadmill {station}",
            "mf": "retrogate",
            "mdl": "FTMS treadmill",
            "sw": version,
        },
        "o": {**ORIGIN, "sw": version},
        "availability": [
            {"topic": topics.gateway_status},
            {"topic": topics.availability(station, "treadmill")},
        ],
        "availability_mode": "all",
        "qos": 1,
        "cmps": components,
    }


class Discovery:
    """Every station's device config, sent on connect, when HA comes online, and when
    what it says changes (the treadmill's speed range arrives after the connect)."""

    def __init__(
        self,
        discovery_prefix: str,
        topics: Topics,
        caps: dict[str, float],
        version: str,
        hubs: dict[str, Hub] | None = None,
    ) -> None:
        self.prefix = discovery_prefix
        self.topics = topics
        self.caps = caps  # station -> its configured backward cap
        self.version = version
        self.hubs = hubs or {}
        self._sent: dict[str, float] = {}
        self.stale = asyncio.Event()  # what the configs say changed since they were sent

    def listen(self) -> list[Callable[[], None]]:
        """Watch the hubs for what discovery says (the treadmill's top speed)."""

        def listener(station: str) -> Listener:
            def on_message(message: HubMessage) -> None:
                top = message.snapshot.max_kmh if isinstance(message, StateMessage) else None
                if top is not None and top != self._sent.get(station):
                    self.stale.set()

            return on_message

        return [hub.subscribe(listener(station)) for station, hub in self.hubs.items()]

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth and will topic: ``online`` means "send discovery again"."""
        return f"{self.prefix}/status"

    def _max_kmh(self, station: str) -> float:
        hub = self.hubs.get(station)
        known = hub.snapshot.max_kmh if hub is not None else None
        return known if known is not None else DEFAULT_MAX_KMH

    def changed(self) -> bool:
        """What the configs would say differs from what was last built."""
        return any(self._sent.get(s) != self._max_kmh(s) for s in self.caps)

    def messages(self) -> list[tuple[str, str]]:
        """(topic, retained JSON) per station."""
        out = []
        for station, cap in self.caps.items():
            top = self._sent[station] = self._max_kmh(station)
            config = device_config(
                self.topics, station, version=self.version, max_speed_kmh=top, backward_cap_kmh=cap
            )
            out.append((discovery_topic(self.prefix, self.topics, station), json.dumps(config)))
        return out

    async def send(self, client: aiomqtt.Client) -> None:
        """Publish every station's config, retained, QoS 1."""
        for topic, body in self.messages():
            await client.publish(topic, body, qos=1, retain=True)
