"""The export formats, named apart from the exporter (which loads the FIT SDK),
so listing them costs a command's start-up nothing."""

from __future__ import annotations

from typing import Literal

Format = Literal["csv", "tcx", "fit"]
FORMATS: tuple[Format, ...] = ("csv", "tcx", "fit")
