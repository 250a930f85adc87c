"""A real browser (Debian's Chromium, driven by Playwright) and a simulated race day to point it at.

Chromium is never downloaded: Playwright launches the system binary (RACEDAY_CHROMIUM, else `chromium` on
the PATH). Without one the browser tests fail, saying how to install it: a check that cannot run is
not a check that passed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import async_playwright

from raceday.db.embedded import EmbeddedPostgres
from tests.web.simday import Day, first_suitable_seed, simulated_day

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Chromium's own background connections are refused on a closed network and slow its start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    "Chromium not found: the browser tests need Debian's `chromium` (`sudo apt-get install -y chromium`; "
    ".ci/run installs it) or RACEDAY_CHROMIUM=/path/to/chrome. Playwright never downloads a browser here."
)


def chromium_path() -> str | None:
    configured = os.environ.get("RACEDAY_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.fail(INSTALL_HINT)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def day(pg_server: EmbeddedPostgres) -> AsyncIterator[Day]:
    """The simulated day at its anchor; the tests move its clock forward, never back."""
    async with simulated_day(pg_server, first_suitable_seed()) as started:
        yield started
