"""The `launch` fixture: `raceday run`s that never outlive their test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability.service import Service


@pytest.fixture
def launch(pg_base_dir: Path, tmp_path: Path) -> Iterator[Callable[[], Service]]:
    """Start `raceday run`s; any still running when the test ends (it failed) is killed, not left behind."""
    started: list[Service] = []

    def start() -> Service:
        started.append(Service(pg_base_dir, tmp_path))
        return started[-1]

    yield start
    for service in started:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait()
