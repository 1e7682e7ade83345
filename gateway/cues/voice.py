"""Saying a cue out loud: espeak-ng, else a tone, else the terminal bell.

A Raspberry Pi beside the treadmill has a speaker and Debian's espeak-ng;
a laptop may have neither. Whatever is there, the runner hears *something*:
words from espeak-ng, a short tone (one beep for information, two for the
turnaround, three for safety) through ``aplay`` or ``paplay``, or the
terminal bell. Each ``say`` returns when the sound is over, so cues never
overlap. With a ``record_dir`` every cue is written to a numbered WAV file
instead of a speaker (headless checks, and the tests that measure them).
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import shutil
import struct
import sys
import tempfile
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .scheduler import Cue, Priority

log = logging.getLogger(__name__)

RATE_HZ = 16_000


class Voice(Protocol):
    """Something that makes a cue heard, and returns when it is over."""

    @property
    def name(self) -> str:
        """What the runner will hear (for the log)."""
        ...

    async def say(self, cue: Cue) -> None:
        """Make the cue heard (a failure is logged by the voice, never raised)."""
        ...


def wav_seconds(data: bytes) -> float:
    """The length of a WAV file's sound."""
    with wave.open(io.BytesIO(data)) as w:
        frames: int = w.getnframes()
        rate: int = w.getframerate()
    return frames / rate


def tone_wav(priority: Priority) -> bytes:
    """A short 16-bit mono WAV: 3 beeps for safety, 2 for the turnaround, 1 for information
    (and advice, which is information too)."""
    level = min(priority, Priority.INFO)
    beeps = {Priority.SAFETY: 3, Priority.TURN: 2, Priority.INFO: 1}[level]
    pitch = {Priority.SAFETY: 1320.0, Priority.TURN: 990.0, Priority.INFO: 660.0}[level]
    beep, gap = int(0.12 * RATE_HZ), int(0.08 * RATE_HZ)
    frames = bytearray()
    for n in range(beeps):
        for i in range(beep):
            fade = min(1.0, i / 160, (beep - i) / 160)  # no clicks at the edges
            sample = 0.5 * fade * math.sin(2 * math.pi * pitch * i / RATE_HZ)
            frames += struct.pack("<h", int(sample * 32767))
        if n < beeps - 1:
            frames += b"\0\0" * gap
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        w.writeframes(bytes(frames))
    return out.getvalue()


@dataclass
class Recording:
    """Numbered WAV files, one per cue, and a line each in ``cues.txt``.

    A line is written when the sound is over (or cut off), so the index never
    names a WAV that was not made, and a cue that was never heard has a line
    too, saying why. Columns, tab-separated: number (``-`` when not said),
    kind, words, when the cue became due, when its sound started and ended
    (the event loop's clock, seconds; ``-`` when not said), and the WAV file
    or ``not said: <why>``.
    """

    directory: Path
    count: int = 0

    def next_path(self, cue: Cue) -> Path:
        """Where the next cue's sound goes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count += 1
        slug = "".join(ch if ch.isalnum() else "-" for ch in cue.text.lower())[:40].strip("-")
        return self.directory / f"{self.count:04d}-{slug}.wav"

    def heard(self, cue: Cue, path: Path, start: float, end: float, note: str = "") -> None:
        """The cue's sound was made (``note``: it was cut off)."""
        number = path.name[:4]
        self._line(number, cue, f"{start:.3f}", f"{end:.3f}", path.name + note)

    def unsaid(self, cue: Cue, reason: str) -> None:
        """The cue was never heard, and why."""
        self._line("-", cue, "-", "-", f"not said: {reason}")

    def _line(self, number: str, cue: Cue, start: str, end: str, what: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "cues.txt").open("a", encoding="utf-8") as index:
            index.write(f"{number}\t{cue.kind}\t{cue.text}\t{cue.at:.3f}\t{start}\t{end}\t{what}\n")


def unsaid(voice: Voice, cue: Cue, reason: str) -> None:
    """Mark a cue as not said where the voice keeps a record (``--voice-to``)."""
    record = getattr(voice, "record", None)
    if isinstance(record, Recording):
        record.unsaid(cue, reason)


