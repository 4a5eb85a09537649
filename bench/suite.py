"""`make bench`: run every benchmark script here and print one JSON document.

Each script prints one JSON document of its own; this collects them under
their file names with the machine they ran on. Scripts run one after another,
so they do not compete for the two cores.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from ingest.compiled import interpreted

HERE = Path(__file__).resolve().parent


def main() -> int:
    """Run the benchmarks; exit non-zero if one failed."""
    results: dict[str, object] = {}
    failed = False
    load = [round(value, 2) for value in os.getloadavg()]  # other work on the two cores
    for script in sorted(HERE.glob("*.py")):
        if script.name == Path(__file__).name:
            continue
        started = time.monotonic()
        run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             check=False)
        if run.returncode != 0:
            failed = True
            results[script.stem] = {"error": run.stderr.strip().splitlines()[-5:]}
        else:
            results[script.stem] = json.loads(run.stdout)
        print(f"{script.name}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(json.dumps({"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                  "system": platform.platform(),
                                  "load_average_at_start": load},
                      "ingester_modules_run_as_python": interpreted(),
                      "benchmarks": results}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
