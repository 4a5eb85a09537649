"""Compiles the ingester's per-reading modules with mypyc; all metadata is in pyproject.toml.

The modules (`ingest.compiled.MODULES`) run for every reading the ingester
takes: compiled to C extensions, `Pipeline.accept` costs about a third less CPU
and the ingester about a fifth less per reading (docs/performance.md). They
stay ordinary, typed Python: with URBANPULSE_PURE_PYTHON=1 in the environment
they are installed as they are, for a machine without a C compiler.
"""

import os
import runpy

from setuptools import setup

# Read by path: importing the package here would import its dependencies too.
MODULES = runpy.run_path("ingest/compiled.py")["MODULES"]
# pyproject's [tool.mypy] (strict, the pydantic plugin) is the lint step's; compiling
# needs only the types of these modules, so packages without stubs may stay Any.
FLAGS = ["--config-file=", "--ignore-missing-imports", "--follow-imports=silent"]

if os.environ.get("URBANPULSE_PURE_PYTHON") == "1":
    setup()
else:
    from mypyc.build import mypycify

    paths = [name.replace(".", "/") + ".py" for name in MODULES]
    setup(ext_modules=mypycify([*FLAGS, *paths], group_name="urbanpulse"))
