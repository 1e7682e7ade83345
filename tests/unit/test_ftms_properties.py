"""decode(encode(x)) == x for every valid record, and the joiner's contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import ftms
from gateway.ftms import TreadmillData, TreadmillDataJoiner

from . import strategies as s

PAIRS: list[tuple[st.SearchStrategy[Any], Callable[[Any], bytes], Callable[[bytes], Any]]] = [
    (s.treadmill_data(), ftms.encode_treadmill_data, ftms.decode_treadmill_data),
    (s.features, ftms.encode_feature, ftms.decode_feature),
    (s.speed_ranges, ftms.encode_speed_range, ftms.decode_speed_range),
    (s.incline_ranges, ftms.encode_incline_range, ftms.decode_incline_range),
    (s.training_statuses, ftms.encode_training_status, ftms.decode_training_status),
    (s.machine_statuses, ftms.encode_machine_status, ftms.decode_machine_status),
    (s.control_requests, ftms.encode_control_request, ftms.decode_control_request),
    (s.control_responses, ftms.encode_control_response, ftms.decode_control_response),
    (s.heart_rates, ftms.encode_heart_rate, ftms.decode_heart_rate),
]


@pytest.mark.parametrize(
    ("strategy", "encode", "decode"), PAIRS, ids=[p[1].__name__ for p in PAIRS]
)
def test_round_trip(
    strategy: st.SearchStrategy[Any],
    encode: Callable[[Any], bytes],
    decode: Callable[[bytes], Any],
) -> None:
    @given(strategy)
    def check(record: Any) -> None:
        assert decode(encode(record)) == record

    check()


@given(s.treadmill_data(pace_max=0xFFFF))
def test_round_trip_with_two_byte_pace(record: TreadmillData) -> None:
    frame = ftms.encode_treadmill_data(record, pace_bytes=2)
    assert ftms.decode_treadmill_data(frame, pace_bytes=2) == record


@given(s.treadmill_data(), st.integers(0, 40))
def test_any_truncation_keeps_a_prefix_of_the_fields(record: TreadmillData, cut: int) -> None:
    frame = ftms.encode_treadmill_data(record)
    if cut >= len(frame) - 2:
        return
    short = ftms.decode_treadmill_data(frame[: len(frame) - cut - 1], pace_bytes=1)
    assert short.warnings
    for name, got in zip(TreadmillData._fields[:-1], short[:-1], strict=True):
        assert got is None or got == getattr(record, name)


@given(
    st.lists(s.treadmill_data().map(lambda r: r._replace(speed_kmh=None)), max_size=5),
    s.treadmill_data(),
    s.scaled(0, 0xFFFF, 100),
)
def test_joiner_merges_parts_and_the_last_part_wins(
    parts: list[TreadmillData], last: TreadmillData, speed: float
) -> None:
    last = last._replace(speed_kmh=speed)
    joiner = TreadmillDataJoiner()
    assert all(joiner.feed(p) is None for p in parts)
    joined = joiner.feed(last)
    assert joined is not None
    assert joiner.pending == 0
    for i, name in enumerate(TreadmillData._fields[:-1]):
        candidates = [p[i] for p in [*parts, last] if p[i] is not None]
        assert getattr(joined, name) == (candidates[-1] if candidates else None)


def test_joiner_releases_parts_that_never_end() -> None:
    joiner = TreadmillDataJoiner(max_parts=3)
    part = TreadmillData(distance_m=5)
    assert joiner.feed(part) is None
    assert joiner.feed(part) is None
    released = joiner.feed(part)
    assert released is not None
    assert released.distance_m == 5
    assert released.warnings == ("no last part after 3 parts with More Data; released as is",)
    assert joiner.pending == 0
