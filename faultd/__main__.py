"""`python -m faultd` runs the command line."""

import sys

from faultd.cli import main

sys.exit(main())
