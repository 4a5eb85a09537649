"""Fields the ingester derives from a reading with the national standards, stored beside it.

Each kind derives its own fields in its `derive.py` (`derive_encoded(reading,
zone)`), and declares them in `SPEC.derived`; this module dispatches a reading
to its kind's function, a table built once from the registry (and again when
a reading of a kind registered since arrives). A kind that is `zoned` needs
the sensor's zone from its birth: a reading of a sensor whose birth was not
seen yet gets None and, mostly, no fields. Nothing here can refuse a reading:
a value a standard does not define is left underived.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from urbanpulse.kinds import KINDS, part
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading

Deriver = Callable[[Reading, str | None], tuple[dict[str, FieldValue], str]]
"""A kind's `derive_encoded`: the derived fields and the same fields as line protocol."""
_NOTHING: Final[tuple[dict[str, FieldValue], str]] = ({}, "")
_DERIVERS: Final[dict[str, Deriver]] = {}
ZONED: Final[set[str]] = set()
"""Kinds whose derived fields depend on the sensor's zone: only their readings need it."""


def _underived(reading: Reading, zone: str | None) -> tuple[dict[str, FieldValue], str]:
    return _NOTHING


def _learn() -> None:
    """Build the table of derive functions, and ZONED, from the registry.

    Raises:
        ValueError: A kind declares derived fields but has no `derive` module.
    """
    for name, kind in KINDS.items():
        module = part(kind, "derive") if kind.derived else None
        if kind.derived and module is None:
            raise ValueError(f"Kind {name!r} declares derived fields but its package "
                             f"{kind.package or '(none)'} has no derive module.")
        _DERIVERS[name] = module.derive_encoded if module is not None else _underived
        if kind.zoned:
            ZONED.add(name)


def derive(reading: Reading, zone: str | None) -> dict[str, FieldValue]:
    """Return the derived fields of one validated reading (empty when its kind derives none)."""
    return dict(derive_encoded(reading, zone)[0])


def derive_encoded(reading: Reading, zone: str | None) -> tuple[dict[str, FieldValue], str]:
    """Return the derived fields of one reading and the same fields as line protocol.

    The text is empty when nothing is derived. The caller must not change the mapping.
    """
    found = _DERIVERS.get(reading.kind)
    if found is None:
        _learn()
        found = _DERIVERS.get(reading.kind, _underived)
    return found(reading, zone)


_learn()
