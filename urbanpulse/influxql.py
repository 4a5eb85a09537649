"""InfluxQL as text and results as values: quoting, conditions, series. No I/O.

Every statement UrbanPulse sends is built from these pieces (never by pasting
raw text into a query); `Series` is one series of a `/query` answer. The
client that sends statements is `api.influx.InfluxQuery`; anything that only
needs to ask (a kind's district-summary section, say) takes the `Queries`
protocol instead, so it imports no service.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

_LITERAL = str.maketrans({"\\": "\\\\", "'": "\\'", "\n": "\\n"})
_IDENTIFIER = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})


def quote_literal(text: str) -> str:
    """Return `text` as an InfluxQL string literal: single quotes, backslash escapes."""
    return f"'{text.translate(_LITERAL)}'"


def quote_identifier(name: str) -> str:
    """Return `name` as a double-quoted InfluxQL identifier (measurement, tag or field)."""
    return f'"{name.translate(_IDENTIFIER)}"'


def where(*conditions: str) -> str:
    """Return ` WHERE a AND b` for the non-empty conditions, or an empty string."""
    present = [condition for condition in conditions if condition]
    return " WHERE " + " AND ".join(present) if present else ""


def tag_equals(tag: str, value: str | None) -> str:
    """Return `"tag"::tag = 'value'`, or an empty string when `value` is None.

    The `::tag` keeps the comparison on the tag even where a field of the same
    name was stored (a hostile birth's attribute, say): unqualified, InfluxQL
    would compare the field.
    """
    return "" if value is None else f"{quote_identifier(tag)}::tag = {quote_literal(value)}"


def time_from(ms: int) -> str:
    """Return the condition `time >= ms`, clamped to the epoch (InfluxQL reads no negative
    time literals)."""
    return f"time >= {max(ms, 0)}ms"


class Series(msgspec.Struct, frozen=True):
    """One series of a query result: rows of `values` under `columns`, with group-by tags."""

    name: str = ""
    columns: list[str] = []
    values: list[list[Any]] = []
    tags: dict[str, str] = {}

    def rows(self) -> list[dict[str, Any]]:
        """Return each row as a dict of column to value (tags not merged in)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.values]


class Queries(Protocol):
    """Anything that runs one InfluxQL statement and returns its series."""

    async def query(self, statement: str) -> list[Series]:
        """Run `statement` and return the series of its (single) result."""
        ...
