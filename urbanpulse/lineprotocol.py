"""InfluxDB line protocol, encoded by hand because it is small and hot.

influxdb-client's `Point` costs about 12 µs a point; this encoder escapes with
`str.translate` and lets the ingester cache each series' key, so a reading costs
its field formatting only. Escaping follows the line-protocol reference:

- measurement: comma and space;
- tag keys, tag values and field keys: comma, equals sign and space;
- string field values: double quote and backslash.

Line protocol cannot carry a newline in a name or tag, a backslash at the end of
a name or tag or just before a space, comma, equals sign, double quote or
backslash (InfluxDB 1.x reads `\\,` as an escaped backslash and then a separator,
and drops the backslash of `\\"` in names), an
empty tag value, or a non-finite float: those raise LineProtocolError instead of
writing something the server would misread.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from urbanpulse.errors import LineProtocolError

FieldValue = float | int | bool | str

_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ "})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING = str.maketrans({'"': r"\"", "\\": "\\\\"})
_UNWRITABLE = re.compile(r"[\n\r]|\\(?:[ ,=\"\\]|\Z)")


def _check_identifier(text: str, what: str) -> None:
    if not text:
        raise LineProtocolError(f"A {what} may not be empty.")
    if _UNWRITABLE.search(text):
        raise LineProtocolError(
            f"A {what} may not contain a line break, end in a backslash, or have a backslash "
            f"before a space, comma, equals sign, quote or backslash: {text!r}.")


def escape_measurement(name: str) -> str:
    """Escape a measurement name."""
    _check_identifier(name, "measurement name")
    return name.translate(_MEASUREMENT)


def escape_key(text: str, what: str = "tag or field key") -> str:
    """Escape a tag key, tag value or field key; a key may not be `time`."""
    _check_identifier(text, what)
    if text == "time" and what != "tag value":
        raise LineProtocolError(f"A {what} may not be 'time': InfluxDB refuses it.")
    return text.translate(_KEY)


def series_key(measurement: str, tags: Mapping[str, str]) -> str:
    """Encode `measurement,tag=value,...`, tags sorted by key and empty values left out."""
    parts = [escape_measurement(measurement)]
    for key in sorted(tags):
        value = tags[key]
        if value:
            parts.append(f"{escape_key(key, 'tag key')}={escape_key(value, 'tag value')}")
    return ",".join(parts)


def format_field(value: FieldValue) -> str:
    """Encode one field value: float as shortest repr, int with `i`, bool, quoted string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LineProtocolError(f"A float field must be finite, not {value!r}.")
        return repr(value)
    if isinstance(value, str):
        return f'"{value.translate(_STRING)}"'
    raise LineProtocolError(f"Unsupported field value type {type(value).__name__}.")


def encode_fields(fields: Mapping[str, FieldValue]) -> str:
    """Encode a non-empty field set as `key=value,...` in the mapping's order."""
    if not fields:
        raise LineProtocolError("A point needs at least one field.")
    return ",".join(
        f"{escape_key(key, 'field key')}={format_field(value)}" for key, value in fields.items()
    )


def encode_line(key: str, fields: Mapping[str, FieldValue], ts: int) -> str:
    """Encode one point from an already encoded series key (see `series_key`)."""
    return f"{key} {encode_fields(fields)} {ts}"


def encode_point(measurement: str, tags: Mapping[str, str],
                 fields: Mapping[str, FieldValue], ts: int) -> str:
    """Encode one point; `ts` is in the precision the write request names."""
    return encode_line(series_key(measurement, tags), fields, ts)
