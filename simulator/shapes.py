"""Shapes of the simulator's YAML files, checked before any field is read.

A shape is `Text`, `Number`, `Whole`, `Timestamp`, `Nothing`, `Fields(...)` (a mapping with
named fields), `Table(shape)` (a mapping of free keys to one shape), `Items(shape)`
(a list) or `Pair` (`[low, high]`), or a tuple of shapes of which one must fit.
`check` walks the parsed data and raises a ConfigError naming the file, the line
and what stands there instead, so a list where a mapping belongs, or a number
where a name belongs, never surfaces as a Python error from deep inside a loader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from urbanpulse.errors import ConfigError

Where = Callable[..., str]
"""`Source.where`: `FILE, line N` of the value at some keys."""


@dataclass(frozen=True, slots=True)
class Scalar:
    """A scalar of given Python types, named for the messages."""

    name: str
    types: tuple[type, ...]


Text = Scalar("a name or text", (str,))
Number = Scalar("a number", (int, float))
Whole = Scalar("a whole number", (int,))
Timestamp = Scalar("a time", (date,))
Nothing = Scalar("nothing", (type(None),))


@dataclass(frozen=True, slots=True)
class Fields:
    """A mapping of the named fields and no others: those in `required` must be given."""

    fields: dict[str, Shape]
    required: frozenset[str] = field(default_factory=frozenset)
    name: str = "a mapping of fields"


@dataclass(frozen=True, slots=True)
class Table:
    """A mapping of free keys (names, numbers) to values of one shape."""

    values: Shape
    name: str = "a mapping"


@dataclass(frozen=True, slots=True)
class Items:
    """A list of values of one shape; `length` fixes how many."""

    values: Shape
    length: int | None = None
    name: str = "a list"


Pair = Items(Number, length=2, name="a [low, high] pair")
Shape = Scalar | Fields | Table | Items | tuple["Shape", ...]


def describe(value: Any) -> str:
    """Return what a parsed YAML value is, for a message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    text = str(value)
    return f"the text {text if len(text) <= 40 else text[:37] + '...'!r}"


def _name(shape: Shape) -> str:
    if isinstance(shape, tuple):
        return " or ".join(_name(one) for one in shape)
    return shape.name


def _fits(value: Any, shape: Shape) -> bool:
    if isinstance(shape, tuple):
        return any(_fits(value, one) for one in shape)
    if isinstance(shape, Scalar):
        return isinstance(value, shape.types) and not isinstance(value, bool)
    if isinstance(shape, (Fields, Table)):
        return isinstance(value, dict)
    return isinstance(value, list) and shape.length in (None, len(value))


def check(value: Any, shape: Shape, where: Where, what: str, *keys: str | int) -> None:
    """Raise ConfigError when `value` (at `keys` of the file) does not have `shape`."""
    if isinstance(shape, tuple):
        fitting = [one for one in shape if _fits(value, one)]
        if not fitting:
            _refuse(value, shape, where, what, keys)
        check(value, fitting[0], where, what, *keys)
        return
    if not _fits(value, shape):
        _refuse(value, shape, where, what, keys)
    if isinstance(shape, Fields):
        for name, item in value.items():
            if str(name) not in shape.fields:
                raise ConfigError(f"{where(*keys, str(name))}: unknown field {str(name)!r} "
                                  f"in {_label(what, keys)}; it may give "
                                  f"{', '.join(shape.fields)}.")
            check(item, shape.fields[str(name)], where, what, *keys, str(name))
        for name in sorted(shape.required - value.keys()):
            raise ConfigError(f"{where(*keys)}: {_label(what, keys)} misses the field "
                              f"{name!r}.")
    elif isinstance(shape, Table):
        for name, item in value.items():
            check(item, shape.values, where, what, *keys, str(name))
    elif isinstance(shape, Items):
        for index, item in enumerate(value):
            check(item, shape.values, where, what, *keys, index)


def _label(what: str, keys: tuple[str | int, ...]) -> str:
    path = "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in keys)
    return f"{what} {path.lstrip('.')}" if keys else what


def _refuse(value: Any, shape: Shape, where: Where, what: str,
            keys: tuple[str | int, ...]) -> None:
    raise ConfigError(f"{where(*keys)}: {_label(what, keys)} must be {_name(shape)}, "
                      f"not {describe(value)}.")
