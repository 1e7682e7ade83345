"""A treadmill as physics and rules, with time handed in (no clock, no I/O).

It behaves the way the FTMS spec and real machines do: the belt follows its
target with bounded acceleration, commands need control, out-of-range
parameters are refused, start-while-started fails, and every change of target
(from a client or the console) is announced with a status notification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gateway.ftms import (
    ControlOp,
    ControlPointRequest,
    MachineStatus,
    MachineStatusOp,
    ResultCode,
    StopPause,
    TrainingStatusCode,
    TreadmillData,
)
from gateway.workout.energy import acsm_vo2, kcal_per_min_from_vo2


class BeltState(StrEnum):
    """What the machine is doing."""

    IDLE = "idle"
    STARTED = "started"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True)
class TreadmillSpec:
    """The machine's build: ranges and motor rates."""

    min_kmh: float = 0.5
    max_kmh: float = 16.0
    step_kmh: float = 0.1
    min_incline_pct: float = 0.0
    max_incline_pct: float = 15.0
    step_incline_pct: float = 0.5
    accel_kmh_s: float = 1.0
    decel_kmh_s: float = 1.0
    emergency_decel_kmh_s: float = 3.0
    incline_rate_pct_s: float = 0.5
    start_kmh: float = 1.0  # where the belt goes on Start with no target yet
    console_step_kmh: float = 0.5
    console_step_incline_pct: float = 0.5
    user_weight_kg: float = 70.0  # what the console assumes for its kcal


def _on_grid(value: float, low: float, step: float) -> float:
    """Snap to the machine's increment (integers of 0.01 so 0.1 steps stay exact)."""
    units = round((value - low) / step)
    return round((low + units * step) * 100) / 100


