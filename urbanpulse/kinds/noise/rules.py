"""The noise rule type: LAeq over its zone's GB 3096 limit (checked in `checks.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from urbanpulse.kinds.rule import BaseRule


class NoiseLimitRule(BaseRule):
    """Fires when LAeq exceeds the GB 3096 limit of the monitor's zone by more than `margin_db`.

    Day (06:00–22:00) and night limits follow the local hour of the reading.
    """

    type: Literal["noise_limit"]
    kind: Literal["noise"] = "noise"
    margin_db: float = Field(0.0, ge=0)
