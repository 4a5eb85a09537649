"""docs/adding-a-kind.md, followed literally: its files make a kind that passes the battery.

The guide's code blocks titled with a path are written out as the
`urbanpulse-bins` distribution; its entry point is installed as pip would
record it (a `.dist-info` with the `entry_points.txt` its pyproject declares,
on the processes' path); the shanghai profile gets the guide's bins and loses
every other kind; then the contract battery runs on the new kind through the
real pipeline, and `urbanpulse kinds` lists it.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ops import stack
from simulator.profile import shipped_path
from tests.kinds.battery import (
    BatteryRun,
    empty_dashboard_queries,
    has_content,
    run_battery,
    summary_section,
    unfired_rules,
)
from urbanpulse.kinds import KINDS, SensorKind, register_module, unregister

pytestmark = pytest.mark.services

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "adding-a-kind.md"
BLOCK = re.compile(r'^```\w+ title="([^"]+)"\n(.*?)^```$', re.MULTILINE | re.DOTALL)
KIND = "waste-bin"


def write_guide_files(into: Path) -> dict[str, Path]:
    """Write every titled code block of the guide under `into`; return them by title."""
    written = {}
    for title, body in BLOCK.findall(GUIDE.read_text(encoding="utf-8")):
        path = into / title
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        written[title] = path
    return written


def install_entry_points(project: Path, site: Path) -> None:
    """Record the project's distribution and entry points in `site`, as an install does."""
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    info = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\n"
                                   f"Version: {meta['version']}\n", encoding="utf-8")
    groups = "".join(f"[{group}]\n" + "".join(f"{name} = {value}\n"
                                                for name, value in points.items())
                     for group, points in meta["entry-points"].items())
    (info / "entry_points.txt").write_text(groups, encoding="utf-8")


def city_with_bins(into: Path) -> Path:
    """Return a copy of the shanghai profile that places only the guide's bins."""
    source = shipped_path("cities", "shanghai")
    assert source is not None
    profile = yaml.safe_load(source.read_text(encoding="utf-8"))
    for district in profile["districts"]:
        district["counts"] = {KIND: 10}
    path = into / "bins-city.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False, allow_unicode=True),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SensorKind, str]]:
    """The guide's kind, installed for child processes and registered in this one."""
    folder = tmp_path_factory.mktemp("guide")
    files = write_guide_files(folder / "src")
    assert {"urbanpulse-bins/pyproject.toml", "urbanpulse-bins/urbanpulse_bins/__init__.py",
            "urbanpulse-bins/urbanpulse_bins/rules.yaml"} <= set(files)
    project = folder / "src" / "urbanpulse-bins"
    install_entry_points(project, folder / "site")
    path = os.pathsep.join([str(folder / "site"), str(project)])
    sys.path[:0] = [str(folder / "site"), str(project)]
    importlib.invalidate_caches()
    try:
        yield register_module("urbanpulse_bins"), path
    finally:
        unregister(KIND)
        for name in [name for name in sys.modules if name.startswith("urbanpulse_bins")]:
            del sys.modules[name]
        sys.path[:2] = []


@pytest.fixture(scope="module")
def run(installed: tuple[SensorKind, str], mosquitto: stack.Server, influxd: stack.Server,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatteryRun]:
    kind, path = installed
    folder = tmp_path_factory.mktemp("guide-run")
    yield from run_battery(mosquitto=mosquitto, influxd=influxd, folder=folder,
                           city=str(city_with_bins(folder)), scale=1.0, kinds=[kind],
                           env={"PYTHONPATH": path})


def test_the_installed_entry_point_registers_the_kind(installed: tuple[SensorKind, str]
                                                      ) -> None:
    _, path = installed
    listed = subprocess.run([sys.executable, "-m", "ops", "kinds"], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": path}, timeout=60,
                            check=False)
    assert listed.returncode == 0, listed.stderr
    assert KIND in listed.stdout
    assert "missed-collection" in listed.stdout
    assert KINDS[KIND].package == "urbanpulse_bins"


def test_its_readings_and_derived_fields_land(installed: tuple[SensorKind, str],
                                               run: BatteryRun) -> None:
    kind, _ = installed
    assert run.count(KIND, "seq") > 100
    assert all(run.count(KIND, name) > 0 for name in kind.derived)


def test_its_default_rules_fire_on_injected_truth(installed: tuple[SensorKind, str],
                                                  run: BatteryRun) -> None:
    kind, _ = installed
    assert {truth.type for truth in run.truths} >= {"missed-collection", "offline"}
    assert not unfired_rules(run, kind)


async def test_its_summary_section_holds_something(installed: tuple[SensorKind, str],
                                                   run: BatteryRun) -> None:
    kind, _ = installed
    section = await summary_section(run, kind)
    assert has_content(section), section


def test_its_dashboard_queries_return_rows(installed: tuple[SensorKind, str],
                                           run: BatteryRun) -> None:
    kind, _ = installed
    assert not empty_dashboard_queries(run, kind)
