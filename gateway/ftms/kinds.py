"""Decoders by the name users give a characteristic (``retrogate decode KIND``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .control import decode_control_request, decode_control_response
from .heart_rate import decode_battery_level, decode_body_sensor_location, decode_heart_rate
from .machine import (
    decode_feature,
    decode_incline_range,
    decode_machine_status,
    decode_speed_range,
    decode_training_status,
)
from .treadmill import decode_treadmill_data

DECODERS: Mapping[str, Callable[[bytes], Any]] = {
    "treadmill-data": decode_treadmill_data,
    "feature": decode_feature,
    "speed-range": decode_speed_range,
    "incline-range": decode_incline_range,
    "status": decode_machine_status,
    "training-status": decode_training_status,
    "control-point": decode_control_request,
    "control-response": decode_control_response,
    "heart-rate": decode_heart_rate,
    "body-sensor-location": decode_body_sensor_location,
    "battery-level": decode_battery_level,
}
