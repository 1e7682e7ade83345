"""The root of every error a user can meet (base floor: imports nothing).

Everything the gateway raises for a user's mistake or a condition they can
act on (a config, a plan file, a capture, an unreachable device or broker)
is a ``RetrogateError``. The CLI catches this one type to print one line;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class RetrogateError(Exception):
    """A problem the user can act on, said in one line."""
