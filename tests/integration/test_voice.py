"""Spoken cues through the real espeak-ng, measured by sox (an independent reader of the WAVs).

espeak-ng writes each cue to a numbered WAV file (``--voice-to``); sox says how
long each one is and how loud, so "the runner heard the countdown, in order,
with nothing on top of anything" is checked on the sound, not on our counters.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.clock import LoopClock
from gateway.cues.announcer import Announcer
from gateway.cues.scheduler import CueScheduler
from gateway.cues.voice import Espeak, Recording, Tone, choose
from gateway.safety.actions import Facts
from tests.support.mosquitto import free_port
from tests.support.services import require

BACKWARD = Facts(direction="backward")

pytestmark = pytest.mark.slow


def need_espeak_and_sox() -> None:
    for tool, package in (("espeak-ng", "espeak-ng"), ("sox", "sox")):
        require(shutil.which(tool) is not None, tool, f"apt-get install {package}")


@dataclass(frozen=True)
class Sound:
    name: str
    seconds: float
    rms: float


def measure(directory: Path) -> list[Sound]:
    """Every WAV in the directory, in order, as sox hears it."""
    sounds = []
    for wav in sorted(directory.glob("*.wav")):
        soxi = subprocess.run(["soxi", "-D", str(wav)], capture_output=True, text=True, check=True)
        seconds = float(soxi.stdout)
        sox = subprocess.run(["sox", str(wav), "-n", "stat"], capture_output=True, text=True)
        stat = sox.stderr  # sox writes its statistics there
        rms = re.search(r"RMS\s+amplitude:\s+([0-9.]+)", stat)
        assert rms, stat
        sounds.append(Sound(wav.name, seconds, float(rms.group(1))))
    return sounds


@dataclass(frozen=True)
class Said:
    """A line of the recording's index: a cue, when it was due, when its sound played."""

    kind: str
    text: str
    due: float
    start: float | None  # None: not said
    end: float | None
    what: str  # the WAV file, or "not said: why"


def index(directory: Path) -> list[Said]:
    out = []
    for line in (directory / "cues.txt").read_text().splitlines():
        _, kind, text, due, start, end, what = line.split("\t")
        said = start != "-"
        out.append(
            Said(
                kind,
                text,
                float(due),
                float(start) if said else None,
                float(end) if said else None,
                what,
            )
        )
    return out


def spoken(directory: Path) -> list[str]:
    """The words of each cue heard, from the recording's index, in the order of the files."""
    return [s.text for s in index(directory) if s.start is not None]


async def test_a_turnaround_is_spoken_in_order_without_overlap(tmp_path: Path) -> None:
    need_espeak_and_sox()
    clock = LoopClock()
    voice = Espeak(voice="en-gb", record=Recording(tmp_path))
    announcer = Announcer(voice, clock, CueScheduler())
    async with announcer.running():
        announcer.alert(
            "info",
            "turnaround",
            "Turning backward: slowing to 2.0 km/h",
            facts=Facts(direction="backward"),
        )
        for n in (3, 2, 1):
            await clock.sleep(1.0)  # the governor's dwell: one alert a second
            announcer.alert("info", "countdown", f"Turn around in {n} s", facts=Facts(seconds=n))
        await clock.sleep(1.0)
        announcer.alert("info", "turned", "Now backward.", facts=Facts(direction="backward"))
        announcer.alert("danger", "safety_key", "Safety key pulled: the belt stopped.")
        await announcer.drained()
    sounds = measure(tmp_path)
    words = spoken(tmp_path)
    assert len(sounds) == len(words) == len(announcer.heard)
    assert words[0] == "Slowing to turn backward."
    assert words[-2:] == ["Safety key pulled, the belt stopped.", "Now backward."], "safety first"
    numbers = [w for w in words if w.isdigit()]
    assert numbers == sorted(numbers, reverse=True), "the countdown runs down, never back"
    for sound in sounds:
        assert 0.2 < sound.seconds < 4.0, sound
        assert sound.rms > 0.02, f"{sound} is silent"
    for before, after in itertools.pairwise(announcer.heard):
        assert after.start >= before.end, "two cues overlapped"
    for heard, sound in zip(announcer.heard, sounds, strict=True):
        assert heard.end - heard.start >= sound.seconds * 0.95, "the next cue cut this one off"


def test_each_voice_setting_is_heard(tmp_path: Path) -> None:
    need_espeak_and_sox()
    for voice in ("en-gb", "en-us", "de"):
        out = tmp_path / f"{voice}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), "Now backward."], check=True)
    sounds = measure(tmp_path)
    assert len({round(s.seconds, 2) for s in sounds}) > 1, "the voices should differ"


def test_without_espeak_the_runner_hears_tones(tmp_path: Path) -> None:
    need_espeak_and_sox()
    voice = choose(record_dir=tmp_path, which=lambda name: None if name == "espeak-ng" else name)
    assert isinstance(voice, Tone)

    async def run() -> None:
        announcer = Announcer(voice, LoopClock(), CueScheduler())
        async with announcer.running():
            announcer.alert("danger", "control_lost", "Lost control (timeout)")
            announcer.alert("info", "countdown", "Turn around in 3 s", facts=Facts(seconds=3))
            await announcer.drained()

    asyncio.run(run())
    sounds = measure(tmp_path)
    assert [s.seconds > 0.5 for s in sounds] == [True, False], "3 beeps for safety, 2 to turn"
    assert all(s.rms > 0.05 for s in sounds)


