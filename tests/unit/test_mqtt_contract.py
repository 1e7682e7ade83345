"""The MQTT contract without a broker: topics, payloads, command parsing."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.contract.payloads import (
    SCHEMAS,
    CommandResultPayload,
    HeartRatePayload,
    StatePayload,
    TelemetryPayload,
)
from gateway.contract.topics import Topics
from gateway.ftms import HeartRate, TreadmillData
from gateway.hub import Snapshot
from gateway.mqtt.commands import parse_command
from gateway.safety.direction import Direction
from gateway.safety.events import Command, CommandKind

T = Topics("retrogate", "pi")


def test_topics_follow_mqtt_md() -> None:
    assert T.gateway_status == "retrogate/gateways/pi/status"
    assert T.diag == "retrogate/gateways/pi/diag"
    assert T.availability("tm1", "hrm") == "retrogate/tm1/hrm/availability"
    assert T.state("tm1") == "retrogate/tm1/state"
    assert T.telemetry("tm1") == "retrogate/tm1/telemetry"
    assert T.safety_events("tm1") == "retrogate/tm1/safety/events"
    assert T.command("tm1") == "retrogate/tm1/cmd"
    assert T.command_result("tm1") == "retrogate/tm1/cmd/result"
    assert T.station_of_command("retrogate/tm1/cmd") == "tm1"
    assert T.station_of_command("retrogate/tm1/cmd/result") is None
    assert Topics("gym/floor2", "pi").station_of_command("gym/floor2/tm7/cmd") == "tm7"


def test_payloads_use_the_canonical_names_and_a_version() -> None:
    record = TreadmillData(speed_kmh=6.27, distance_m=12)
    telemetry = TelemetryPayload.of(
        7, 1.5, record, "backward", True, 6.0, 3.25, "acsm", gateway="pi-1", session=4
    )
    assert json.loads(telemetry.model_dump_json()) == {
        "v": 1,
        "seq": 7,
        "ts": 1.5,
        "gateway": "pi-1",  # (gateway, station, session, seq) is unique across a site
        "session": 4,
        "direction": "backward",
        "capped": True,
        "cap_kmh": 6.0,
        "gateway_kcal": 3.25,
        "energy_method": "acsm",
        "speed_kmh": 6.27,
        "distance_m": 12,
    }
    hr = HeartRatePayload.of(3, 2.0, HeartRate(120, True, None, (0.5,)))
    assert hr.model_dump()["rr_intervals_s"] == [0.5]
    state = StatePayload.of(
        9.0, Snapshot("tm1", speed_kmh=5.5, capped=True, direction=Direction.BACKWARD)
    )
    assert (state.capped, state.direction, state.speed_kmh) == (True, "backward", 5.5)


def test_every_payload_has_a_json_schema() -> None:
    for name, model in SCHEMAS.items():
        schema = model.model_json_schema()
        assert schema["type"] == "object", name


def parse(payload: object, *, retained: bool = False) -> Command | CommandResultPayload:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_command(raw, retained=retained, wall_now=1000.0, session_now=50.0)


def test_a_good_command_becomes_a_governor_command_with_its_age() -> None:
    command = parse({"id": "a1", "cmd": "set_speed", "value": 5.5, "ttl_ms": 2000, "ts": 999.0})
    assert command == Command(
        "a1", CommandKind.SET_SPEED, 5.5, issued_at=49.0, ttl_s=2.0, source="mqtt"
    )
    assert isinstance(parse({"id": "n", "cmd": "next_segment"}), Command)


@pytest.mark.parametrize(
    ("payload", "error", "command_id"),
    [
        (b"{not json", "not JSON", None),
        (b"\xff\xfe", "not JSON", None),
        ({"id": "r", "cmd": "start"}, "retained commands are ignored", "r"),
        ({"id": "x", "cmd": "fly"}, "cmd: Input should be 'start', 'pause'", "x"),
        ({"cmd": "start"}, "id: Field required", None),
        ({"id": "x", "cmd": "start", "extra": 1}, "extra: Extra inputs are not permitted", "x"),
        ({"id": "x", "cmd": "set_speed", "value": [1]}, "value", "x"),
        # A JSON true is not 1 km/h: a wrong type never becomes a belt command.
        ({"id": "x", "cmd": "set_speed", "value": True}, "value.float: Input should be", "x"),
        ({"id": "x", "cmd": "set_speed", "value": 3, "ttl_ms": 1.5}, "ttl_ms: Input should", "x"),
        (
            {"id": "x", "cmd": "set_speed", "ttl_ms": 0},
            "ttl_ms: Input should be greater than or equal to 1",
            "x",
        ),
        (b'{"id": "x", "cmd": "set_speed", "value": NaN}', "value: must be a finite number", "x"),
        (b"[" * 5000, "payload is 5000 bytes", None),
    ],
)
def test_bad_commands_get_one_precise_refusal(
    payload: object, error: str, command_id: str | None
) -> None:
    result = parse(payload, retained=command_id == "r")
    assert isinstance(result, CommandResultPayload)
    assert not result.ok
    assert result.id == command_id
    assert error in (result.error or "")


@given(
    st.binary(max_size=300)
    | st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        ),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode())
)
def test_nothing_escapes_the_parser(raw: bytes) -> None:
    result = parse_command(raw, retained=False, wall_now=1000.0, session_now=50.0)
    if isinstance(result, Command):
        assert not (isinstance(result.value, float) and not math.isfinite(result.value))
    else:
        assert result.ok is False
        assert result.error


def test_the_schema_in_docs_is_the_one_the_code_generates() -> None:
    from pathlib import Path

    from gateway.commands.schema import schema_document

    docs = Path(__file__).resolve().parents[2] / "docs" / "mqtt-schema.json"
    assert docs.read_text() == schema_document(), "run: uv run retrogate mqtt-schema -o " + str(
        docs.relative_to(docs.parents[1])
    )


@pytest.mark.parametrize("version", [True, 1.0, "1", 2])
def test_the_version_is_the_integer_1_and_nothing_that_equals_it(version: object) -> None:
    """Defect (issue 23): ``"v": true`` was taken as ``"v": 1`` (a lax Literal[1]); the
    published schema says integer 1, and mistyped fields are refused everywhere else."""
    raw = json.dumps({"v": version, "id": "x", "cmd": "start"}).encode()
    refusal = parse_command(raw, retained=False, wall_now=0.0, session_now=0.0)
    assert isinstance(refusal, CommandResultPayload)
    assert (refusal.error or "").startswith("v:")
    with pytest.raises(ValidationError):
        CommandResultPayload.model_validate({"v": version, "id": "x", "ok": True})


SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "mqtt-schema.json"


def _doc_examples() -> list[tuple[str, object]]:
    """Every JSON example in the docs: ```json blocks, and the ``-m '…'`` of the shell ones."""
    docs = Path(__file__).resolve().parents[2] / "docs"
    found: list[tuple[str, object]] = []
    decoder = json.JSONDecoder()
    for page in sorted(docs.glob("*.md")):
        text = page.read_text()
        for block in re.findall(r"```json\n(.*?)```", text, re.S):
            at = 0
            while (at := _skip_space(block, at)) < len(block):
                obj, at = decoder.raw_decode(block, at)
                found.append((f"{page.name}: {json.dumps(obj)[:60]}", obj))
        for message in re.findall(r"-m '(\{.*?\})'", text):
            found.append((f"{page.name}: -m {message[:60]}", json.loads(message)))
    return found


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def test_every_example_in_the_docs_meets_the_published_schema() -> None:
    """Read by an independent validator (jsonschema), against docs/mqtt-schema.json."""
    published = json.loads(SCHEMA_FILE.read_text())["payloads"]
    validators = {
        name: jsonschema.Draft202012Validator(schema) for name, schema in published.items()
    }
    examples = _doc_examples()
    assert len(examples) >= 7
    for where, example in examples:
        fits = [name for name, v in validators.items() if v.is_valid(example)]
        assert fits, f"{where} meets no payload schema"
        if isinstance(example, dict) and "v" in example:
            lax = {**example, "v": True}
            assert not [n for n in fits if validators[n].is_valid(lax)], where
            for name in fits:
                with pytest.raises(ValidationError):
                    SCHEMAS[name].model_validate(lax)
