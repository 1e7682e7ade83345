"""Hypothesis strategies for valid wire records (shared by codec and simulator tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import strategies as st

from gateway.ftms import (
    ControlOp,
    ControlPointRequest,
    ControlPointResponse,
    FitnessMachineFeature,
    HeartRate,
    InclineRange,
    MachineStatus,
    MachineStatusOp,
    ResultCode,
    SpeedRange,
    StopPause,
    TrainingStatus,
    TrainingStatusCode,
    TreadmillData,
)
from gateway.ftms.machine import MACHINE_FEATURES, TARGET_SETTINGS


def scaled(low: int, high: int, scale: int) -> st.SearchStrategy[float]:
    """Values that are whole numbers of wire units, as the decoder produces them."""
    return st.integers(low, high).map(lambda raw: raw / scale)


def maybe(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    """The value or absent."""
    return st.none() | strategy


T = TypeVar("T")


def record(cls: Callable[..., T], *args: Any, **kwargs: Any) -> st.SearchStrategy[T]:
    """Build ``cls`` from exactly the strategies given; st.builds would also
    invent values for defaulted fields (warnings, parameter, ...)."""
    return st.builds(lambda *a, **k: cls(*a, **k), *args, **kwargs)


U16, U24 = 0xFFFF, 0xFFFFFF


@st.composite
def treadmill_data(draw: st.DrawFn, pace_max: int = 0xFF) -> TreadmillData:
    elevation = draw(st.booleans())
    return TreadmillData(
        speed_kmh=draw(maybe(scaled(0, U16, 100))),
        avg_speed_kmh=draw(maybe(scaled(0, U16, 100))),
        distance_m=draw(maybe(st.integers(0, U24))),
        incline_pct=draw(maybe(scaled(-0x8000, 0x7FFE, 10))),
        ramp_angle_deg=draw(maybe(scaled(-0x8000, 0x7FFE, 10))),
        elevation_gain_m=draw(scaled(0, U16, 10)) if elevation else None,
        elevation_loss_m=draw(scaled(0, U16, 10)) if elevation else None,
        pace_kmmin=draw(maybe(scaled(0, pace_max, 10))),
        avg_pace_kmmin=draw(maybe(scaled(0, pace_max, 10))),
        energy_kcal=draw(maybe(st.integers(0, U16 - 1))),
        energy_per_hour_kcal=draw(maybe(st.integers(0, U16 - 1))),
        energy_per_minute_kcal=draw(maybe(st.integers(0, 0xFE))),
        heart_rate_bpm=draw(maybe(st.integers(0, 0xFF))),
        met=draw(maybe(scaled(0, 0xFF, 10))),
        elapsed_s=draw(maybe(st.integers(0, U16))),
        remaining_s=draw(maybe(st.integers(0, U16))),
        force_n=draw(maybe(st.integers(-0x8000, 0x7FFE))),
        power_w=draw(maybe(st.integers(-0x8000, 0x7FFE))),
        steps=draw(maybe(st.integers(0, U24))),
    )


features = record(
    FitnessMachineFeature,
    machine_features=st.lists(st.sampled_from(MACHINE_FEATURES), unique=True).map(
        lambda names: tuple(sorted(names, key=MACHINE_FEATURES.index))
    ),
    target_settings=st.lists(st.sampled_from(TARGET_SETTINGS), unique=True).map(
        lambda names: tuple(sorted(names, key=TARGET_SETTINGS.index))
    ),
)
speed_ranges = record(
    SpeedRange, scaled(0, U16, 100), scaled(0, U16, 100), scaled(1, U16, 100)
).filter(lambda r: r.min_kmh <= r.max_kmh)
incline_ranges = record(
    InclineRange, scaled(-0x8000, 0x7FFF, 10), scaled(-0x8000, 0x7FFF, 10), scaled(1, U16, 10)
).filter(lambda r: r.min_pct <= r.max_pct)
training_statuses = record(
    TrainingStatus, st.sampled_from(TrainingStatusCode), st.none() | st.text(max_size=20)
)
_PLAIN_OPS = [
    MachineStatusOp.RESET,
    MachineStatusOp.STOPPED_BY_SAFETY_KEY,
    MachineStatusOp.STARTED_OR_RESUMED_BY_USER,
    MachineStatusOp.CONTROL_PERMISSION_LOST,
]
machine_statuses = st.one_of(
    record(MachineStatus, st.sampled_from(_PLAIN_OPS)),
    record(
        MachineStatus,
        st.just(MachineStatusOp.TARGET_SPEED_CHANGED),
        target_speed_kmh=scaled(0, U16, 100),
    ),
    record(
        MachineStatus,
        st.just(MachineStatusOp.TARGET_INCLINE_CHANGED),
        target_incline_pct=scaled(-0x8000, 0x7FFF, 10),
    ),
    record(
        MachineStatus,
        st.just(MachineStatusOp.STOPPED_OR_PAUSED_BY_USER),
        stop_pause=st.sampled_from(StopPause),
    ),
    record(
        MachineStatus,
        st.just(MachineStatusOp.TARGETED_DISTANCE_CHANGED),
        parameter=st.tuples(st.integers(0, U24)),
    ),
)
control_requests = st.one_of(
    record(
        ControlPointRequest,
        st.sampled_from([ControlOp.REQUEST_CONTROL, ControlOp.RESET, ControlOp.START_OR_RESUME]),
    ),
    record(
        ControlPointRequest,
        st.just(ControlOp.SET_TARGET_SPEED),
        target_speed_kmh=scaled(0, U16, 100),
    ),
    record(
        ControlPointRequest,
        st.just(ControlOp.SET_TARGET_INCLINATION),
        target_incline_pct=scaled(-0x8000, 0x7FFF, 10),
    ),
    record(
        ControlPointRequest, st.just(ControlOp.STOP_OR_PAUSE), stop_pause=st.sampled_from(StopPause)
    ),
    record(
        ControlPointRequest,
        st.just(ControlOp.SET_TARGETED_TIME_IN_THREE_HR_ZONES),
        parameter=st.tuples(st.integers(0, U16), st.integers(0, U16), st.integers(0, U16)),
    ),
)
control_responses = record(
    ControlPointResponse,
    st.sampled_from(ControlOp),
    st.sampled_from(ResultCode),
    st.binary(max_size=4),
)
heart_rates = record(
    HeartRate,
    st.integers(0, U16),
    st.none() | st.booleans(),
    st.none() | st.integers(0, U16),
    st.lists(st.integers(0, U16).map(lambda raw: raw / 1024), max_size=9).map(tuple),
)
