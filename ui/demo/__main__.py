"""Allows `python -m ui.demo` as well as `telehub-demo`."""

import sys

from ui.demo.app import main

sys.exit(main())
