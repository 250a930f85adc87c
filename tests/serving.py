"""The app as `raceday run` serves it: a runtime, the app over it on a real uvicorn server, a client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from raceday.api.app import create_app
from raceday.core.config import load_settings
from raceday.core.http_server import serve_in_background
from raceday.runtime import Runtime, open_runtime


@dataclass
class Api:
    runtime: Runtime
    app: FastAPI
    client: httpx.AsyncClient
    base_url: str


@contextlib.asynccontextmanager
async def running(url: str, /, **overrides: Any) -> AsyncIterator[Api]:
    """Serve the database at `url` (NODE_ENV=test unless overridden) until the block ends."""
    settings = load_settings(**{"node_env": "test", **overrides})
    async with open_runtime(settings, url) as runtime:
        app = create_app(runtime)
        async with (
            serve_in_background(app) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=10) as client,
        ):
            yield Api(runtime, app, client, base_url)
