"""Tasks for worker-pool tests; module-level so a spawned worker process can import them."""

from __future__ import annotations

import os
import time
from pathlib import Path


def crash_once(marker: str, value: int) -> int:
    """Kills its worker the first time (no marker yet), then returns `value`."""
    path = Path(marker)
    if not path.exists():
        path.write_text("crashed")
        os._exit(1)
    return value * 2


def always_crash() -> int:
    os._exit(1)


def pid() -> int:
    return os.getpid()


def sleep(seconds: float) -> float:
    """Keeps its worker busy for `seconds`."""
    time.sleep(seconds)
    return seconds