@dataclass
class TreadmillModel:
    """State of one treadmill; ``advance`` moves it to a new time."""

    spec: TreadmillSpec = field(default_factory=TreadmillSpec)
    now: float = 0.0
    state: BeltState = BeltState.IDLE
    belt_kmh: float = 0.0
    target_kmh: float = 0.0
    incline_pct: float = 0.0
    target_incline_pct: float = 0.0
    distance_m: float = 0.0
    elapsed_s: float = 0.0
    energy_kcal: float = 0.0
    # Ground truth for tests: what the belt really did, never reset (the counters
    # above reset on stop, like a real console's).
    odometer_m: float = 0.0
    running_s: float = 0.0
    safety_key_in: bool = True
    controller: str | None = None
    training_status: TrainingStatusCode = TrainingStatusCode.IDLE

    # --- time -----------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Integrate the belt, incline, distance and energy up to ``now``."""
        dt = now - self.now
        if dt <= 0:
            return
        self.now = now
        goal = self.target_kmh if self.state is BeltState.STARTED else 0.0
        if goal >= self.belt_kmh:
            rate = self.spec.accel_kmh_s
        elif self.safety_key_in:
            rate = self.spec.decel_kmh_s
        else:
            rate = self.spec.emergency_decel_kmh_s
        # Exact over any step: a ramp at ``rate`` until the goal, then constant.
        start = self.belt_kmh
        ramp_s = min(dt, abs(goal - start) / rate)
        self.belt_kmh = start + (rate * ramp_s if goal >= start else -rate * ramp_s)
        km_h_seconds = (start + self.belt_kmh) / 2 * ramp_s + self.belt_kmh * (dt - ramp_s)
        mean_kmh = km_h_seconds / dt
        self.distance_m += km_h_seconds / 3.6
        self.odometer_m += km_h_seconds / 3.6
        incline_step = min(
            abs(self.target_incline_pct - self.incline_pct), self.spec.incline_rate_pct_s * dt
        )
        self.incline_pct += (
            incline_step if self.target_incline_pct > self.incline_pct else -incline_step
        )
        if self.state is BeltState.STARTED:
            self.elapsed_s += dt
            self.running_s += dt
        if mean_kmh > 0:
            per_min = kcal_per_min_from_vo2(
                acsm_vo2(mean_kmh, self.incline_pct), self.spec.user_weight_kg
            )
            self.energy_kcal += per_min * dt / 60

    # --- what it reports -----------------------------------------------------

    def record(self) -> TreadmillData:
        """The Treadmill Data this machine would notify now."""
        avg = self.distance_m / self.elapsed_s * 3.6 if self.elapsed_s > 1 else 0.0
        return TreadmillData(
            speed_kmh=round(self.belt_kmh * 100) / 100,
            avg_speed_kmh=round(avg * 100) / 100,
            distance_m=int(self.distance_m),
            incline_pct=round(self.incline_pct * 10) / 10,
            ramp_angle_deg=None,
            energy_kcal=int(self.energy_kcal),
            energy_per_hour_kcal=None,
            energy_per_minute_kcal=None,
            elapsed_s=int(self.elapsed_s),
        )

    # --- the console, as a person presses it ---------------------------------

    def console_speed(self, presses: int) -> list[MachineStatus]:
        """Press + (positive) or - (negative) ``abs(presses)`` times."""
        if self.state is not BeltState.STARTED or presses == 0:
            return []
        return self.set_target(self.target_kmh + presses * self.spec.console_step_kmh)

    def console_incline(self, presses: int) -> list[MachineStatus]:
        """Press incline + or - ``abs(presses)`` times."""
        return self.set_incline(
            self.target_incline_pct + presses * self.spec.console_step_incline_pct
        )

    def console_start(self) -> list[MachineStatus]:
        """The Start button."""
        if self._start() is not ResultCode.SUCCESS:
            return []
        return [MachineStatus(MachineStatusOp.STARTED_OR_RESUMED_BY_USER)]

    def console_stop(self, pause: bool = False) -> list[MachineStatus]:
        """The Stop (or Pause) button."""
        how = StopPause.PAUSE if pause else StopPause.STOP
        if self._stop(how) is not ResultCode.SUCCESS:
            return []
        return [MachineStatus(MachineStatusOp.STOPPED_OR_PAUSED_BY_USER, stop_pause=how)]

    def pull_safety_key(self) -> list[MachineStatus]:
        """The runner fell back far enough to pull the key: emergency stop."""
        if not self.safety_key_in:
            return []
        self.safety_key_in = False
        self.state = BeltState.STOPPED
        self.training_status = TrainingStatusCode.IDLE
        return [MachineStatus(MachineStatusOp.STOPPED_BY_SAFETY_KEY)]

    def insert_safety_key(self) -> list[MachineStatus]:
        """Clip the key back in; the machine stays stopped until started."""
        self.safety_key_in = True
        return []

    # --- the control point ---------------------------------------------------

    def lose_control(self) -> list[MachineStatus]:
        """Take control from its holder (reset, a fault, or the holder left)."""
        if self.controller is None:
            return []
        self.controller = None
        return [MachineStatus(MachineStatusOp.CONTROL_PERMISSION_LOST)]

    def control(
        self, client: str, request: ControlPointRequest, *, refuse_control: bool = False
    ) -> tuple[ResultCode, list[MachineStatus]]:
        """Carry out one request from ``client``; the result and what to notify."""
        op = request.op
        if op is ControlOp.REQUEST_CONTROL:
            if refuse_control or self.controller not in (None, client):
                return ResultCode.CONTROL_NOT_PERMITTED, []
            self.controller = client
            return ResultCode.SUCCESS, []
        if self.controller != client:
            return ResultCode.CONTROL_NOT_PERMITTED, []
        if op is ControlOp.RESET:
            self.controller = None
            self.target_kmh = 0.0
            self.state = BeltState.IDLE if self.belt_kmh == 0 else BeltState.STOPPED
            return ResultCode.SUCCESS, [MachineStatus(MachineStatusOp.RESET)]
        if op is ControlOp.SET_TARGET_SPEED and request.target_speed_kmh is not None:
            speed = request.target_speed_kmh
            if not self.spec.min_kmh <= speed <= self.spec.max_kmh:
                return ResultCode.INVALID_PARAMETER, []
            return ResultCode.SUCCESS, self.set_target(speed)
        if op is ControlOp.SET_TARGET_INCLINATION and request.target_incline_pct is not None:
            incline = request.target_incline_pct
            if not self.spec.min_incline_pct <= incline <= self.spec.max_incline_pct:
                return ResultCode.INVALID_PARAMETER, []
            return ResultCode.SUCCESS, self.set_incline(incline)
        if op is ControlOp.START_OR_RESUME:
            return self._start(), []
        if op is ControlOp.STOP_OR_PAUSE and request.stop_pause is not None:
            return self._stop(request.stop_pause), []
        return ResultCode.OP_CODE_NOT_SUPPORTED, []

    # --- shared rules ---------------------------------------------------------

    def set_target(self, speed: float) -> list[MachineStatus]:
        """Change the target speed (clamped to the range, on the grid) and say so."""
        spec = self.spec
        speed = _on_grid(min(max(speed, spec.min_kmh), spec.max_kmh), spec.min_kmh, spec.step_kmh)
        if speed == self.target_kmh:
            return []
        self.target_kmh = speed
        return [MachineStatus(MachineStatusOp.TARGET_SPEED_CHANGED, target_speed_kmh=speed)]

    def set_incline(self, incline: float) -> list[MachineStatus]:
        """Change the target incline (clamped, on the grid) and say so."""
        spec = self.spec
        incline = min(max(incline, spec.min_incline_pct), spec.max_incline_pct)
        incline = _on_grid(incline, spec.min_incline_pct, spec.step_incline_pct)
        if incline == self.target_incline_pct:
            return []
        self.target_incline_pct = incline
        return [MachineStatus(MachineStatusOp.TARGET_INCLINE_CHANGED, target_incline_pct=incline)]

    def _start(self) -> ResultCode:
        if self.state is BeltState.STARTED or not self.safety_key_in:
            return ResultCode.OPERATION_FAILED
        if self.state is BeltState.STOPPED:
            self.distance_m = self.elapsed_s = self.energy_kcal = 0.0
        if self.target_kmh < self.spec.min_kmh:
            self.target_kmh = max(self.spec.start_kmh, self.spec.min_kmh)
        self.state = BeltState.STARTED
        self.training_status = TrainingStatusCode.MANUAL_MODE
        return ResultCode.SUCCESS

    def _stop(self, how: StopPause) -> ResultCode:
        if self.state is not BeltState.STARTED:
            return ResultCode.OPERATION_FAILED
        self.state = BeltState.PAUSED if how is StopPause.PAUSE else BeltState.STOPPED
        self.training_status = (
            TrainingStatusCode.IDLE if how is StopPause.PAUSE else TrainingStatusCode.POST_WORKOUT
        )
        return ResultCode.SUCCESS
