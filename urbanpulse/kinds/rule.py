"""What every alert rule declares, whichever type it is: the base model rule types extend.

A rule type is a pydantic model with a `type` literal of its own: the generic
types live in `ingest.alerts.rules`, a kind's own types in its `rules.py`,
paired with their checks in its `checks.py` (`urbanpulse.kinds.alerting`).
A kind's rule type fixes `kind` to its kind (`kind: Literal["air"] = "air"`),
so its rules need not say it.

This module stays Python: mypyc cannot compile pydantic models (a field's
`Field(...)` default is not of the field's type), so the models and the
compiled checks live in separate modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from urbanpulse.durations import seconds
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.network import NETWORK_INCIDENTS
from urbanpulse.messages import Severity
from urbanpulse.topics import NAME_PATTERN

__all__ = ["BaseRule", "Duration", "Name"]


def _duration(value: Any) -> Any:
    return seconds(value) if isinstance(value, str) else value


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]
"""Seconds, given as a number or a span like `90s`, `10m`, `2h` (`urbanpulse.durations`)."""
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
"""A topic level: lowercase a-z, 0-9 and '-'."""


class BaseRule(BaseModel):
    """The fields of every rule; a rule type adds `type: Literal[...]` and its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    type: str
    severity: Severity
    description: str = ""
    kind: str
    for_s: Annotated[Duration, Field(alias="for")] = 0.0
    repeat_s: Annotated[Duration, Field(alias="repeat_after")] = 0.0
    detects: tuple[Name, ...] | None = None
    """Truth types (simulator faults and incidents) the rule is meant to catch, for scoring."""

    @field_validator("kind")
    @classmethod
    def _kind_is_known(cls, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        return kind

    def watches(self, attributes: Mapping[str, object]) -> bool:
        """Whether the rule watches a sensor whose birth carries `attributes`.

        Every sensor of its kind, unless its type narrows it (a staleness rule's `match`).
        """
        return True

    @model_validator(mode="after")
    def _detects_are_known(self) -> BaseRule:
        spec = KINDS[self.kind]
        # The network's incidents (a backhaul outage) strike every kind (kinds/network.py).
        known = sorted(spec.faults | set(spec.incidents) | set(NETWORK_INCIDENTS))
        for name in self.detects or ():
            if name not in known:
                raise ValueError(f"detects: kind {self.kind!r} knows no fault or incident "
                                 f"{name!r}; it knows {', '.join(known)}")
        return self
