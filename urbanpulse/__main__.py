"""`python -m urbanpulse` runs the command line."""

import sys

from urbanpulse.cli import main

sys.exit(main())
