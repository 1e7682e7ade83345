"""Bluetooth SIG UUIDs for the services and characteristics retrogate uses."""

from __future__ import annotations

_BASE = "0000{:04x}-0000-1000-8000-00805f9b34fb"


def uuid16(short: int) -> str:
    """Expand a 16-bit SIG UUID to the 128-bit string form BlueZ and bleak use."""
    return _BASE.format(short)


FITNESS_MACHINE_SERVICE = uuid16(0x1826)
FITNESS_MACHINE_FEATURE = uuid16(0x2ACC)
TREADMILL_DATA = uuid16(0x2ACD)
TRAINING_STATUS = uuid16(0x2AD3)
SUPPORTED_SPEED_RANGE = uuid16(0x2AD4)
SUPPORTED_INCLINATION_RANGE = uuid16(0x2AD5)
FITNESS_MACHINE_CONTROL_POINT = uuid16(0x2AD9)
FITNESS_MACHINE_STATUS = uuid16(0x2ADA)

HEART_RATE_SERVICE = uuid16(0x180D)
HEART_RATE_MEASUREMENT = uuid16(0x2A37)
BODY_SENSOR_LOCATION = uuid16(0x2A38)

BATTERY_SERVICE = uuid16(0x180F)
BATTERY_LEVEL = uuid16(0x2A19)

DEVICE_INFORMATION_SERVICE = uuid16(0x180A)
MANUFACTURER_NAME = uuid16(0x2A29)
MODEL_NUMBER = uuid16(0x2A24)
SERIAL_NUMBER = uuid16(0x2A25)
FIRMWARE_REVISION = uuid16(0x2A26)

# FTMS Service Data in advertisements: flags byte then machine type bit field.
FTMS_AVAILABLE_FLAG = 0x01
MACHINE_TYPE_TREADMILL = 0x0001
# What a treadmill advertises: available, and the treadmill bit (a little-endian uint16).
TREADMILL_SERVICE_DATA = bytes((FTMS_AVAILABLE_FLAG, MACHINE_TYPE_TREADMILL, 0))

# Running Speed and Cadence: what Garmin watches and Zwift Companion pair with.
RUNNING_SPEED_CADENCE_SERVICE = uuid16(0x1814)
RSC_MEASUREMENT = uuid16(0x2A53)
RSC_FEATURE = uuid16(0x2A54)
SENSOR_LOCATION = uuid16(0x2A5D)