async def _recorded(record: Recording, cue: Cue, path: Path, seconds: float) -> None:
    """Take as long as a speaker would, and index the sound (cut off or not)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    note = " (cut off)"
    try:
        await asyncio.sleep(seconds)
        note = ""
    finally:
        record.heard(cue, path, start, loop.time(), note)


async def _run(argv: list[str]) -> str | None:
    """Run a program to its end; its error (first line of stderr) or None."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
    except OSError as exc:
        return str(exc)
    try:
        _, err = await proc.communicate()
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        first = err.decode(errors="replace").strip().splitlines()[:1]
        return f"{argv[0]} exited with {proc.returncode}" + (f": {first[0]}" if first else "")
    return None


@dataclass
class _Complaints:
    """Log a failing sound once, not once per cue."""

    said: set[str] = field(default_factory=set)
    failures: int = 0

    def note(self, error: str) -> None:
        self.failures += 1
        if error not in self.said:
            self.said.add(error)
            log.warning("cue not heard: %s", error)


@dataclass
class Espeak:
    """Words, through espeak-ng (Debian's ``espeak-ng`` package)."""

    program: str = "espeak-ng"
    voice: str = "en-gb"
    rate_wpm: int = 165
    amplitude: int = 120
    record: Recording | None = None
    complaints: _Complaints = field(default_factory=_Complaints)

    @property
    def name(self) -> str:
        return f"espeak-ng voice {self.voice}"

    async def say(self, cue: Cue) -> None:
        argv = [self.program, "-v", self.voice, "-s", str(self.rate_wpm), "-a", str(self.amplitude)]
        if self.record is None:
            error = await _run([*argv, "--", cue.text])
            if error:
                self.complaints.note(error)
            return
        path = self.record.next_path(cue)
        try:
            error = await _run([*argv, "-w", str(path), "--", cue.text])
        except asyncio.CancelledError:
            self.record.unsaid(cue, "cut off while it was being made (stopping)")
            raise
        if error:
            self.complaints.note(error)
            self.record.unsaid(cue, error)
            return
        await _recorded(self.record, cue, path, wav_seconds(path.read_bytes()))


@dataclass
class Tone:
    """A beep pattern per priority, through ``aplay`` or ``paplay`` (no voice installed)."""

    player: list[str]
    record: Recording | None = None
    complaints: _Complaints = field(default_factory=_Complaints)
    _files: dict[Priority, Path] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"tones through {self.player[0]}"

    async def say(self, cue: Cue) -> None:
        data = tone_wav(cue.priority)
        if self.record is not None:
            wav = self.record.next_path(cue)
            wav.write_bytes(data)
            await _recorded(self.record, cue, wav, wav_seconds(data))
            return
        path = self._files.get(cue.priority)
        if path is None:
            path = Path(tempfile.mkdtemp(prefix="retrogate-tones-")) / f"{cue.priority.name}.wav"
            path.write_bytes(data)
            self._files[cue.priority] = path
        error = await _run([*self.player, str(path)])
        if error:
            self.complaints.note(error)


@dataclass
class Bell:
    """The terminal bell: once, or three times for safety (nothing else can sound)."""

    ring: Callable[[], None] = field(
        default=lambda: print("\a", end="", file=sys.stderr, flush=True)
    )
    name: str = "the terminal bell"

    async def say(self, cue: Cue) -> None:
        for n in range(3 if cue.priority is Priority.SAFETY else 1):
            if n:
                await asyncio.sleep(0.2)
            self.ring()


def _bell() -> None:
    print("\a", end="", file=sys.stderr, flush=True)


def choose(
    voice: str = "en-gb",
    rate_wpm: int = 165,
    record_dir: Path | None = None,
    *,
    which: Callable[[str], str | None] = shutil.which,
) -> Voice:
    """The best sound this machine can make: espeak-ng, a player for tones, or the bell."""
    record = Recording(record_dir) if record_dir is not None else None
    espeak = which("espeak-ng")
    if espeak is not None:
        return Espeak(espeak, voice, rate_wpm, record=record)
    for player, argv in (("paplay", []), ("aplay", ["-q"])):
        found = which(player)
        if found is not None:
            return Tone([found, *argv], record)
    if record is not None:
        return Tone(["(recorded)"], record)
    return Bell()
