"""The street-light rule type: a lamp fault derived for the reading (checked in `checks.py`)."""

from __future__ import annotations

from typing import Literal

from urbanpulse.kinds.rule import BaseRule


class LampFaultRule(BaseRule):
    """Fires while the derived `lamp_fault` is `fault`: 1 lamp out at night, 2 lamp on by day.

    Night and day follow Shanghai's sunset and sunrise at the reading's local date,
    with 45 minutes of twilight on either side judged as no fault.
    """

    type: Literal["lamp_fault"]
    kind: Literal["streetlight"] = "streetlight"
    fault: Literal[1, 2]
