"""The real NZ TAB samples, trimmed, in `tests/fixtures/nztab/` (see the README there for what was cut)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NZTAB_DIR = Path(__file__).resolve().parent / "fixtures" / "nztab"


def sample_path(name: str) -> Path:
    """The sample's path; a missing sample is an error, never a skip."""
    path = NZTAB_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"real NZ TAB sample {name} is missing from {NZTAB_DIR}")
    return path


def load_sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(sample_path(name).read_text("utf-8"))
    return data
