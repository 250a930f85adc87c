"""Where the real NZ TAB samples lie: `../shared/nztab/` beside the checkout (CI lays it there too)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("RACEDAY_SHARED_DIR", REPO_ROOT.parent / "shared"))
NZTAB_DIR = SHARED_DIR / "nztab"


def sample_path(name: str) -> Path:
    """The sample's path, or a skip saying where it was looked for."""
    path = NZTAB_DIR / name
    if not path.exists():
        pytest.skip(f"real NZ TAB sample {name} not found in {NZTAB_DIR} (set RACEDAY_SHARED_DIR)")
    return path


def load_sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(sample_path(name).read_text("utf-8"))
    return data
