"""Readings and births as InfluxDB line protocol (DESIGN §3).

A reading becomes one point in the measurement named by its kind, tagged with
`sensor` and `district`, its metric values as float fields and `seq` as an
integer, timestamped with the device's `ts` in ms. Decode checked the names
against the topic grammar and the metrics against the catalog, so nothing of
a reading needs escaping here; series keys are cached per topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import msgspec

from urbanpulse.births import RESERVED_ATTRIBUTES, SENSORS_MEASUREMENT
from urbanpulse.errors import LineProtocolError
from urbanpulse.lineprotocol import FieldValue, encode_fields, encode_point
from urbanpulse.messages import Alert, Reading, SensorBirth

_json: Final = msgspec.json.Encoder().encode
_MAX_CACHED_SERIES: Final = 1_000_000
_FIELDS: Final = bytes.maketrans(b":", b"=")


class PointEncoder:
    """Encodes readings, caching each series key by the topic its readings arrive on."""

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}

    def line(self, topic: str, reading: Reading, extra: str = "") -> str:
        """Return the point of one validated reading from `topic`, with `extra` fields encoded.

        Decode checked that the topic names the reading's district, kind and
        sensor, so the topic identifies its series; its hash, computed once when
        the message is first looked up, is cached in the string, where a key of
        the reading's three names would be a new tuple with three new hashes.
        """
        key = self._keys.get(topic)
        if key is None:
            if len(self._keys) >= _MAX_CACHED_SERIES:
                self._keys.clear()
            key = self._keys[topic] = _series_key(reading)
        return _point(key, reading, extra)

    def reading(self, reading: Reading, derived: Mapping[str, FieldValue] | None = None) -> str:
        """Return the line-protocol point of one validated reading and its derived fields."""
        return _point(_series_key(reading), reading, encode_fields(derived) if derived else "")


def _series_key(reading: Reading) -> str:
    # Decode checked all three against the topic grammar ([a-z0-9-]): nothing to
    # escape, and tags are already in key order.
    return f"{reading.kind},district={reading.district},sensor={reading.sensor}"


def _point(key: str, reading: Reading, extra: str) -> str:
    # {"pm25":38.2,"o3":92.0} -> pm25=38.2,o3=92.0: msgspec writes each float as its
    # shortest repr (which line protocol reads back exactly) twice as fast as Python;
    # one translate turns ':' into '=' and drops the quotes.
    fields = _json(reading.values)[1:-1].translate(_FIELDS, b'"').decode()
    if extra:
        return f"{key} {fields},{extra},seq={reading.seq}i {reading.ts}"
    return f"{key} {fields},seq={reading.seq}i {reading.ts}"


def birth_point(birth: SensorBirth) -> str:
    """Return the `sensors` point of a birth: location, site, zone, interval, attributes."""
    fields: dict[str, FieldValue] = {
        "lat": birth.lat, "lon": birth.lon, "site": birth.site, "zone": birth.zone,
        "interval_s": birth.interval_s,
    }
    for name, value in birth.attributes.items():
        if name in RESERVED_ATTRIBUTES:  # decode refused it; a birth built elsewhere may not
            raise LineProtocolError(f"Attribute {name!r} is named like a tag or field of "
                                    f"{SENSORS_MEASUREMENT!r}.")
        fields[name] = value
    return encode_point(SENSORS_MEASUREMENT,
                        {"sensor": birth.sensor, "kind": birth.kind, "district": birth.district},
                        fields, birth.ts)


ALERTS_MEASUREMENT = "alerts"


def alert_fields(alert: Alert) -> dict[str, FieldValue]:
    """Return the fields of an alert state change's `alerts` point."""
    fields: dict[str, FieldValue] = {"message": alert.message, "since": alert.since}
    if alert.value is not None:
        fields["value"] = alert.value
    if alert.acked_by is not None:
        fields["acked_by"] = alert.acked_by
    if alert.note:
        fields["note"] = alert.note
    return fields


def alert_point(alert: Alert) -> str:
    """Return the `alerts` point of one alert state change."""
    fields = alert_fields(alert)
    tags = {"alert_id": alert.alert_id, "rule": alert.rule, "sensor": alert.sensor,
            "kind": alert.kind, "district": alert.district, "severity": alert.severity,
            "state": alert.state}
    return encode_point(ALERTS_MEASUREMENT, tags, fields, alert.ts)
