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
from tests.support.mosquitto import free_port
from tests.support.services import require

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


def spoken(directory: Path) -> list[str]:
    """The words of each cue, from the recording's index, in the order of the files."""
    lines = (directory / "cues.txt").read_text().splitlines()
    return [line.split("\t")[2] for line in lines]


async def test_a_turnaround_is_spoken_in_order_without_overlap(tmp_path: Path) -> None:
    need_espeak_and_sox()
    clock = LoopClock()
    voice = Espeak(voice="en-gb", record=Recording(tmp_path))
    announcer = Announcer(voice, clock, CueScheduler())
    async with announcer.running():
        announcer.alert("info", "turnaround", "Turning backward: slowing to 2.0 km/h")
        for n in (3, 2, 1):
            await clock.sleep(1.0)  # the governor's dwell: one alert a second
            announcer.alert("info", "countdown", f"Turn around in {n} s")
        await clock.sleep(1.0)
        announcer.alert("info", "turned", "Now backward.")
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
            announcer.alert("info", "countdown", "Turn around in 3 s")
            await announcer.drained()

    asyncio.run(run())
    sounds = measure(tmp_path)
    assert [s.seconds > 0.5 for s in sounds] == [True, False], "3 beeps for safety, 2 to turn"
    assert all(s.rms > 0.05 for s in sounds)


def test_the_demo_speaks_warm_up_countdown_and_turnarounds(tmp_path: Path) -> None:
    """The issue's acceptance: ``retrogate demo --voice --speedup 5``, recorded to WAVs."""
    need_espeak_and_sox()
    plan = tmp_path / "short.toml"
    plan.write_text(SHORT_PLAN)
    cues = tmp_path / "cues"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "gateway.cli", "demo", "--headless", "--speedup", "5"),
            *("--plan", str(plan), "--voice-to", str(cues), "--port", str(free_port())),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
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
