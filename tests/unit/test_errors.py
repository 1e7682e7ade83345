"""One root for every error a user can meet, and one line when they do.

``RetrogateError`` is the root: the CLI catches it (and only it) to print
one line, so a real bug (a ValueError from a typo, a pydantic error) is never
swallowed as if it were the user's mistake.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.errors import RetrogateError

ROOT = Path(__file__).resolve().parents[2]


def _error_classes() -> list[str]:
    found = []
    for package in ("gateway", "dashboard", "simulators"):
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            module = module.removesuffix(".__init__")
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                    found.append(f"{module}:{node.name}")
    return found


def test_every_error_the_project_defines_is_a_retrogate_error() -> None:
    strays = []
    errors = 0
    for name in _error_classes():
        module, _, cls_name = name.partition(":")
        cls = getattr(importlib.import_module(module), cls_name)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            errors += 1
            if not issubclass(cls, RetrogateError):
                strays.append(name)
    assert errors >= 10  # the walk found them
    assert strays == []


def test_run_without_a_paired_treadmill_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'gateway_id = "t"\ndata_dir = "{tmp_path}"\n')
    assert main(["run", "--config", str(config), "--no-mqtt", "--no-status"]) == 2
    err = capsys.readouterr().err
    assert "no treadmill is paired: run `retrogate pair`" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("speedup", ["0", "-2", "nan", "fast"])
def test_a_speedup_that_is_not_a_positive_number_is_refused_in_one_line(
    speedup: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--sim", "--speedup", speedup])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("retrogate run: error: argument --speedup:")
