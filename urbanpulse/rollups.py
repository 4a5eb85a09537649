"""The rollups the ingester writes beside the raw points: their names, and which exist.

Per sensor `{kind}_1h`, and `{kind}_1m` for a kind that reports more often than
once a minute; per district and kind `{kind}_district_1m` and
`{kind}_district_1h` (fields in docs/contract.md). A sensor of a kind that
reports once a minute or less often has at most one reading in a minute (give or
take its clock), so its minute rollup would be the raw point again with three
times the fields: the ingester does not write it, and a reader of a sensor's
minutes reads the raw points (`sensor_minutes`). The ingester that writes rollups
and the api, Grafana builder and kinds' panels that read them spell the names
only through `rollup_measurement`.
"""

from __future__ import annotations

from typing import Final, Literal

from urbanpulse.kinds.spec import SensorKind

Scope = Literal["sensor", "district"]
"""Per sensor (tags `district`, `sensor`) or per district and kind (tag `district`)."""
Resolution = Literal["1m", "1h"]
"""A minute or an hour, UTC-aligned."""
_MINUTE_S: Final = 60


def rollup_measurement(kind: str, scope: Scope, resolution: Resolution) -> str:
    """Return the measurement of one rollup of `kind`: `air_1h`, `air_district_1m`, …"""
    if scope == "district":
        return f"{kind}_district_{resolution}"
    return f"{kind}_{resolution}"


def has_sensor_minutes(kind: SensorKind) -> bool:
    """Return whether the ingester writes a per-sensor minute rollup of `kind`: only when
    its sensors report more often than once a minute."""
    return kind.interval_s < _MINUTE_S


def sensor_minutes(kind: SensorKind) -> str:
    """Return the measurement that holds a sensor's readings minute by minute.

    The per-sensor minute rollup where there is one (`X_mean`, `X_min`,
    `X_max`, `count`), else the raw points themselves (`X`, `seq`).
    """
    return rollup_measurement(kind.name, "sensor", "1m") if has_sensor_minutes(kind) else kind.name
