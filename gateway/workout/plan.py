"""Workout plans: TOML files of forward and backward segments.

A plan that fails validation is refused with the file, segment and field
("intro.toml: segments[3].speed_kmh: Input should be less than or equal to
20"); a risky but valid plan loads with warnings the runner sees first.
"""

from __future__ import annotations

import functools
import json
import re
import stat
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import RetrogateError
from ..safety.direction import Direction
from ..validation import describe, refuse_bool_for_number
from .hrcontrol import HrRange

SPEED_JUMP_WARN_KMH = 3.0
WARM_UP_WARN_S = 300.0  # forward before the first backward step (energy.md advises ten minutes)


MIN_HR_RANGE_BPM = 6  # a narrower range makes the controller chase noise


class Segment(BaseModel):
    """One stretch of a workout, ended by time or by distance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: Direction
    speed_kmh: float = Field(gt=0, le=20)
    duration_s: float | None = Field(None, gt=0, le=4 * 3600)
    distance_m: float | None = Field(None, gt=0, le=50_000)
    incline_pct: float | None = Field(None, ge=-5, le=20)
    hr_zone: int | None = Field(
        None,
        ge=1,
        le=5,
        description="hold this heart-rate zone (1-5, % of HRmax) instead of a speed",
    )
    hr_bpm: tuple[int, int] | None = Field(
        None, description="hold heart rate in [low, high] bpm instead of a speed"
    )
    note: str = ""

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_bool_for_number(cls, value, info)

    @model_validator(mode="after")
    def _one_end(self) -> Segment:
        if (self.duration_s is None) == (self.distance_m is None):
            raise ValueError("give exactly one of duration_s or distance_m")
        if self.hr_zone is not None and self.hr_bpm is not None:
            raise ValueError("give at most one of hr_zone or hr_bpm")
        if self.hr_bpm is not None:
            low, high = self.hr_bpm
            if not 60 <= low < high <= 220 or high - low < MIN_HR_RANGE_BPM:
                raise ValueError(
                    f"hr_bpm must be [low, high] with 60 <= low, high <= 220 and at least "
                    f"{MIN_HR_RANGE_BPM} bpm between them, not {list(self.hr_bpm)}"
                )
        return self

    def hr_target(self, age: float) -> HrRange | None:
        """The heart-rate range this segment holds, if it holds one (its speed is the start)."""
        if self.hr_bpm is not None:
            return HrRange(*self.hr_bpm)
        if self.hr_zone is not None:
            return HrRange.of_zone(self.hr_zone, age)
        return None

    @property
    def expected_distance_m(self) -> float:
        """How far the segment goes (at its target speed, for timed ones)."""
        if self.distance_m is not None:
            return self.distance_m
        assert self.duration_s is not None
        return self.speed_kmh / 3.6 * self.duration_s


NEAR_CEILING_BPM = 8  # a range's top this close to the runner's ceiling: said before the start


class Plan(BaseModel):
    """A named list of segments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    level: int = Field(1, ge=1, le=10, description="1 = first steps; orders the builtin list")
    segments: tuple[Segment, ...] = Field(min_length=1)

    def warnings(
        self,
        backward_cap_kmh: float,
        backward_limit_m: float,
        *,
        age: float = 40,
        hr_ceiling_bpm: float | None = None,
    ) -> list[str]:
        """What a careful coach would point out before the runner starts."""
        out: list[str] = []
        previous: Segment | None = None
        forward_s = 0.0
        warned = False
        for i, seg in enumerate(self.segments):
            if seg.direction is Direction.BACKWARD and not warned:
                warned = True
                if forward_s < WARM_UP_WARN_S:
                    out.append(
                        f"segments[{i}]: backward after {forward_s / 60:.0f} min forward: "
                        f"warm up forward for at least {WARM_UP_WARN_S / 60:.0f} min first"
                    )
            elif not warned:
                forward_s += seg.expected_distance_m / seg.speed_kmh * 3.6
            target = seg.hr_target(age)
            if target is not None and hr_ceiling_bpm is not None:
                room = hr_ceiling_bpm - target.high_bpm
                if room < NEAR_CEILING_BPM:
                    out.append(
                        f"segments[{i}]: heart rate {target} is within {max(room, 0):.0f} bpm "
                        f"of your ceiling ({hr_ceiling_bpm:.0f} bpm): the ceiling will slow the "
                        "belt in it; a range a few beats lower holds better"
                    )
            if seg.direction is Direction.BACKWARD:
                if seg.expected_distance_m > backward_limit_m:
                    out.append(
                        f"segments[{i}]: backward for {seg.expected_distance_m:.0f} m, "
                        f"longer than the {backward_limit_m:.0f} m recommended"
                    )
                if seg.speed_kmh > backward_cap_kmh:
                    out.append(
                        f"segments[{i}]: {seg.speed_kmh} km/h backward will be capped at "
                        f"{backward_cap_kmh} km/h"
                    )
            if (
                previous is not None
                and abs(seg.speed_kmh - previous.speed_kmh) > SPEED_JUMP_WARN_KMH
            ):
                out.append(
                    f"segments[{i}]: speed jumps from {previous.speed_kmh} to {seg.speed_kmh} km/h"
                )
            previous = seg
        return out

    @property
    def total_s(self) -> float:
        """Planned duration, timed segments at face value, distances at target speed."""
        return sum(
            s.duration_s if s.duration_s is not None else s.expected_distance_m / s.speed_kmh * 3.6
            for s in self.segments
        )


