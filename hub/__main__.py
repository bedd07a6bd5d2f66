"""Allows `python -m hub` as well as `telehub-hub`."""

import sys

from hub.cli import main

sys.exit(main())
