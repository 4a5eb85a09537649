"""Write the dashboard JSON files, or with --check fail when one differs from the builder's.

Run from the repository root: `python -m grafana.builder [--check]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from grafana.builder.fleet import fleet
from grafana.builder.incidents import incidents
from grafana.builder.kinds import kind_dashboards
from grafana.builder.operations import alerts, pipeline
from grafana.builder.overview import city_overview
from grafana.builder.systems import system_dashboards
from urbanpulse.kinds.panels import Json

FOLDER = Path(__file__).resolve().parent.parent / "dashboards"


def builders() -> dict[str, Callable[[], Json]]:
    """Return each dashboard file's name (without .json) and its builder: one per kind, one
    per system, and the city's own (overview, fleet, alerts, pipeline, incidents)."""
    return {"city-overview": city_overview, **kind_dashboards(), **system_dashboards(),
            "fleet": fleet, "alerts": alerts, "pipeline": pipeline, "incidents": incidents}


def render(build: Callable[[], Json]) -> str:
    """Return a dashboard as the JSON text stored in the repository."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write every dashboard (or check them) and return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m grafana.builder", description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 when a file is missing or differs")
    args = parser.parse_args(argv)
    stale = []
    wanted_files = builders()
    for name, build in wanted_files.items():
        path = FOLDER / f"{name}.json"
        wanted = render(build)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == wanted:
            continue
        if args.check:
            stale.append(path.name)
        else:
            path.write_text(wanted, encoding="utf-8")
            print(f"wrote {path}")
    extra = sorted(p.name for p in FOLDER.glob("*.json") if p.stem not in wanted_files)
    if stale or extra:
        print(f"Dashboards out of date: {', '.join(stale) or 'none'}; not built here: "
              f"{', '.join(extra) or 'none'}. Run `python -m grafana.builder`.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
