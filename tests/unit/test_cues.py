"""The cue scheduler: what a runner facing away from the screen hears, and when (no I/O)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.cues.scheduler import Cue, CueScheduler, PlannedSegment, Priority, words
from gateway.cues.voice import tone_wav, wav_seconds
from gateway.safety.actions import Facts

BACKWARD = Facts(direction="backward")

NO_FACTS = Facts()


@dataclass(frozen=True)
class Seg:
    index: int
    count: int = 3
    note: str = ""
    finished: bool = False


@dataclass(frozen=True)
class St:
    direction: str = "forward"
    phase: str = "running"
    running: bool = True
    cap_kmh: float = 6.0
    cap_limiting: bool = False
    next_turn_s: float | None = None
    backward_left_m: float | None = None
    segment: Seg | None = None


PLAN = [
    PlannedSegment("forward", 5.0, duration_s=300, note="Warm-up"),
    PlannedSegment("backward", 4.0, distance_m=50, note="Retro-run 50 m"),
    PlannedSegment("forward", 5.0, duration_s=120, note="Cool-down"),
]


def said_instantly(s: CueScheduler, now: float) -> list[str]:
    """Everything due at ``now``, as a voice that takes no time would say it."""
    out = []
    while (cue := s.take(now)) is not None:
        out.append(cue.text)
    return out


def test_the_turnaround_is_counted_down_in_order() -> None:
    s = CueScheduler()
    heard: list[str] = []
    s.alert(
        "info",
        "turnaround",
        "Turning backward: slowing to 2.0 km/h",
        0.0,
        Facts(direction="backward"),
    )
    heard += said_instantly(s, 0.0)
    for n, t in zip((5, 4, 3, 2, 1), (3.0, 4.0, 5.0, 6.0, 7.0), strict=True):
        s.alert("info", "countdown", f"Turn around in {n} s", t, Facts(seconds=n))
        heard += said_instantly(s, t)
    s.alert("info", "turned", "Now backward.", 8.0, Facts(direction="backward"))
    heard += said_instantly(s, 8.0)
    assert heard == [
        "Slowing to turn backward.",
        "5",
        "4",
        "3",
        "2",
        "1",
        "Now backward.",
    ]


def test_a_countdown_number_whose_second_passed_is_dropped_not_said_late() -> None:
    s = CueScheduler()
    s.alert("info", "countdown", "Turn around in 3 s", 0.0, Facts(seconds=3))
    assert s.take(0.0) == Cue("3", Priority.TURN, "countdown", 0.0, 1.0)
    # The voice is busy until 2.5 s: 2 (at 1 s) is replaced by 1 (at 2 s).
    s.alert("info", "countdown", "Turn around in 2 s", 1.0, Facts(seconds=2))
    s.alert("info", "countdown", "Turn around in 1 s", 2.0, Facts(seconds=1))
    assert said_instantly(s, 2.5) == ["1"]
    # Busy again past the turn: "Now backward." replaces a pending number.
    s.alert("info", "countdown", "Turn around in 5 s", 10.0, Facts(seconds=5))
    s.alert("info", "turned", "Now forward.", 10.5, Facts(direction="forward"))
    assert said_instantly(s, 11.0) == ["Now forward."]
    s.alert("info", "countdown", "Turn around in 2 s", 20.0, Facts(seconds=2))
    assert said_instantly(s, 21.5) == []
    assert s.dropped == 1


def test_safety_is_said_before_the_turnaround_and_information() -> None:
    s = CueScheduler()
    s.state(St(segment=Seg(0)), 0.0)
    s.plan(PLAN)
    s.state(St(segment=Seg(1), next_turn_s=None), 1.0)
    s.alert("info", "countdown", "Turn around in 3 s", 1.0, Facts(seconds=3))
    s.alert("warning", "hr_ceiling", "Heart rate 172 bpm: slowing down.", 1.2)
    assert said_instantly(s, 1.3) == [
        "Heart rate 172, slowing down.",
        "3",
        "Retro-run 50 metres. Backward, 50 metres at 4 kilometres an hour.",
    ]


@pytest.mark.parametrize(
    ("level", "code", "message", "spoken", "priority", "facts"),
    [
        ("warning", "hr_ceiling", "Heart rate 172 bpm: slowing down.", "Heart rate 172, slowing down.", Priority.SAFETY, NO_FACTS),  # noqa: E501
        ("warning", "hr_lost", "No heart rate for 10 s: slowing to walking pace.", "No heart rate for 10 seconds, slowing to walking pace.", Priority.SAFETY, NO_FACTS),  # noqa: E501
        ("danger", "hr_pause", "Heart rate 191 bpm: paused. Confirm to go on.", "Heart rate 191, paused. Confirm to go on.", Priority.SAFETY, NO_FACTS),  # noqa: E501
        ("danger", "control_lost", "Lost control of the treadmill (timeout); the cap is NOT held.", "Lost control of the treadmill. The cap is not held.", Priority.SAFETY, NO_FACTS),  # noqa: E501
        ("danger", "safety_key", "Safety key pulled: the belt stopped.", "Safety key pulled, the belt stopped.", Priority.SAFETY, NO_FACTS),  # noqa: E501
        ("warning", "overspeed", "Belt at 7.50 km/h, slowing to 6.00 km/h", "Belt too fast. Slowing to 6 kilometres an hour.", Priority.SAFETY, Facts(speed_kmh=7.5, limit_kmh=6.0)),  # noqa: E501
        ("warning", "target_over_cap", "Target 7.00 km/h refused, cap 6.00 km/h", "Capped at 6 kilometres an hour.", Priority.SAFETY, Facts(speed_kmh=7.0, limit_kmh=6.0)),  # noqa: E501
        ("warning", "target_over_limit", "Target 7.00 km/h refused: heart rate limit 5.50 km/h", "Heart rate high. Holding 5.5 kilometres an hour.", Priority.SAFETY, Facts(speed_kmh=7.0, limit_kmh=5.5)),  # noqa: E501
        ("danger", "data_lost", "No data from the treadmill for 3 s: the cap is NOT verified. Pausing and reconnecting.", "No data from the treadmill. Pausing.", Priority.SAFETY, NO_FACTS),  # noqa: E501
        ("info", "plan_done", "Workout complete. Well done!", "Workout complete. Well done!", Priority.INFO, NO_FACTS),  # noqa: E501
        ("info", "hr_back", "Heart rate is back.", "Heart rate is back.", Priority.INFO, NO_FACTS),
        ("warning", "plan_warning", "Segment 2: 120 m backward is longer than 100 m", "Segment 2, 120 metres backward is longer than 100 metres", Priority.ADVICE, NO_FACTS),  # noqa: E501
    ],
)  # fmt: skip
def test_alerts_in_words_a_person_would_say(
    level: str, code: str, message: str, spoken: str, priority: Priority, facts: Facts
) -> None:
    s = CueScheduler()
    s.alert(level, code, message, 0.0, facts)
    cue = s.take(0.0)
    assert cue is not None
    assert (cue.text, cue.priority) == (spoken, priority)


def test_the_turnaround_is_announced_ten_seconds_ahead() -> None:
    s = CueScheduler()
    s.state(St(next_turn_s=12.0), 0.0)
    s.state(St(next_turn_s=11.0), 1.0)
    assert said_instantly(s, 1.0) == []
    s.state(St(next_turn_s=10.0), 2.0)
    assert said_instantly(s, 2.0) == ["Turn around in 10 seconds."]
    s.state(St(next_turn_s=9.0), 3.0)
    assert said_instantly(s, 3.0) == []


def test_a_turn_too_close_to_warn_about_is_not_warned_about() -> None:
    s = CueScheduler()
    s.state(St(next_turn_s=30.0), 0.0)
    s.state(St(next_turn_s=2.0), 1.0)  # a state throttled past the warning
    assert said_instantly(s, 1.0) == []


def test_metres_left_in_a_backward_stretch() -> None:
    s = CueScheduler(min_gap_s=6.0)
    heard: list[tuple[float, str]] = []
    for t, left in enumerate([50.0, 40.0, 30.0, 21.0, 19.5, 15.0, 11.0, 9.8, 5.0, 1.0]):
        s.state(St(direction="backward", backward_left_m=left), float(t * 2))
        heard += [(t * 2, text) for text in said_instantly(s, float(t * 2))]
    assert heard == [(8, "20 metres to go."), (14, "10 metres to go.")]


def test_chatty_cues_keep_their_gap_or_are_dropped() -> None:
    s = CueScheduler(min_gap_s=6.0)
    s.state(St(direction="backward", backward_left_m=25.0), 0.0)
    s.state(St(direction="backward", backward_left_m=19.0), 1.0)
    assert said_instantly(s, 1.0) == ["20 metres to go."]
    s.state(St(direction="backward", backward_left_m=9.0), 2.0)  # a fast belt
    assert said_instantly(s, 2.0) == []
    assert s.next_due(2.0) == pytest.approx(6.01), "woken when its moment is over"
    assert said_instantly(s, 6.01) == [], "its moment (2 s + 4 s) passed before the gap ended"
    assert s.dropped == 1
    s.state(St(direction="backward", backward_left_m=21.0), 10.0)
    s.state(St(direction="backward", backward_left_m=19.0), 11.0)
    assert said_instantly(s, 11.5) == ["20 metres to go."]


def test_no_metres_left_while_turning() -> None:
    s = CueScheduler()
    s.state(St(direction="backward", phase="turning", backward_left_m=21.0), 0.0)
    s.state(St(direction="backward", phase="turning", backward_left_m=19.0), 1.0)
    assert said_instantly(s, 1.0) == []


def test_segment_starts_say_what_the_segment_asks_for() -> None:
    s = CueScheduler()
    s.plan(PLAN)
    s.state(St(segment=Seg(0)), 0.0)
    assert said_instantly(s, 0.0) == ["Warm-up. Forward, 5 minutes at 5 kilometres an hour."]
    s.state(St(segment=Seg(0)), 1.0)
    assert said_instantly(s, 1.0) == []
    s.state(St(segment=Seg(2)), 2.0)
    assert said_instantly(s, 2.0) == ["Cool-down. Forward, 2 minutes at 5 kilometres an hour."]
    s.state(St(segment=Seg(2, finished=True), running=False), 3.0)
    assert said_instantly(s, 3.0) == [], "the end of a plan is not an emergency stop"


def test_a_plan_warning_never_pushes_out_what_the_first_segment_asks_for() -> None:
    """Found when the warm-up warning came (issue 27): the plan's warnings are said as
    the workout starts, and a long one outlived the first segment's cue, so the runner
    never heard "Warm-up. Forward, …". What to do now comes first; the warning after it,
    in words ("Segment 2", not "segments[1]")."""
    s = CueScheduler()
    s.plan(PLAN)
    warning = "segments[1]: backward after 5 min forward: warm up forward for at least 5 min first"
    s.alert("warning", "plan_warning", warning, 0.0)
    s.state(St(segment=Seg(0)), 0.0)
    assert said_instantly(s, 0.0) == [
        "Warm-up. Forward, 5 minutes at 5 kilometres an hour.",
        "Segment 2, backward after 5 minutes forward, warm up forward for at least 5 minutes first",
    ]


def test_the_workout_done_is_not_followed_by_belt_stopped() -> None:
    s = CueScheduler()
    s.state(St(segment=Seg(2)), 0.0)
    s.alert("info", "plan_done", "Workout complete. Well done!", 5.0)
    s.state(St(segment=Seg(2), running=False), 5.0)  # the engine's progress lags a record
    assert said_instantly(s, 5.0) == ["Workout complete. Well done!"]


def test_the_cap_starting_to_hold_is_an_intervention() -> None:
    s = CueScheduler()
    s.state(St(direction="backward"), 0.0)
    s.state(St(direction="backward", cap_limiting=True, cap_kmh=5.5), 1.0)
    s.state(St(direction="backward", cap_limiting=True, cap_kmh=5.5), 2.0)
    assert said_instantly(s, 2.0) == ["Backward cap: holding 5.5 kilometres an hour."]


def test_an_emergency_stop_is_said_once_and_not_over_its_reason() -> None:
    s = CueScheduler()
    s.state(St(running=True), 0.0)
    s.state(St(running=False), 1.0)
    assert said_instantly(s, 1.0) == ["Belt stopped."]
    s.state(St(running=True), 20.0)
    s.alert("danger", "safety_key", "Safety key pulled: the belt stopped.", 21.0)
    s.state(St(running=False), 21.5)
    assert said_instantly(s, 21.5) == ["Safety key pulled, the belt stopped."]


def test_the_same_words_are_not_repeated_within_seconds() -> None:
    s = CueScheduler(repeat_s=8.0)
    heard = []
    for t in (0.0, 2.0, 4.0, 9.0):
        s.alert(
            "warning",
            "target_over_cap",
            "Target 8.0 km/h refused, cap 6.0 km/h",
            t,
            Facts(speed_kmh=8.0, limit_kmh=6.0),
        )
        heard += [(t, text) for text in said_instantly(s, t)]
    assert [t for t, _ in heard] == [0.0, 9.0]


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("slowing to 2.0 km/h", "slowing to 2 kilometres an hour"),
        (
            "Target 7.00 km/h, cap 6.50 km/h",
            "Target 7 kilometres an hour, cap 6.5 kilometres an hour",
        ),
        ("at 10.05 km/h, 100 m", "at 10.05 kilometres an hour, 100 metres"),
        ("Turn around in 1 s", "Turn around in 1 second"),
        ("10 m left", "10 metres left"),
        ("incline 2.5 %", "incline 2.5 percent"),
        ("the cap is NOT held (timeout)", "the cap is not held"),
        ("HR 150 bpm", "HR 150"),
    ],
)
def test_words(text: str, spoken: str) -> None:
    assert words(text) == spoken


ALERTS = st.tuples(
    st.sampled_from(["info", "warning", "danger"]),
    st.sampled_from(["countdown", "turned", "turnaround", "hr_ceiling", "plan_done", "overspeed"]),
    st.integers(1, 5),
)
STATES = st.builds(
    St,
    direction=st.sampled_from(["forward", "backward"]),
    phase=st.sampled_from(["running", "turning", "dwell", "halted", "stopped"]),
    running=st.booleans(),
    cap_limiting=st.booleans(),
    next_turn_s=st.none() | st.floats(0, 30),
    backward_left_m=st.none() | st.floats(0, 60),
    segment=st.none() | st.builds(Seg, index=st.integers(0, 2)),
)
STEPS = st.lists(
    st.tuples(st.floats(0, 3), st.one_of(ALERTS, STATES), st.floats(0, 3)), max_size=60
)


@given(STEPS)
def test_whatever_happens_no_cue_is_late_overlapping_or_too_chatty(
    steps: list[tuple[float, tuple[str, str, int] | St, float]],
) -> None:
    s = CueScheduler(min_gap_s=6.0)
    s.plan(PLAN)
    now, free_at, last_chatty = 0.0, 0.0, float("-inf")
    last: tuple[St, float] | None = None
    for wait, item, speaking in steps:
        now += wait
        if isinstance(item, St):
            s.state(item, now)
            last = (item, now)
        else:
            level, code, n = item
            s.alert(
                level, code, f"Turn around in {n} s", now, Facts(seconds=n, direction="forward")
            )
        if now < free_at:
            continue  # the voice is still speaking: nobody asks
        waiting = s.waiting
        cue = s.take(now)
        if cue is None:
            continue
        assert cue.until >= now, "said after its moment"
        assert cue.at <= now
        fresh = [c for c in waiting if c.until >= now and not c.chatty]
        assert all(cue.priority <= c.priority for c in fresh), "a more urgent cue waited"
        if cue.priority is Priority.INFO and last is not None:
            state, at = last
            assert state.phase not in ("turning", "dwell"), "information over the countdown"
            if state.next_turn_s is not None:
                turn_at = at + state.next_turn_s
                next_turn_cue = turn_at - 10.0 if state.next_turn_s > 10.0 else turn_at
                assert now + s.speaking_s(cue.text) <= next_turn_cue, "talks over the turn"
        if cue.chatty:
            assert now - last_chatty >= 6.0
            last_chatty = now
        assert cue not in s.waiting
        free_at = now + speaking


@pytest.mark.parametrize("priority", list(Priority))
def test_tones_are_short_and_distinct(priority: Priority) -> None:
    data = tone_wav(priority)
    assert 0.1 < wav_seconds(data) < 0.6
    assert len({tone_wav(p) for p in Priority}) == 3


async def test_a_voice_that_raises_is_logged_and_the_announcer_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from gateway.clock import LoopClock
    from gateway.cues.announcer import Announcer

    said: list[str] = []

    class Flaky:
        name = "flaky"

        async def say(self, cue: Cue) -> None:
            if not said:
                said.append("boom")
                raise RuntimeError("the sound card went away")
            said.append(cue.text)

    announcer = Announcer(Flaky(), LoopClock(), CueScheduler())
    async with announcer.running():
        announcer.alert("info", "turned", "Now backward.", facts=Facts(direction="backward"))
        await announcer.drained()
        announcer.alert("info", "turned", "Now forward.", facts=Facts(direction="forward"))
        await announcer.drained()
    assert said == ["boom", "Now forward."]
    assert [r.message for r in caplog.records if r.levelname == "ERROR"] == [
        "cues: unexpected error; the announcer goes on"
    ]


def test_a_heart_rate_segment_is_announced_by_its_range() -> None:
    s = CueScheduler()
    s.plan([PlannedSegment("backward", 3.0, duration_s=600, note="Uphill walk", hr="130 to 140")])
    s.state(St(segment=Seg(0)), 0.0)
    assert said_instantly(s, 0.0) == ["Uphill walk. Backward, 10 minutes, heart rate 130 to 140."]


def test_a_segment_that_starts_with_a_turn_is_announced_after_the_turn() -> None:
    """Defect (issue 23): at real speed the backward segment's start (about 5.6 s of words)
    began with the dwell and took the whole countdown; 3 and 2 were dropped as past."""
    s = CueScheduler()
    s.plan(PLAN)
    heard: list[str] = []
    s.state(St(segment=Seg(0)), 0.0)
    heard += said_instantly(s, 0.0)
    # the engine moves on: the governor is still forward, slowing for the turn
    s.state(St(segment=Seg(1), phase="turning"), 1.0)
    s.alert(
        "info",
        "turnaround",
        "Turning backward: slowing to 2.0 km/h",
        1.0,
        Facts(direction="backward"),
    )
    heard += said_instantly(s, 1.0)
    for n, t in zip((5, 4, 3, 2, 1), (4.0, 5.0, 6.0, 7.0, 8.0), strict=True):
        s.state(St(segment=Seg(1), phase="dwell"), t)
        s.alert("info", "countdown", f"Turn around in {n} s", t, Facts(seconds=n))
        heard += said_instantly(s, t)
    s.alert("info", "turned", "Now backward.", 9.0, Facts(direction="backward"))
    s.state(St(direction="backward", segment=Seg(1), backward_left_m=50.0), 9.0)
    heard += said_instantly(s, 9.0)
    assert heard == [
        "Warm-up. Forward, 5 minutes at 5 kilometres an hour.",
        "Slowing to turn backward.",
        *"54321",
        "Now backward.",
        "Retro-run 50 metres. 50 metres at 4 kilometres an hour.",
    ]


def test_no_information_cue_starts_when_it_cannot_end_before_the_turn_cues() -> None:
    s = CueScheduler()
    long = "Heart rate above your ceiling for a while now, this is information only."
    s.state(St(next_turn_s=14.0), 0.0)  # "turn around in 10 seconds" is due at 4.0
    s.alert("info", "plan_warning", long, 0.0)
    assert s.speaking_s(long) > 4.0
    assert said_instantly(s, 0.0) == [], "it would still be talking at the warning"
    s.alert("info", "hr_back", "Heart rate is back.", 0.5)
    assert s.speaking_s("Heart rate is back.") < 3.5
    assert said_instantly(s, 0.5) == ["Heart rate is back."], "a short one fits"
    s.state(St(phase="dwell"), 1.0)
    s.alert("info", "data_back", "Treadmill data is back.", 1.0)
    assert said_instantly(s, 1.0) == [], "nothing chatty during the countdown"
    s.state(St(next_turn_s=None), 2.0)
    # what is happening now before advice about the plan
    assert said_instantly(s, 2.0) == ["Treadmill data is back.", words(long)]


def test_under_speedup_the_turn_comes_sooner_in_the_runners_seconds() -> None:
    """The demo's voice test found it (issue 27): at --speedup 5 a turn 40 session
    seconds away is 8 real seconds away, and its warning is due in 6: a cue of 8 s of
    words started then would still be talking at it. ``now`` is real time; a state's
    next_turn_s is session time."""
    long = "Segment 2, backward after 1 minute forward, warm up forward for 5 minutes first"
    assert 6.0 < CueScheduler().speaking_s(long) < 30.0
    real_time = CueScheduler()
    real_time.state(St(next_turn_s=40.0), 0.0)
    real_time.alert("warning", "plan_warning", long, 0.0)
    assert said_instantly(real_time, 0.0) == [long]  # 30 s until the warning: it fits
    fast = CueScheduler(speedup=5.0)
    fast.state(St(next_turn_s=40.0), 0.0)
    fast.alert("warning", "plan_warning", long, 0.0)
    assert said_instantly(fast, 0.0) == [], "it would still be talking at the turn warning"


def test_a_cue_that_waits_past_its_deadline_wakes_the_announcer_to_drop_it() -> None:
    s = CueScheduler()
    s.state(St(phase="dwell"), 0.0)
    s.alert("info", "data_back", "Treadmill data is back.", 0.0)
    assert s.take(0.0) is None
    due = s.next_due(0.0)
    assert due is not None
    assert due > 0.0
    assert s.take(due) is None
    assert s.waiting == []


def test_every_cue_is_heard_or_marked_not_said_with_the_reason(tmp_path: Path) -> None:
    """Defect (issue 23): the wind-down's cue was in cues.txt but had no WAV: the announcer
    was cancelled while the sound was being made. Now a safety cue raised while stopping
    is still heard, and anything else is marked not said, with why."""
    from gateway.clock import LoopClock
    from gateway.cues.announcer import Announcer
    from gateway.cues.voice import Recording, Tone

    async def run() -> None:
        voice = Tone(["(recorded)"], Recording(tmp_path))
        announcer = Announcer(voice, LoopClock(), CueScheduler())
        async with announcer.running():
            announcer.state(St(phase="dwell"))  # information waits for the turn
            announcer.alert("info", "data_back", "Treadmill data is back.")
            announcer.alert("danger", "wind_down", "Stopping (SIGTERM): slowing to 2 km/h, pause.")

    asyncio.run(run())
    lines = [line.split("\t") for line in (tmp_path / "cues.txt").read_text().splitlines()]
    assert [(line[2], line[-1].startswith("not said")) for line in lines] == [
        ("Treadmill data is back.", True),
        ("The gateway is stopping. Belt paused.", False),
    ]
    assert lines[0][-1] == "not said: the gateway stopped first"
    wavs = sorted(tmp_path.glob("*.wav"))
    assert [w.name for w in wavs] == [lines[1][-1]]
    start, end = float(lines[1][4]), float(lines[1][5])
    assert end - start >= wav_seconds(wavs[0].read_bytes()) * 0.95


def test_the_turn_and_the_corrections_are_worded_from_the_alerts_facts_not_their_text() -> None:
    """Issue 24: the countdown's seconds, the turn's direction and a correction's speeds are
    fields of the alert; the voice words them, whatever the screen's text says."""
    s = CueScheduler()
    s.alert("info", "turnaround", "Turning", 0.0, Facts(direction="backward", limit_kmh=2.0))
    assert said_instantly(s, 0.0) == ["Slowing to turn backward."]
    s.alert("info", "countdown", "Turn around soon", 1.0, Facts(seconds=4))
    assert said_instantly(s, 1.0) == ["4"]
    s.alert("info", "turned", "Turned", 5.0, Facts(direction="backward"))
    assert said_instantly(s, 5.0) == ["Now backward."]
    s.alert("warning", "overspeed", "Belt too fast", 20.0, Facts(speed_kmh=7.5, limit_kmh=6.0))
    assert said_instantly(s, 20.0) == ["Belt too fast. Slowing to 6 kilometres an hour."]
