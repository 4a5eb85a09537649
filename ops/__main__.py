"""`python -m ops` runs the `urbanpulse` command line."""

import sys

from ops.cli import main

sys.exit(main())
