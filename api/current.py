"""The current state of a city as the views see it: births and each sensor's newest reading.

A sensor's reading is *current* at time `at` when it is the newest one at or
before `at` and no older than `STALE_FACTOR` times the sensor's declared
interval, the same multiple the stale-sensor alert uses. An older one tells
nothing about now, so the views leave the sensor out. Local days are
Asia/Shanghai days (UTC+8, no daylight saving time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from api.influx import InfluxQuery
from api.models import Sensor
from urbanpulse.influxql import quote_identifier, tag_equals, time_from, where
from urbanpulse.standards.noise import SHANGHAI_UTC_OFFSET_H

STALE_FACTOR = 3
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
_LOCAL_OFFSET_MS = SHANGHAI_UTC_OFFSET_H * HOUR_MS


def local_day_start(at_ms: int) -> int:
    """Return the epoch ms of the local (UTC+8) midnight that starts the day of `at_ms`."""
    return (at_ms + _LOCAL_OFFSET_MS) // DAY_MS * DAY_MS - _LOCAL_OFFSET_MS


@dataclass(frozen=True, slots=True)
class Current:
    """A sensor and its current reading (fields by name, `time` in epoch ms)."""

    sensor: Sensor
    row: dict[str, Any]

    @property
    def ts(self) -> int:
        """Time of the reading, epoch ms."""
        return int(self.row["time"])

    def number(self, name: str) -> float | None:
        """Return a numeric field of the reading, or None when it is absent."""
        value = self.row.get(name)
        if value is None or isinstance(value, str):
            return None
        return float(value)


async def current_readings(influx: InfluxQuery, kind: str, births: Sequence[Sensor],
                           fields: Sequence[str], *, at_ms: int) -> list[Current]:
    """Return the current reading of each of `births` (one kind), in the births' order.

    One query fetches the newest row per sensor over the longest window any of
    them needs; each row is then checked against its own sensor's interval.
    """
    if not births:
        return []
    lookback = STALE_FACTOR * max(sensor.interval_s for sensor in births) * 1000
    columns = ", ".join(quote_identifier(name) for name in fields)
    districts = sorted({sensor.district for sensor in births})
    scope = tag_equals("district", districts[0]) if len(districts) == 1 else ""
    statement = (f"SELECT {columns} FROM {quote_identifier(kind)}"
                 f"{where(scope, time_from(at_ms - lookback), f'time <= {at_ms}ms')} "
                 f"GROUP BY {quote_identifier('sensor')} ORDER BY time DESC LIMIT 1")
    newest = {one.tags.get("sensor", ""): row for one in await influx.query(statement)
              for row in one.rows()}
    found = []
    for sensor in births:
        row = newest.get(sensor.sensor)
        if row is not None and at_ms - row["time"] <= STALE_FACTOR * sensor.interval_s * 1000:
            found.append(Current(sensor, row))
    return found
