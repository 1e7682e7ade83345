"""A picture of a session: speed and heart rate over time, backward stretches shaded.

In the terminal with plotext (pure Python, fine on a Raspberry Pi), and as an
SVG for sharing with matplotlib. Both are imported only when a chart is drawn.
"""

from __future__ import annotations

from pathlib import Path

from .timeline import Row

BACKWARD_COLOUR = "orange"


def _minutes(data: list[Row]) -> list[float]:
    start = data[0].ts
    return [(r.ts - start) / 60 for r in data]


def _stretches(data: list[Row], at: list[float]) -> list[tuple[float, float]]:
    """(start, end) in minutes of each backward stretch."""
    out: list[tuple[float, float]] = []
    begin: float | None = None
    for r, t in zip(data, at, strict=True):
        if r.direction == "backward" and begin is None:
            begin = t
        elif r.direction != "backward" and begin is not None:
            out.append((begin, t))
            begin = None
    if begin is not None:
        out.append((begin, at[-1]))
    return out


def terminal_chart(data: list[Row], width: int = 100, height: int = 20) -> str:
    """Speed (backward in orange, filled) and heart rate on the right axis."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    at = _minutes(data)
    speed = [r.speed_kmh or 0.0 for r in data]
    forward = [s if r.direction != "backward" else 0.0 for r, s in zip(data, speed, strict=True)]
    backward = [s if r.direction == "backward" else 0.0 for r, s in zip(data, speed, strict=True)]
    plt.plot(at, forward, label="km/h forward", color="blue")
    plt.plot(at, backward, label="km/h backward", color=BACKWARD_COLOUR, fillx=True)
    beats = [(t, r.heart_rate_bpm) for t, r in zip(at, data, strict=True) if r.heart_rate_bpm]
    if beats:
        plt.plot(
            [t for t, _ in beats],
            [b for _, b in beats],
            label="bpm",
            color="red",
            yside="right",
            marker="dot",
        )
    plt.xlabel("minutes")
    plt.ylim(0, max([*speed, 1.0]) * 1.1)  # anchored at 0: a steady speed is not a flat 0
    text: str = plt.build()
    return text


def svg_chart(data: list[Row], target: Path, title: str) -> None:
    """The same chart as an SVG file."""
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    at = _minutes(data)
    figure, speed_axis = plt.subplots(figsize=(10, 4))
    speed_axis.plot(at, [r.speed_kmh or 0.0 for r in data], color="tab:blue", label="speed")
    for begin, end in _stretches(data, at):
        speed_axis.axvspan(begin, end, color=BACKWARD_COLOUR, alpha=0.25, lw=0)
    speed_axis.set_ylim(bottom=0)
    speed_axis.set_xlabel("minutes")
    speed_axis.set_ylabel("km/h (backward shaded)")
    beats = [(t, r.heart_rate_bpm) for t, r in zip(at, data, strict=True) if r.heart_rate_bpm]
    if beats:
        hr_axis = speed_axis.twinx()
        hr_axis.plot([t for t, _ in beats], [b for _, b in beats], ".", color="tab:red", ms=2)
        hr_axis.set_ylabel("bpm")
    speed_axis.set_title(title)
    figure.tight_layout()
    figure.savefig(target, format="svg")
    plt.close(figure)


def progression_chart(
    days: list[str],
    kmh: list[float],
    metres: list[float],
    width: int = 100,
    height: int = 18,
    *,
    colour: bool = True,
) -> str:
    """The coach's ladder so far: backward speed (left) and stretch length (right) by session."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    at = list(range(1, len(days) + 1))
    plt.plot(at, kmh, label="backward km/h", color=BACKWARD_COLOUR, marker="dot")
    plt.plot(at, metres, label="longest stretch m", color="blue", marker="dot", yside="right")
    plt.xticks(at, days)
    plt.ylim(0, max([*kmh, 1.0]) * 1.2)
    plt.xlabel("session")
    result: str = plt.build()
    return result if colour else str(plt.uncolorize(result))
