"""Fields the ingester derives from a reading with the national standards, stored beside it.

Each kind derives its own fields in its `derive.py` (`derive_encoded(reading,
zone)`), and declares them in `SPEC.derived`; this module dispatches a reading
to its kind's function, a table built once from the registry (and again when
a reading of a kind registered since arrives). A kind that is `zoned` needs
the sensor's zone from its birth: a reading of a sensor whose birth was not
seen yet gets None and, mostly, no fields. Nothing here can refuse a reading:
a value a standard does not define is left underived.

A kind that calibrates its low-grade sensors against its reference ones
(`calibration.py`, `ingest.calibration`) also has a corrected field per
calibrated metric, and its other fields are derived from the corrected
values. That takes state (the sensors' grades, the fits), which the
ingester's `Derivation` keeps: it corrects a calibrated sensor's reading
first, and gives a reference sensor's, or one of no declared grade (no birth
seen), its own values as corrected ones. `derive` and `derive_encoded` take
the values as they are and give the kind's fields alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

import msgspec

from ingest.calibration import KindCalibration, ReadHistory, calibrations, seed
from urbanpulse.kinds import KINDS, part
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading, SensorBirth

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
    """Return the kind's derived fields of one reading, its values taken as they are, and the
    same fields as line protocol (no corrected fields: `Derivation` adds those).

    The text is empty when nothing is derived. The caller must not change the mapping.
    """
    return _deriver(reading.kind)(reading, zone)


def _deriver(kind: str) -> Deriver:
    found = _DERIVERS.get(kind)
    if found is None:
        _learn()
        found = _DERIVERS.get(kind, _underived)
    return found


def _with_corrected(derived: tuple[dict[str, FieldValue], str], values: Mapping[str, float],
                    corrected: tuple[tuple[str, str], ...]) -> tuple[dict[str, FieldValue], str]:
    """Return a kind's derived fields followed by the corrected fields of `values` (metric →
    corrected value) that it holds, and their text."""
    fields, text = derived
    fields = dict(fields)
    encoded = [text] if text else []
    for metric, name in corrected:
        value = values.get(metric)
        if value is not None:
            fields[name] = value
            encoded.append(f"{name}={value!r}")  # names are [a-z0-9_], values finite floats
    return fields, ",".join(encoded)


class Derivation:
    """The ingester's derived fields: each kind's, from corrected values where it calibrates.

    Births tell it each sensor's grade (`register`); a calibrated sensor's
    readings are corrected (`ingest.calibration.KindCalibration.correct`) before
    its kind derives the rest from them.
    """

    def __init__(self) -> None:
        """Build a calibration per kind that declares one.

        Raises:
            ValueError: A kind's calibration does not fit it.
        """
        self.calibrations: dict[str, KindCalibration] = calibrations()
        self._corrected = {name: tuple(calibration.colocation.corrected.items())
                           for name, calibration in self.calibrations.items()}
        """Each calibrated kind's (metric, corrected field) pairs."""

    def register(self, birth: SensorBirth) -> None:
        """Learn a sensor's grade and district from its birth."""
        calibration = self.calibrations.get(birth.kind)
        if calibration is not None:
            calibration.register(birth.sensor, birth.district, birth.attributes)

    async def seed(self, read: ReadHistory, districts: Sequence[str], now_ms: int) -> None:
        """Rebuild the calibrations from InfluxDB's hourly rollups (`ingest.calibration.seed`),
        after the births are registered and before readings are taken."""
        await seed(self.calibrations, read, districts, now_ms)

    def derive_encoded(self, reading: Reading, zone: str | None, now_ms: int
                       ) -> tuple[dict[str, FieldValue], str]:
        """Return the derived fields of one reading and the same fields as line protocol.

        The text is empty when nothing is derived. The caller must not change the mapping.
        """
        calibration = self.calibrations.get(reading.kind)
        if calibration is None:
            return derive_encoded(reading, zone)
        corrected = calibration.correct(reading, now_ms)
        kind, fields = _deriver(reading.kind), self._corrected[reading.kind]
        if corrected is None:  # a reference sensor's, or one of no declared grade: as it reads
            return _with_corrected(kind(reading, zone), reading.values, fields)
        values = dict(reading.values)
        values.update(corrected)
        return _with_corrected(kind(msgspec.structs.replace(reading, values=values), zone),
                               corrected, fields)


_learn()
