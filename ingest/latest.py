"""The latest accepted reading of every sensor, published per district as a signed state.

The pipeline hands over each batch InfluxDB has written; the newest reading
of each sensor (by device time) is kept with its derived fields. Every few
seconds each district that changed gets its full `DistrictState`, signed with
the alert key, retained on `{root}/state/{district}`. On start the state is
seeded from InfluxDB (the newest raw point of each sensor), so the first
message after a restart is complete.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from urbanpulse.kinds import SensorKind
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import AttributeValue, DistrictState, Reading, SensorState, encoder
from urbanpulse.signing import sign_state
from urbanpulse.topics import state_topic

Latest = tuple[int, int, Mapping[str, float], Mapping[str, AttributeValue], bytes | None]
"""A sensor's newest reading: ts, seq, metric values, derived fields, and its `"sensor":
SensorState` JSON once encoded: a message re-encodes only the sensors that changed."""
_json: Final = encoder.encode


def row_values(kind: SensorKind, row: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """Return the metrics and derived fields of a raw point read back from InfluxDB.

    InfluxDB's JSON writes a whole float without its point: metrics and float
    derived fields are made floats again, as a live reading has them.
    """
    values: dict[str, AttributeValue] = {
        name: float(row[name]) for name in kind.metrics if row.get(name) is not None}
    for name, spec in kind.derived.items():
        value = row.get(name)
        if value is not None:
            values[name] = float(value) if spec.type == "float" else value
    return values


class LatestState:
    """The newest reading of each sensor by district, kind and sensor, and what changed."""

    def __init__(self, *, root: str, key: bytes | None) -> None:
        self._root = root
        self._key = key
        self._districts: dict[str, dict[str, dict[str, Latest]]] = {}
        self.changed: set[str] = set()
        """Districts with a reading not yet published."""

    def written(self, readings: Sequence[Reading | None],
                derived: Sequence[Mapping[str, FieldValue] | None]) -> None:
        """Keep the newest of written readings (None: a point that is not a reading)."""
        districts = self._districts
        changed = self.changed
        for reading, extra in zip(readings, derived, strict=True):
            if reading is None or extra is None:
                continue
            kinds = districts.get(reading.district)
            if kinds is None:
                kinds = districts[reading.district] = {}
            sensors = kinds.get(reading.kind)
            if sensors is None:
                sensors = kinds[reading.kind] = {}
            old = sensors.get(reading.sensor)
            if old is None or old[0] <= reading.ts:
                sensors[reading.sensor] = (reading.ts, reading.seq, reading.values, extra, None)
                changed.add(reading.district)

    def seed(self, kind: SensorKind, district: str, sensor: str, row: Mapping[str, Any]) -> None:
        """Keep a raw point read back from InfluxDB (`row` has `time`, `seq` and fields)."""
        sensors = self._districts.setdefault(district, {}).setdefault(kind.name, {})
        old = sensors.get(sensor)
        ts = int(row["time"])
        if old is not None and old[0] > ts:
            return
        sensors[sensor] = (ts, int(row.get("seq") or 0), {}, row_values(kind, row), None)
        self.changed.add(district)

    def state(self, district: str, now_ms: int) -> bytes:
        """Return the JSON of the state of `district` now, signed when there is a key.

        Each kind's sensors go in as the JSON the shared encoder writes for them
        (`msgspec.Raw`), built from each sensor's cached piece: the bytes, and
        so the signature, are those of the same `DistrictState` encoded whole.
        """
        kinds = self._districts.get(district, {})
        sensors = {kind: msgspec.Raw(self._sensors_json(kinds[kind])) for kind in sorted(kinds)}
        state = DistrictState(v=1, district=district, ts=now_ms,
                              sensors=sensors)  # type: ignore[arg-type]
        return _json(state if self._key is None else sign_state(state, self._key))

    @staticmethod
    def _sensors_json(sensors: dict[str, Latest]) -> bytes:
        pieces = []
        for sensor, latest in sensors.items():
            piece = latest[4]
            if piece is None:
                ts, seq, values, extra, _ = latest
                piece = _json(sensor) + b":" + _json(
                    SensorState(ts=ts, seq=seq, values={**values, **extra}))
                sensors[sensor] = (ts, seq, values, extra, piece)
            pieces.append(piece)
        return b"{" + b",".join(pieces) + b"}"

    def messages(self, now_ms: int) -> list[tuple[str, bytes]]:
        """Return (topic, payload) of each district that changed, and forget the changes."""
        out = [(state_topic(district, root=self._root), self.state(district, now_ms))
               for district in sorted(self.changed)]
        self.changed.clear()
        return out
