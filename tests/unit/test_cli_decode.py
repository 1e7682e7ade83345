"""``retrogate decode``: what a user pasting a capture sees."""

from __future__ import annotations

import io
import json

import pytest

from gateway.cli import main


def run(
    argv: list[str], capsys: pytest.CaptureFixture[str], stdin: str = ""
) -> tuple[int, str, str]:
    if stdin:
        pytest.MonkeyPatch().setattr("sys.stdin", io.StringIO(stdin))
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_speed_range_done_when_example(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["decode", "speed-range", "f4 01 b8 0b 32 00"], capsys)
    assert status == 0
    assert json.loads(out) == {"min_kmh": 5.0, "max_kmh": 30.0, "step_kmh": 0.5}
    assert err == ""


def test_colons_prefix_and_split_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["decode", "heart-rate", "16:73:10", "02:0d:02"], capsys)
    assert status == 0
    assert json.loads(out)["rr_intervals_s"] == [528 / 1024, 525 / 1024]
    status, out, _ = run(["decode", "status", "0x056900"], capsys)
    assert json.loads(out) == {"op": "target_speed_changed", "target_speed_kmh": 1.05}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("f4 0z", "'z' is not a hex digit (digit 4)"),
        ("f40", "odd number of hex digits (3); each byte needs two"),
        ("  ", "no hex digits"),
    ],
)
def test_bad_hex_is_one_clear_line(
    text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(["decode", "speed-range", text], capsys)
    assert status == 1
    assert out == ""
    assert err == f"error: bad hex: {message}\n"


def test_undecodable_frame_names_the_problem(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["decode", "treadmill-data", "00"], capsys)
    assert status == 1
    assert err == "error: treadmill-data: frame has 1 bytes, flags need 2\n"


def test_stdin_goes_on_after_errors(capsys: pytest.CaptureFixture[str]) -> None:
    lines = "# capture from my treadmill\n0000 f401\nxyz\n\n0000 f4\n2000 f401 08\n"
    status, out, err = run(["decode", "treadmill-data", "-"], capsys, stdin=lines)
    assert status == 1
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0] == {"speed_kmh": 5.0}
    assert records[1]["warnings"][0].startswith("truncated")  # a record with warnings counts
    assert records[2] == {"speed_kmh": 5.0, "pace_kmmin": 0.8}
    assert err == "error: line 3: bad hex: 'x' is not a hex digit (digit 1)\n"


def test_stdin_all_good_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["decode", "control-response", "-"], capsys, stdin="800201\n800505\n")
    assert status == 0
    assert [json.loads(x)["result"] for x in out.splitlines()] == [
        "success",
        "control_not_permitted",
    ]


def test_unknown_kind_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["decode", "bike-data", "00"])
    assert exc.value.code == 2
    assert "invalid choice: 'bike-data'" in capsys.readouterr().err
