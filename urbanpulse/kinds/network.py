"""Incidents of the network between the sensors and the platform: they strike any kind.

A kind's own incidents (`SPEC.incidents`) change what its sensors sense, and
its model gives each an effect. An incident of the network changes only
whether the sensors' messages arrive, whatever they measure, so no kind lists
it: a scenario strikes the sensors of the kind it names, and a rule of any
kind may `detect` it.

The simulator drops the messages of the struck sensors while the incident
lasts (`simulator.faults.DELIVERY_EFFECTS`); its truth is an incident's
(`source: incident`), one per sensor, so that a rule that judges a district
(`district_stale`) is scored on an outage of many sensors at once and not on
one sensor's own `offline` fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

BACKHAUL_OUTAGE: Final = "backhaul-outage"
"""A district's uplink fails (a carrier's base station, a gateway's backhaul): silence."""

NETWORK_INCIDENTS: Final[Mapping[str, str]] = MappingProxyType({
    BACKHAUL_OUTAGE: "the uplink that carries the sensors' messages from their area fails "
                     "(an operator's base station, a gateway's backhaul): nothing they send "
                     "arrives until it is restored",
})
"""The network's incident types, with what each does; every kind may suffer them."""