def demo_speaking(plan_text: str, *, speedup: float, folder: Path) -> Path:
    """``retrogate demo --headless`` on this plan, every cue recorded: the folder of WAVs."""
    plan = folder / "plan.toml"
    plan.write_text(plan_text)
    cues = folder / "cues"
    result = subprocess.run(
        [
            *(
                sys.executable,
                "-m",
                "gateway.cli",
                "demo",
                "--headless",
                "--speedup",
                f"{speedup:g}",
            ),
            *("--plan", str(plan), "--voice-to", str(cues), "--port", str(free_port())),
        ],
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    return cues


def test_the_demo_speaks_warm_up_countdown_and_turnarounds(tmp_path: Path) -> None:
    """The issue's acceptance: ``retrogate demo --voice --speedup 5``, recorded to WAVs."""
    need_espeak_and_sox()
    cues = demo_speaking(SHORT_PLAN, speedup=5, folder=tmp_path)
    words = spoken(cues)
    expected = [
        "Warm-up. Forward, 40 seconds at 5 kilometres an hour.",
        "Turn around in 10 seconds.",  # the countdown starts before the belt slows
        "Slowing to turn backward.",
        "Now backward.",
        "Now forward.",
        "Workout complete. Well done!",
    ]
    positions = [words.index(w) for w in expected]
    assert positions == sorted(positions), words
    assert "Belt stopped." not in words, "the end of the workout is not an emergency"
    sounds = measure(cues)
    assert len(sounds) == len(words)
    for sound in sounds:
        assert 0.2 < sound.seconds < 6.0, sound
        assert sound.rms > 0.02, f"{sound} is silent"


SHORT_PLAN = """\
name = "Short retro"
level = 3
description = "A warm-up, one backward stretch, a cool-down."

[[segments]]
direction = "forward"
speed_kmh = 5.0
duration_s = 40
note = "Warm-up"

[[segments]]
direction = "backward"
speed_kmh = 4.0
distance_m = 30
note = "Retro-run"

[[segments]]
direction = "forward"
speed_kmh = 5.0
duration_s = 30
note = "Cool-down"
"""


REAL_TIME_PLAN = """\
name = "One turn"
level = 2
description = "A walk, ten metres backward, a walk."

[[segments]]
direction = "forward"
speed_kmh = 4.0
duration_s = 15
note = "Warm-up"

[[segments]]
direction = "backward"
speed_kmh = 3.0
distance_m = 10
note = "Backward 10 metres"

[[segments]]
direction = "forward"
speed_kmh = 4.0
duration_s = 8
note = "Walk"
"""


@pytest.mark.timeout(240)
def test_at_real_time_the_countdown_and_the_turn_are_each_heard_in_their_second(
    tmp_path: Path,
) -> None:
    """Defect (issue 23): at --speedup 1 the backward segment's start (about 5.6 s of
    words) began with the dwell and took the whole countdown: 3 and 2 were dropped, only
    1 was heard. Recorded through espeak-ng at real time; every WAV measured by sox."""
    need_espeak_and_sox()
    cues = demo_speaking(REAL_TIME_PLAN, speedup=1, folder=tmp_path)
    lines = index(cues)
    sounds = {sound.name: sound for sound in measure(cues)}
    heard = [s for s in lines if s.start is not None]
    assert len(heard) == len(sounds)
    for before, after in itertools.pairwise(heard):
        assert after.start is not None
        assert before.end is not None
        assert after.start >= before.end - 0.01, f"{after.text!r} over {before.text!r}"
    for s in heard:
        assert s.end is not None
        assert s.start is not None
        assert s.end - s.start >= sounds[s.what].seconds * 0.95, f"{s.text!r} cut off"
    turn = next(i for i, s in enumerate(lines) if s.text == "Slowing to turn backward.")
    numbers = {s.text: s for s in lines[turn:] if s.kind == "countdown"}
    now_backward = next(s for s in lines[turn:] if s.text == "Now backward.")
    for n in ("3", "2", "1"):
        cue = numbers[n]
        assert cue.start is not None, f"{n} not said: {cue.what}"
        assert cue.start - cue.due < 1.0, f"{n} heard {cue.start - cue.due:.2f} s late"
    assert numbers["2"].due - numbers["3"].due == pytest.approx(1.0, abs=0.3)
    assert numbers["1"].due - numbers["2"].due == pytest.approx(1.0, abs=0.3)
    assert now_backward.start is not None, now_backward.what
    assert now_backward.start - now_backward.due < 1.0
    content = [s for s in lines if s.kind == "segment" and "10 metres" in s.text]
    assert [s.start is not None for s in content] == [True], "the segment is still announced"
    assert content[0].due >= now_backward.due, "its content comes after the turn"
    assert "Workout complete. Well done!" in spoken(cues)
