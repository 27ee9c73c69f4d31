"""Subcommands of the `stylescope` CLI, one module each; see `stylescope.cli`."""

from __future__ import annotations

import re

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


class CommandError(Exception):
    """A user error in a command's options or inputs: printed without a traceback."""


def parse_int_list(text: str, flag: str = "--seeds") -> list[int]:
    """Parse non-negative '0-3,7,10-11' into [0, 1, 2, 3, 7, 10, 11], naming `flag` in errors."""
    values: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _RANGE.match(part)
        if match is None:
            raise CommandError(f"{flag}: cannot read {part!r}; use integers and ranges like 0-7")
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise CommandError(f"{flag}: range {part!r} runs backwards")
        values.extend(range(lo, hi + 1))
    if not values:
        raise CommandError(f"{flag}: no values in {text!r}")
    return values
