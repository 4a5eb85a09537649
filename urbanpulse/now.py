"""The "now" snapshot of each district and kind: what the ingester writes, what panels read.

A panel that shows one number over a kind's sensors now (the free spaces, the
worst AQI) or the worst twenty of them cannot read every sensor's last raw point
at city scale: that is a series per sensor, whatever it returns (at 22,150
sensors such a panel took 0.3 to 0.7 s, docs/performance.md). The ingester
already holds every sensor's newest reading; from it, every
`URBANPULSE_INGEST_NOW_INTERVAL_S` (15 s, at most `INTERVAL_MAX_S`), it writes
per district and kind (docs/contract.md):

- `{kind}_now` (tag `district`): `sensors`, the sensors whose newest reading is
  within the kind's `now_s`; for each numeric field of the kind its `_sum`,
  `_min`, `_max`, `_sensors` (the sensors that report it) and `_nonzero` over their
  last values; and each of the kind's tallies, counting sensors by their last
  value (`SensorKind.tallies`: those that report the field, or whose value is at
  least the tally's);
- `{kind}_top` (tags `district`, `by`, `rank`): for each of the kind's rankings
  (`SensorKind.ranked`), the `TOP_N` sensors with the highest (or lowest) last
  value of `by`, each point the sensor's name (`sensor`) and its last value of
  every field. A rank is written when what holds it changes and again every
  `REFRESH_S`; a rank that falls vacant gets `sensor` "" and no other field.

Each snapshot is stamped with the time the readings have reached, and history
that arrives faster than it happened gets a snapshot every `CATCH_UP_S` of it. A
panel reads each district's newest point within `LOOKBACK_S` of its range's end,
so what it costs is the districts' points, whatever the city's size.
"""

from __future__ import annotations

from typing import Final

INTERVAL_MAX_S: Final = 60
"""The longest interval between two snapshots a setting may ask for."""
REFRESH_S: Final = 600
"""How often a rank that has not changed is written again."""
CATCH_UP_S: Final = 120
"""While readings run ahead of the ingester's clock (a backfill, a replay), a snapshot is
written each time their time has moved this far, so a past range of that history finds
one within `LOOKBACK_S` of its end."""
LOOKBACK_S: Final = 3_600
"""How far back from its range's end a panel looks for a district's newest snapshot: an
unchanged rank is written again every `REFRESH_S`, and a snapshot is stamped with the
newest reading's time (`ingest.now`), which in a replayed history of a kind that reports
every 15 minutes can be that much before the range's end."""
TOP_N: Final = 20
"""The sensors of each ranking kept per district; a table shows the city's first `TOP_N`."""
STATISTICS: Final = ("sum", "min", "max", "sensors", "nonzero")
"""What `{kind}_now` holds of each numeric field, as `{field}_{statistic}`."""


def now_measurement(kind: str) -> str:
    """Return the measurement of a kind's statistics now: `parking_now`."""
    return f"{kind}_now"


def top_measurement(kind: str) -> str:
    """Return the measurement of a kind's ranked sensors now: `parking_top`."""
    return f"{kind}_top"