class PlanError(RetrogateError, ValueError):
    """A plan file could not be read or failed validation."""


def parse_plan(text: str, origin: str) -> Plan:
    """Validate TOML text; errors name ``origin``, the segment and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{origin}: not valid TOML: {exc}") from exc
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanError(f"{origin}: {describe(exc, 'plan')}") from exc


def load_plan_file(path: Path) -> Plan:
    """Read a plan from a file (UTF-8; a file that is not says so, with its name)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise PlanError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    return parse_plan(text, str(path))


def builtin_plans() -> dict[str, Plan]:
    """The plans shipped with retrogate, by name (file stem)."""
    return dict(_builtin_plans())  # a copy: the cached one is shared


@functools.cache
def _builtin_plans() -> dict[str, Plan]:
    """Read and validated once per process (``resolve_plan`` and ``load_plan`` ask often)."""
    folder = resources.files(__package__) / "plans"
    plans = {
        entry.name.removesuffix(".toml"): parse_plan(entry.read_text(encoding="utf-8"), entry.name)
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }
    return dict(sorted(plans.items(), key=lambda item: (item[1].level, item[0])))


PLAN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_PLAN_BYTES = 64 * 1024


def plan_by_name(name: str, folder: Path | None) -> Plan:
    """A plan a command may load: a builtin, or ``<folder>/<name>.toml``. Never a path.

    A name, not a path, so a command cannot make the gateway read
    ``/dev/zero`` or a file of anyone's choosing; a regular file of at most
    MAX_PLAN_BYTES. Blocking (it reads a file): call it off the event loop.
    """
    if not PLAN_NAME.match(name):
        raise PlanError(
            f"plan name {name[:80]!r}: letters, digits, '-' and '_' only (a builtin plan, "
            "or a file in the plans folder, by name)"
        )
    plans = builtin_plans()
    if name in plans:
        return plans[name]
    if folder is not None:
        path = folder / f"{name}.toml"
        try:
            info = path.stat()
        except OSError:
            info = None
        if info is not None:
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_PLAN_BYTES:
                raise PlanError(f"{path}: not a plan file (a regular file of at most 64 KiB)")
            return load_plan_file(path)
    where = f" or in {folder}" if folder is not None else ""
    raise PlanError(f"no plan {name!r} among the builtins ({', '.join(plans)}){where}")


def resolve_plan(name_or_path: str, folder: Path | None = None) -> Plan:
    """A builtin plan by name, a plan in ``folder`` by name (``next``: the coach's), or a file."""
    plans = builtin_plans()
    if name_or_path in plans:
        return plans[name_or_path]
    if folder is not None and PLAN_NAME.match(name_or_path):
        if (folder / f"{name_or_path}.toml").is_file():
            return plan_by_name(name_or_path, folder)
        if name_or_path == "next":
            raise PlanError(f"no {folder / 'next.toml'}: `retrogate coach` writes it")
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return load_plan_file(path)
    raise PlanError(f"no builtin plan {name_or_path!r} (have: {', '.join(plans)}) and no such file")


def plan_to_toml(plan: Plan) -> str:
    """A plan as a plan file (what ``retrogate coach`` writes; ``parse_plan`` reads it back)."""

    def text(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string

    lines = [f"name = {text(plan.name)}", f"level = {plan.level}"]
    if plan.description:
        lines.append(f"description = {text(plan.description)}")
    for seg in plan.segments:
        lines += ["", "[[segments]]", f'direction = "{seg.direction.value}"']
        lines.append(f"speed_kmh = {seg.speed_kmh!r}")
        for name in ("duration_s", "distance_m", "incline_pct", "hr_zone"):
            value = getattr(seg, name)
            if value is not None:
                lines.append(f"{name} = {value!r}")
        if seg.hr_bpm is not None:
            lines.append(f"hr_bpm = [{seg.hr_bpm[0]}, {seg.hr_bpm[1]}]")
        if seg.note:
            lines.append(f"note = {text(seg.note)}")
    return "\n".join(lines) + "\n"
