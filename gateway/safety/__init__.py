"""The speed governor: the only door to the treadmill's control point.

Pure: ``step(state, event, now) -> (state, actions)``. No I/O, no clock, no
asyncio, so every rule in SAFETY.md is a table row with a test and the
invariants are checked exhaustively with hypothesis.
"""

from .actions import (
    Action,
    Alert,
    CommandResult,
    Decision,
    Pause,
    RequestControl,
    SetIncline,
    SetTargetSpeed,
    Start,
    Stop,
)
from .events import (
    Command,
    CommandFailed,
    ControlGranted,
    ControlLost,
    EffortTarget,
    Event,
    HeartRateSample,
    MachineStopped,
    SegmentChange,
    SpeedRangeReported,
    TargetReported,
    Tick,
    TreadmillRecord,
)
from .governor import GovernorState, initial_state, step
from .limits import SafetyLimits

__all__ = [
    "Action",
    "Alert",
    "Command",
    "CommandFailed",
    "CommandResult",
    "ControlGranted",
    "ControlLost",
    "Decision",
    "EffortTarget",
    "Event",
    "GovernorState",
    "HeartRateSample",
    "MachineStopped",
    "Pause",
    "RequestControl",
    "SafetyLimits",
    "SegmentChange",
    "SetIncline",
    "SetTargetSpeed",
    "SpeedRangeReported",
    "Start",
    "Stop",
    "TargetReported",
    "Tick",
    "TreadmillRecord",
    "initial_state",
    "step",
]
