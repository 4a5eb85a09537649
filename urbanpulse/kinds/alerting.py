"""What a kind's alert checks build on: the `Check` base class, its `Context` and `Verdict`.

A kind's `checks.py` pairs each of its rule types (a `BaseRule` model of
`urbanpulse.kinds.rule`) with a `Check` subclass, as `RULES = ((Model,
CheckClass), ...)`; the ingester builds one check object per rule and calls it
for every reading of the kind.

A check holds its rule's settings as plain attributes and, when it compares a
reading with earlier ones, a small memory per sensor. `check` returns None
when the reading says nothing about the rule (the metric is absent, or a rate
needs a second reading), else (active, value, detail). `active` is the rule's
own verdict given whether its alert is active now, which is how thresholds
get their hysteresis; `detail` is the one number the message needs besides
the value and the reading (a rate, a count, a baseline), else 0. `describe`
builds the alert's message from them; the engine calls it only when the alert
changes state, because formatting a sentence for every reading cost more than
the check itself.

Checks are classes rather than functions of the rule because mypyc compiles
them to C structs: reading a setting, or calling the check, is then a pointer
away instead of a lookup in a pydantic model's dict (docs/performance.md).
This module is compiled with them (`ingest.compiled.MODULES`). `Check` allows
interpreted subclasses, so a kind installed from another distribution, which
is not compiled, may still bring rule types of its own. Pure: checks never
read the clock or the network.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mypy_extensions import mypyc_attr

from urbanpulse.kinds.rule import BaseRule
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading

__all__ = ["Check", "Context", "Derived", "Verdict"]

Verdict = tuple[bool, float, float] | None
"""None (the reading says nothing), else (active, value, detail)."""
Derived = Mapping[str, FieldValue]
"""The fields the ingester derived from the reading (the kind's `derive.py`)."""


@dataclass(frozen=True, slots=True)
class Context:
    """What a check may know of the sensor beyond the reading: its birth."""

    zone: str = ""
    attributes: Mapping[str, object] = field(default_factory=dict)


# Compiled with mypyc; a kind from another distribution subclasses it as plain Python.
@mypyc_attr(allow_interpreted_subclasses=True)
class Check:
    """The per-reading check of one rule."""

    def __init__(self, rule: Any) -> None:
        self.rule: BaseRule = rule
        self.name: str = rule.name

    @abstractmethod
    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        """Judge one reading: None, or (active, value, detail)."""

    @abstractmethod
    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        """Return the alert's message for what `check` judged of `reading`."""
