"""The built wheel holds every data file the packages read at run time.

An editable install reads them from the tree, so only a real wheel (what the
image installs) shows a file left out of `[tool.setuptools.package-data]`.
"""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from urbanpulse.kinds import KINDS

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("urbanpulse", "simulator", "ingest", "api", "ops")


def _clean_copy(target: Path) -> Path:
    """Copy the files git tracks or would: a tree's egg-info from an editable install (which
    .gitignore leaves out) would add its own."""
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def _wheel(tmp_path: Path) -> Path:
    source = _clean_copy(tmp_path / "source")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
         str(tmp_path), str(source)],
        env={**os.environ, "URBANPULSE_PURE_PYTHON": "1"},  # the files, not the compile
        capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("urbanpulse-*.whl")
    return wheel


def test_the_wheel_holds_every_data_file_and_the_command(tmp_path: Path) -> None:
    wheel = zipfile.ZipFile(_wheel(tmp_path))
    inside = set(wheel.namelist())
    data = {path.relative_to(ROOT).as_posix()
            for package in PACKAGES for path in (ROOT / package).rglob("*")
            if path.is_file() and path.suffix in (".yaml", ".typed", ".json")}
    assert "urbanpulse/py.typed" in data
    assert data - inside == set()
    (entry_points,) = [name for name in inside if name.endswith(".dist-info/entry_points.txt")]
    scripts = configparser.ConfigParser()
    scripts.read_string(wheel.read(entry_points).decode())
    assert dict(scripts["console_scripts"]) == {"urbanpulse": "ops.cli:main"}
    assert {"ops/cli.py", "ops/__main__.py", "ops/doctor/checks.py"} <= inside


SERVICES_AND_NETWORK = {"simulator", "ingest", "api", "grafana", "ops", "httpx", "gmqtt",
                        "socket", "urllib", "subprocess", "niquests", "grafana_client", "paho",
                        "fastapi", "uvicorn"}
"""Top-level modules the contract must not import: a service, or a client of the network.

(asyncio may be: a kind's summary gathers its queries through the `Queries` protocol.)"""


def test_the_contract_imports_no_service_and_does_no_network_io() -> None:
    found = []
    for path in sorted((ROOT / "urbanpulse").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            found += [f"{path.relative_to(ROOT)}: {name}" for name in names
                      if name.split(".")[0] in SERVICES_AND_NETWORK]
    assert found == []


PRODUCTION = ("urbanpulse", "simulator", "ingest", "api", "grafana", "ops")
"""The packages of production code; a kind's own folder may name it."""


def test_no_production_module_outside_the_kinds_names_a_kind() -> None:
    """Every layer iterates over the registry: a kind named as a string literal elsewhere
    (`"noise"`) is knowledge of that kind outside its folder."""
    names = set(KINDS)
    kinds_folder = ROOT / "urbanpulse" / "kinds"
    found = []
    for package in PRODUCTION:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.is_relative_to(kinds_folder):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in names:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert found == []
