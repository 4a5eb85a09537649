"""The built wheel holds every data file the packages read at run time.

An editable install reads them from the tree, so only a real wheel (what the
image installs) shows a file left out of `[tool.setuptools.package-data]`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("urbanpulse", "simulator", "ingest", "api")


def _clean_copy(target: Path) -> Path:
    """Copy the files git tracks: a tree's egg-info from an editable install would add its own."""
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def test_the_wheel_holds_every_data_file(tmp_path: Path) -> None:
    source = _clean_copy(tmp_path / "source")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
         str(tmp_path), str(source)],
        env={**os.environ, "URBANPULSE_PURE_PYTHON": "1"},  # the files, not the compile
        capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("urbanpulse-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    data = {path.relative_to(ROOT).as_posix()
            for package in PACKAGES for path in (ROOT / package).rglob("*")
            if path.is_file() and path.suffix in (".yaml", ".typed", ".json")}
    assert "ingest/alerts/default_rules.yaml" in data
    assert data - inside == set()
