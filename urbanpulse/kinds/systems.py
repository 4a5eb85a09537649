"""The city systems whose dashboards several kinds share (pure: names and words only).

A kind's `dashboard.py` names its system (`SYSTEM = FLOOD`) and returns the
panels it adds to that system's dashboard from `system()`; the builder writes
one dashboard per system that any registered kind names, uid
`urbanpulse-<name>`, with the panels of its kinds in registry order. A kind of
another distribution may name one of these or bring a `System` of its own.
"""

from __future__ import annotations

from urbanpulse.kinds.panels import System

FLOOD = System("flood", "Flood and drainage",
               "Rain, ponding at underpasses and low roads, sewers and drainage pump stations: "
               "the chain a cloudburst runs through.")
WATER_SUPPLY = System("water-supply", "Water supply",
                      "Pressure compliance, district-metered inflow and minimum night flow, "
                      "free chlorine and turbidity of the supply network.")
UNDERGROUND = System("underground", "Underground safety",
                     "Manhole covers, combustible gas next to the mains and the utility "
                     "tunnels.")
POLES = System("poles", "Smart poles",
               "Lamp controllers of the smart poles and the sensors the poles carry.")
