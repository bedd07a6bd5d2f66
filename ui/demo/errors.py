"""The one kind of trouble the demo reports as a line of plain words (not a traceback)."""

from __future__ import annotations


class DemoError(Exception):
    """Known trouble from the environment; the message says what happened and what to do."""
