"""What to say to a runner who cannot see the screen, and when (pure: no I/O, no clock).

Backward, the runner faces away from the console and the dashboard. The
scheduler turns what the gateway already publishes (the state, the alerts,
the plan) into short spoken cues, and decides which one is said next:

* **safety first**: interventions and danger alerts outrank the turnaround,
  which outranks information (segment starts, metres left);
* **no overlap**: the announcer takes one cue, says it, and only then asks
  for the next;
* **no backlog**: each cue has a deadline; a countdown number that could not
  be said in its second is dropped, never said late;
* **a gap between chatty cues** ("20 metres to go"), so the voice does not
  narrate every second;
* **the turn is never talked over**: an information cue does not start when
  it could not end before the next turnaround cue (its length is estimated
  from its words), nothing informative is said while the belt slows or
  counts down, and a segment that begins with a turn is announced after
  "Now backward", not over the countdown;
* **one of a kind**: a newer cue of the same kind replaces the waiting one
  (the countdown's 2 replaces its 3), and the same words are not repeated
  within a few seconds (a console that keeps asking for more speed).

Inputs are read by attribute, so the gateway's hub snapshot and the MQTT
state payload (the dashboard's) both fit: they share field names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from ..safety.actions import Facts


class Priority(IntEnum):
    """Lower is said first."""

    SAFETY = 0  # interventions, danger, the belt stopping
    TURN = 1  # the turnaround: warning, countdown, "now backward"
    INFO = 2  # segment starts, metres left, workout done
    ADVICE = 3  # about the plan, not about now (its warnings): after what is happening


@dataclass(frozen=True, slots=True)
class Cue:
    """One thing to say."""

    text: str
    priority: Priority
    kind: str  # a newer cue of the same kind replaces a waiting one
    at: float  # when it became true
    until: float  # said after this, it would be a lie: dropped instead
    chatty: bool = False  # subject to the minimum gap


class SegmentLike(Protocol):
    """Where the workout is (the engine's progress or its MQTT payload)."""

    @property
    def index(self) -> int: ...
    @property
    def count(self) -> int: ...
    @property
    def note(self) -> str: ...
    @property
    def finished(self) -> bool: ...


class StateLike(Protocol):
    """The station's state (the hub snapshot or the MQTT state payload)."""

    @property
    def direction(self) -> str: ...
    @property
    def phase(self) -> str: ...
    @property
    def running(self) -> bool: ...
    @property
    def cap_kmh(self) -> float: ...
    @property
    def cap_limiting(self) -> bool: ...
    @property
    def next_turn_s(self) -> float | None: ...
    @property
    def backward_left_m(self) -> float | None: ...
    @property
    def segment(self) -> SegmentLike | None: ...


@dataclass(frozen=True, slots=True)
class PlannedSegment:
    """What a segment asks for, to announce it when it starts."""

    direction: str
    speed_kmh: float
    distance_m: float | None = None
    duration_s: float | None = None
    note: str = ""
    hr: str | None = None  # "zone 3", "120 to 130": a heart-rate segment's target


# How long a cue stays true (seconds of session time).
LIFETIME = {
    "countdown": 1.0,
    "turned": 3.0,
    "turnaround": 5.0,
    "turn_warning": 3.0,
    "left": 4.0,
    "segment": 8.0,
    "plan_done": 30.0,
}
SAFETY_LIFETIME = 10.0
INFO_LIFETIME = 8.0

# Alerts whose message is too long or too technical to read out as it is.
SHORT = {
    "control_lost": "Lost control of the treadmill. The cap is not held.",
    "data_lost": "No data from the treadmill. Pausing.",
    "escalated": "The belt did not slow down. Paused. Confirm to go on.",
    "restart": "The belt was already moving. Slowing down first.",
    "no_speed_control": "This treadmill ignores speed targets. The cap cannot be enforced.",
    "no_hr_source": "No heart rate source. Heart rate protections are off.",
    "wind_down": "The gateway is stopping. Belt paused.",
    "wind_down_no_control": "The gateway is stopping without control. The belt is not slowed.",
    "command_refused": "The treadmill refused a command.",
    "watch_mode": "Watch mode. This treadmill takes no commands. Set the speed by hand.",
    "too_fast": "Too fast for backward. Slow down to {limit}.",
    "too_fast_turn": "Too fast to turn. Slow down to {limit}.",
    # {limit}, {speed}: the alert's facts, as a person says them
    "overspeed": "Belt too fast. Slowing to {limit} kilometres an hour.",
    "target_over_cap": "Capped at {limit} kilometres an hour.",
    "target_over_limit": "Heart rate high. Holding {limit} kilometres an hour.",
}
NO_FACTS = Facts()
SILENT = frozenset({"incline_unsupported"})  # a note for the screen, not for the ears
INFO_CODES = frozenset({"plan_warning", "no_hr_source", "data_back", "hr_back", "plan_done"})
# What to do now comes before advice about the plan: a long plan warning said first
# outlived the first segment's cue, and the runner never heard it.
ADVICE_CODES = frozenset({"plan_warning"})


@dataclass
class CueScheduler:
    """Decides what is said next; the announcer asks with :meth:`take`."""

    min_gap_s: float = 6.0  # between two chatty cues
    repeat_s: float = 8.0  # the same words again only after this
    warn_turn_s: float = 10.0  # "turn around in 10 seconds"
    metres_left: Sequence[float] = (20.0, 10.0)
    seconds_per_word: float = 0.5  # espeak-ng at 165 wpm with its pauses (measured: 0.4-0.5)
    # The session's seconds per real second (--speedup): ``now`` is the runner's real
    # time, since words take real seconds, but a state's next_turn_s is session time.
    speedup: float = 1.0
    _waiting: dict[str, Cue] = field(default_factory=dict)
    _plan: list[PlannedSegment] = field(default_factory=list)
    _last: StateLike | None = None
    _last_at: float = 0.0
    _after_turn: int | None = None  # a segment to announce once the turn is done
    _last_chatty: float = float("-inf")
    _said: dict[str, float] = field(default_factory=dict)  # words -> when
    _last_safety: float = float("-inf")
    _plan_done: float = float("-inf")
    dropped: int = 0  # cues whose moment passed before they could be said
    gone: list[tuple[Cue, str]] = field(default_factory=list)  # not said, and why (to record)

    # --- inputs ----------------------------------------------------------------------

    def plan(self, segments: Sequence[PlannedSegment]) -> None:
        """The active plan (to say what a segment asks for when it starts)."""
        self._plan = list(segments)

    def alert(
        self, level: str, code: str, message: str, now: float, facts: Facts = NO_FACTS
    ) -> None:
        """An alert the governor or the workout raised; worded from its facts."""
        if code in SILENT:
            return
        if code == "countdown":
            if facts.seconds is not None:
                self._offer(str(facts.seconds), Priority.TURN, "countdown", now)
            return
        if code == "turnaround":
            way = f" {facts.direction}" if facts.direction else ""
            self._offer(f"Slowing to turn{way}.", Priority.TURN, code, now)
            return
        if code == "turned":
            text = f"Now {facts.direction}." if facts.direction else words(message)
            self._offer(text, Priority.TURN, code, now)
            return
        if code == "plan_done":
            self._plan_done = now
            self._waiting.pop("stopped", None)
        text = short(code, message, facts)
        if level in ("danger", "warning") and code not in INFO_CODES:
            self._offer(text, Priority.SAFETY, code, now, SAFETY_LIFETIME)
        elif code in ADVICE_CODES:
            self._offer(text, Priority.ADVICE, code, now, INFO_LIFETIME)
        else:
            self._offer(text, Priority.INFO, code, now, LIFETIME.get(code, INFO_LIFETIME))

    def state(self, s: StateLike, now: float) -> None:
        """A new state: cues for what changed since the last one."""
        last, self._last, self._last_at = self._last, s, now
        seg, before = s.segment, last.segment if last is not None else None
        if seg is not None and not seg.finished and (before is None or before.index != seg.index):
            self._after_turn = seg.index
        if self._after_turn is not None:
            if seg is None or seg.finished or seg.index != self._after_turn:
                self._after_turn = None
            elif s.phase not in TURN_PHASES:  # the governor turns before the segment shows
                self._after_turn = None
                self._segment_started(seg, now, turned=before is not None and _turned(last))
        if last is None:
            return
        if s.cap_limiting and not last.cap_limiting:
            text = f"Backward cap: holding {number(s.cap_kmh)} kilometres an hour."
            self._offer(text, Priority.SAFETY, "cap", now, SAFETY_LIFETIME)
        # A safety cue or the end of the workout already says why the belt stopped.
        quiet = now - max(self._last_safety, self._plan_done) >= 3.0
        if last.running and not s.running and quiet and not (seg is not None and seg.finished):
            self._offer("Belt stopped.", Priority.SAFETY, "stopped", now, SAFETY_LIFETIME)
        turn, was = s.next_turn_s, last.next_turn_s
        if turn is not None and was is not None and was > self.warn_turn_s >= turn > 3:
            self._offer(
                f"Turn around in {round(turn)} seconds.", Priority.TURN, "turn_warning", now
            )
        left, had = s.backward_left_m, last.backward_left_m
        if left is not None and had is not None and s.phase == "running":
            for mark in self.metres_left:
                if had > mark >= left > 0:
                    self._offer(
                        f"{number(mark)} metres to go.", Priority.INFO, "left", now, chatty=True
                    )

    def _segment_started(self, seg: SegmentLike, now: float, *, turned: bool = False) -> None:
        """What the segment asks for; after a turn, "Now backward." already said which way."""
        if not 0 <= seg.index < len(self._plan):
            return
        planned = self._plan[seg.index]
        how = (
            f"{number(planned.distance_m)} metres"
            if planned.distance_m
            else duration(planned.duration_s or 0)
        )
        lead = f"{words(planned.note)}. " if planned.note else ""
        speed = f"{number(planned.speed_kmh)} kilometres an hour"
        way = "" if turned else f"{planned.direction.capitalize()}, "
        if turned:
            how = how[0].upper() + how[1:] if not lead else how
        if planned.hr is not None:
            text = f"{lead}{way}{how}, heart rate {planned.hr}."
        else:
            text = f"{lead}{way}{how} at {speed}."
        self._offer(text, Priority.INFO, "segment", now)

    # --- output ----------------------------------------------------------------------

    def take(self, now: float) -> Cue | None:
        """The cue to say now (and forget), or None: nothing due, or a chatty one must wait."""
        for kind, cue in list(self._waiting.items()):
            if cue.until < now:
                self._forget(kind, "too late: its moment passed while others were said")
                self.dropped += 1
        ready = [
            c
            for c in self._waiting.values()
            if (not c.chatty or now - self._last_chatty >= self.min_gap_s)
            and (c.priority < Priority.INFO or self._fits(c, now))
        ]
        if not ready:
            return None
        cue = min(ready, key=lambda c: (c.priority, c.at))
        del self._waiting[cue.kind]
        self._said[cue.text] = now
        if cue.chatty:
            self._last_chatty = now
        return cue

    def next_due(self, now: float) -> float | None:
        """When :meth:`take` may have something that it has not now: a chatty cue's gap
        ends, or a held cue's deadline passes (to drop it, so the announcer is idle)."""
        times = [c.until + 0.01 for c in self._waiting.values()]
        if any(c.chatty for c in self._waiting.values()):
            times.append(self._last_chatty + self.min_gap_s)
        return min((t for t in times if t > now), default=None)

    def speaking_s(self, text: str) -> float:
        """About how long the words take to say (a little long rather than short)."""
        return 0.4 + self.seconds_per_word * len(text.split())

    def _fits(self, cue: Cue, now: float) -> bool:
        """An information cue may start: it ends before the next turnaround cue is due."""
        s = self._last
        if s is None:
            return True
        if s.phase in TURN_PHASES:
            return False
        turn = s.next_turn_s
        if turn is None:
            return True
        warn_in = turn - self.warn_turn_s if turn > self.warn_turn_s else turn
        warn_at = self._last_at + warn_in / self.speedup
        return now + self.speaking_s(cue.text) <= warn_at

    @property
    def waiting(self) -> list[Cue]:
        """What is waiting, first first (for the tests and the status line)."""
        return sorted(self._waiting.values(), key=lambda c: (c.priority, c.at))

    def _offer(
        self,
        text: str,
        priority: Priority,
        kind: str,
        now: float,
        lifetime: float | None = None,
        *,
        chatty: bool = False,
    ) -> None:
        self._said = {words: at for words, at in self._said.items() if now - at < self.repeat_s}
        if text in self._said and kind != "countdown":
            return  # the same words a moment ago
        if priority is Priority.SAFETY:
            self._last_safety = now
        life = lifetime if lifetime is not None else LIFETIME.get(kind, INFO_LIFETIME)
        if kind == "countdown":  # the dwell started: the slow-down is old news
            self._forget("turnaround", "overtaken by the countdown")
        if kind == "turned":
            self._forget("countdown", "overtaken by the turn")
        self._forget(kind, "replaced by a newer one of its kind")
        self._waiting[kind] = Cue(text, priority, kind, now, now + life, chatty)

    def _forget(self, kind: str, reason: str) -> None:
        cue = self._waiting.pop(kind, None)
        if cue is not None:
            self.gone.append((cue, reason))

    def stop(self, reason: str, *, keep: Priority | None = None) -> None:
        """Nothing more will be said (but cues of priority ``keep`` or more urgent):
        every other waiting cue is gone, with the reason."""
        for kind, cue in list(self._waiting.items()):
            if keep is None or cue.priority > keep:
                self._forget(kind, reason)


TURN_PHASES = frozenset({"turning", "dwell"})


def _turned(state: StateLike | None) -> bool:
    """The previous state was part of a turn (so "Now ..." was just said)."""
    return state is not None and state.phase in TURN_PHASES


UNITS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"(\d)\s*km/h"), r"\1 kilometres an hour"),
    (re.compile(r"(\d)\s*bpm"), r"\1"),
    (re.compile(r"(\d)\s*s\b"), r"\1 seconds"),
    (re.compile(r"(\d)\s*m\b"), r"\1 metres"),
    (re.compile(r"(\d)\s*min\b"), r"\1 minutes"),
    (re.compile(r"\bsegments\[(\d+)\]"), lambda m: f"Segment {int(m.group(1)) + 1}"),
    (re.compile(r"(\d)\s*%"), r"\1 percent"),
    (re.compile(r"(\d+)\.0+\b"), r"\1"),  # 7.00 -> 7
    (re.compile(r"(\d+\.\d*?[1-9])0+\b"), r"\1"),  # 6.50 -> 6.5
    (re.compile(r"\s*\([^)]*\)"), ""),
    (re.compile(r"\b1 seconds\b"), "1 second"),
    (re.compile(r"\b1 metres\b"), "1 metre"),
    (re.compile(r"\b1 minutes\b"), "1 minute"),
]


def short(code: str, message: str, facts: Facts = NO_FACTS) -> str:
    """The spoken form of an alert: its own short wording (from its facts), or the
    message in words."""
    template = SHORT.get(code)
    if template is None:
        return words(message)
    if "{" in template and facts.limit_kmh is None:
        return words(message)  # a wording that needs facts the alert does not carry
    return template.format(limit=number(facts.limit_kmh), speed=number(facts.speed_kmh))


def words(text: str) -> str:
    """A message as a person would say it: units spelt out, shouting and asides dropped."""
    for pattern, replacement in UNITS:
        text = pattern.sub(replacement, text)
    text = re.sub(r"\b(NOT|OFF|ON|NO|STOP)\b", lambda m: m.group().lower(), text)
    return text.replace(":", ",").strip()


def number(value: float | None) -> str:
    """5.0 -> "5", 4.5 -> "4.5"."""
    return f"{value or 0:g}"


def duration(seconds: float) -> str:
    """120 -> "2 minutes", 90 -> "90 seconds"."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{number(seconds)} seconds"
