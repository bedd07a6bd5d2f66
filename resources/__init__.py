"""Files the programs ship with (caller page, desk icon and ring, fonts), read as package data.

Read them through :func:`file` or :func:`path` (importlib.resources), never through a path
relative to the source tree: an installed wheel has no source tree.
"""

from __future__ import annotations

import atexit
import contextlib
from functools import cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

_KEPT = contextlib.ExitStack()
atexit.register(_KEPT.close)


def file(*parts: str) -> Traversable:
    """One shipped file (or folder), e.g. ``file("desk", "ring.wav")``."""
    return resources.files(__name__).joinpath(*parts)


@cache
def path(*parts: str) -> Path:
    """The same as a path on disk, for what needs one (Qt's file URLs, FileResponse).

    An installed wheel and a checkout are real folders, so this is the file itself; from a
    zip it would be a copy kept until the program exits.
    """
    return _KEPT.enter_context(resources.as_file(file(*parts)))
