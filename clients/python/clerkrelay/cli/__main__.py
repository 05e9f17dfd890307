"""`python -m clerkrelay.cli`: the `clerk-relay` command line."""

import sys

from clerkrelay.cli.main import main

sys.exit(main())
