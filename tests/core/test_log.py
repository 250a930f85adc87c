"""Log lines are pino-shaped JSON: level, ISO time, env, msg, then the call's own fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from raceday.core.log import configure_logging, get_logger


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("info", "production", stream=buffer)
    yield buffer
    configure_logging("info", "test")


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_structlog_event_has_the_pino_shape(stream: io.StringIO) -> None:
    get_logger("raceday.test").info("Race processed", raceId="NZ-AUK-20251005-R1", duration=1200)
    [line] = _lines(stream)
    assert list(line)[:4] == ["level", "time", "env", "msg"]
    assert line["level"] == "info"
    assert line["env"] == "production"
    assert line["msg"] == "Race processed"
    assert line["raceId"] == "NZ-AUK-20251005-R1"
    assert line["duration"] == 1200
    assert datetime.fromisoformat(line["time"]).utcoffset() is not None


def test_levels_use_pinos_names(stream: io.StringIO) -> None:
    log = get_logger("raceday.test")
    log.warning("Slow processing detected", raceId="R2", duration=18000)
    log.error("Processing failed", raceId="R3")
    assert [line["level"] for line in _lines(stream)] == ["warn", "error"]


def test_exceptions_are_rendered_inside_the_json_line(stream: io.StringIO) -> None:
    try:
        raise ValueError("bad payload")
    except ValueError:
        get_logger("raceday.test").exception("Processing failed", raceId="R3")
    [line] = _lines(stream)
    assert line["level"] == "error"
    assert "ValueError: bad payload" in line["exception"]


def test_standard_library_loggers_share_the_format(stream: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    logging.getLogger("psycopg.pool").warning("connection lost")
    first, second = _lines(stream)
    assert (first["level"], first["msg"], first["env"]) == (
        "info",
        "Started server process [42]",
        "production",
    )
    assert (second["level"], second["msg"]) == ("warn", "connection lost")


def test_level_filters_below_the_configured_one() -> None:
    buffer = io.StringIO()
    configure_logging("warn", "test", stream=buffer)
    try:
        log = get_logger("raceday.test")
        log.debug("hidden")
        log.info("hidden too")
        logging.getLogger("uvicorn.error").info("hidden as well")
        log.warning("shown")
    finally:
        configure_logging("info", "test")
    assert [line["msg"] for line in _lines(buffer)] == ["shown"]
