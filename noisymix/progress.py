"""When long verbs show progress bars: one rule for train, corrupt, perturb and eval."""

from __future__ import annotations

import os
import sys


def show_progress(flag: bool | None) -> bool:
    """``flag`` if given (--progress/--no-progress), else: on a terminal, and not in CI."""
    if flag is not None:
        return flag
    return sys.stderr.isatty() and not os.environ.get("CI")
