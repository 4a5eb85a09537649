"""GB 3838-2002 surface-water class by single-factor evaluation of the basic items we measure.

Limits are GB 3838-2002 Table 1 as recorded in
`/work/shared/reference/domain-facts.md` §2.1 (see `docs/standards.md`), for
the five basic items the water kind reports: pH, dissolved oxygen, CODMn,
NH3-N and total phosphorus. Items the catalog lacks (COD, BOD5, metals...) do
not enter the class, so the result is the class *as far as these items tell*.

Rules this module applies:

- Each parameter takes the best class (I = 1 ... V = 5) whose limit it meets;
  a value on a limit meets it ("≤", and "≥" for DO). Failing V is class 6,
  劣V ("worse than V").
- pH has the same range 6-9 for every class, so a pH inside it constrains
  nothing (class I) and a pH outside it meets no class (劣V), as public
  GB 3838 calculators do.
- DO class I is 7.5 mg/L; the standard's alternative "or 90 % saturation" is
  not applied (it needs temperature and salinity, and only ever helps).
- Total phosphorus has separate, stricter limits for lakes and reservoirs.
- The water class is the worst parameter's class; the determining parameters
  are all those at that class.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal, NoReturn

WaterBody = Literal["river", "lake"]

WORSE_THAN_V: Final = 6
CLASS_LABELS = MappingProxyType({1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "劣V"})

PH_RANGE = (6.0, 9.0)
DO_MINIMUM = (7.5, 6.0, 5.0, 3.0, 2.0)
"""Dissolved oxygen, mg/L, at least this for classes I..V."""
_DO_NEGATED: Final = tuple(-low for low in DO_MINIMUM)

MAXIMUM: Final[Mapping[str, tuple[float, ...]]] = MappingProxyType({
    "codmn": (2.0, 4.0, 6.0, 10.0, 15.0),
    "nh3_n": (0.15, 0.5, 1.0, 1.5, 2.0),
})
"""Items limited from above, mg/L, at most this for classes I..V (both water bodies)."""

TP_MAXIMUM: Final[Mapping[str, tuple[float, ...]]] = MappingProxyType({
    "river": (0.02, 0.1, 0.2, 0.3, 0.4),
    "lake": (0.01, 0.025, 0.05, 0.1, 0.2),
})
"""Total phosphorus (as P), mg/L, at most this for classes I..V."""

PARAMETERS = ("ph", "dissolved_oxygen", "codmn", "nh3_n", "tp")
"""The catalog metrics that enter the class, in GB 3838 Table 1 order."""
_LIMITS: Final = dict(MAXIMUM)  # plain dicts: compiled, a lookup without a call through the proxy
_TP_LIMITS: Final = dict(TP_MAXIMUM)


@dataclass(frozen=True, slots=True)
class WaterClassResult:
    """A water class (1-5, 6 for 劣V), the parameters that set it, and each one's class."""

    water_class: int
    determining: tuple[str, ...]
    classes: Mapping[str, int] = field(hash=False)
    water_body: WaterBody = "river"

    @property
    def label(self) -> str:
        """The class as written in GB 3838: "I" ... "V", or "劣V"."""
        return CLASS_LABELS[self.water_class]


def parameter_class(name: str, value: float, *, water_body: WaterBody = "river") -> int:
    """Return the GB 3838 class (1-5, or 6 for 劣V) that one parameter's value meets.

    Raises:
        ValueError: unknown parameter or water body, or a negative or non-finite value.
    """
    tp_limits = _TP_LIMITS.get(water_body)
    if tp_limits is None:
        _unknown_body(water_body)
    if not 0 <= value < math.inf:  # NaN fails this too
        raise ValueError(f"Value of {name!r} must be finite and >= 0, not {value!r}.")
    if name == "ph":
        return 1 if PH_RANGE[0] <= value <= PH_RANGE[1] else WORSE_THAN_V
    if name == "dissolved_oxygen":
        return _first_class(_DO_NEGATED, -value)  # the first minimum the value meets
    limits = tp_limits if name == "tp" else _LIMITS.get(name)
    if limits is None:
        raise ValueError(f"GB 3838 parameter {name!r} is not evaluated; "
                         f"known are {', '.join(PARAMETERS)}.")
    return _first_class(limits, value)


def _first_class(limits: tuple[float, ...], value: float) -> int:
    """Return the first class (1-5) whose limit `value` is at most, else 6.

    `bisect_left(limits, value) + 1`, as a loop: compiled, five comparisons of
    doubles instead of a generic call, which cost more than the rest of
    `parameter_class`.
    """
    found = 1
    for limit in limits:
        if value <= limit:
            break
        found += 1
    return found


def worst_class(values: Mapping[str, float], *, water_body: WaterBody = "river") -> int:
    """Return the class `water_class(values)` gives, without its details.

    The ingester's per-reading path. Raises ValueError as `water_class` does.
    """
    worst = 0
    for name in PARAMETERS:
        value = values.get(name)
        if value is not None:
            worst = max(worst, parameter_class(name, value, water_body=water_body))
    if not worst:
        _no_parameter(values)
    return worst


def _unknown_body(water_body: str) -> NoReturn:
    raise ValueError(f"Unknown water body {water_body!r}; use 'river' or 'lake'.")


def _no_parameter(values: Mapping[str, float]) -> NoReturn:
    raise ValueError(f"No GB 3838 parameter among {sorted(values)}; "
                     f"expected some of {', '.join(PARAMETERS)}.")


def water_class(values: Mapping[str, float], *,
                water_body: WaterBody = "river") -> WaterClassResult:
    """Return the GB 3838 class of one reading by its worst evaluated parameter.

    Keys other than `PARAMETERS` (temperature, turbidity...) are ignored.

    Raises:
        ValueError: no evaluated parameter in `values`, or a value `parameter_class` refuses.
    """
    present = [p for p in PARAMETERS if p in values]
    if not present:
        _no_parameter(values)
    classes = {p: parameter_class(p, values[p], water_body=water_body) for p in present}
    worst = max(classes.values())
    return WaterClassResult(water_class=worst,
                            determining=tuple(p for p, c in classes.items() if c == worst),
                            classes=MappingProxyType(classes), water_body=water_body)


def worse_than_target(result: WaterClassResult, target_class: int) -> bool:
    """Return whether `result` is worse than a functional target class (1-5)."""
    if target_class not in range(1, 6):
        raise ValueError(f"A GB 3838 target class is 1 to 5, not {target_class!r}.")
    return result.water_class > target_class
