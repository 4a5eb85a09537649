"""Which per-reading modules run compiled by mypyc (setup.py builds them) and which as Python.

The same source runs either way; compiled, `Pipeline.accept` costs about a third
less CPU and the whole ingester about a fifth less per reading
(docs/performance.md). An editable install compiles next to
the sources, so a source edited afterwards would be shadowed by its older
compiled module: `stale()` finds those, and the tests refuse to run on them.

In these modules, constants read per reading are declared `Final`: compiled,
a `Final` name is a C static, any other module-level name a lookup in the
module's dict each time it is read. Not a tuple of literals, though: the
mypyc we build with leaves such a `Final` unset ("value for final name ...
was not set" when first read).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
"""The source tree: setup.py and the Makefile run this file by path, not as a module."""
_KIND_PARTS = ("derive.py", "checks.py")
"""The layer modules of a kind that run for every reading of it."""


def _kind_modules() -> tuple[str, ...]:
    paths = sorted(path for name in _KIND_PARTS
                   for path in _ROOT.glob(f"urbanpulse/kinds/*/{name}"))
    return tuple(".".join(path.relative_to(_ROOT).with_suffix("").parts) for path in paths)


MODULES = (
    "ingest.edge", "ingest.decode", "ingest.derive", "ingest.points", "ingest.pipeline",
    "ingest.lag", "ingest.rollups", "ingest.latest", "ingest.calibration",
    "ingest.alerts.engine", "ingest.alerts.conditions", "ingest.alerts.silence",
    "urbanpulse.lineprotocol", "urbanpulse.standards.air", "urbanpulse.standards.water",
    "urbanpulse.standards.noise", "urbanpulse.kinds.alerting", *_kind_modules(),
)
"""Every module setup.py compiles: a reading's path from its packet through `Pipeline.accept`.

The built-in kinds' `derive.py` and `checks.py` are found by a glob over the
source tree, so a kind added there is compiled without a change here; the
base class of their checks, `urbanpulse.kinds.alerting`, is compiled with them
(a compiled class may only extend one compiled in the same group).
"""


def _origin(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ImportError(f"module {name} not found")
    return Path(spec.origin)


def interpreted() -> list[str]:
    """Return the modules of MODULES that import as Python source, not compiled."""
    return [name for name in MODULES if _origin(name).suffix == ".py"]


def stale() -> list[str]:
    """Return the compiled modules whose Python source beside them is newer than they are."""
    found = []
    for name in MODULES:
        origin = _origin(name)
        source = origin.parent / f"{name.rpartition('.')[2]}.py"
        if origin.suffix != ".py" and source.exists() and \
                source.stat().st_mtime > origin.stat().st_mtime:
            found.append(name)
    return found
