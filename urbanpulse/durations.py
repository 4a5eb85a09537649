"""One duration grammar for every file and flag: `90s`, `10m`, `2h`, `1.5d`, or bare seconds.

Rules files, scenarios and the CLI's `--duration` all read spans through
`seconds`, so one spelling works everywhere and one message explains a bad one.
"""

from __future__ import annotations

import math
import re

_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)\Z")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def seconds(text: object) -> float:
    """Return the seconds of a span like `90s`, `10m`, `2h`, `2d` or `1w` (a bare number: seconds).

    Raises:
        ValueError: The text is no such span, or the number is negative or not finite.
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration like 90s, 10m or 2h")
    if isinstance(text, int | float):
        if not math.isfinite(text) or text < 0:
            raise ValueError(f"{text!r} is not a duration: give a non-negative number of seconds")
        return float(text)
    match = _SPAN.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 90s, 10m or 2h")
    return float(match.group(1)) * _UNIT_S[match.group(2)]
