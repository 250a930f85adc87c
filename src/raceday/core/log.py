"""JSON-lines logging, pino-shaped: `level`, `time`, `env`, `msg`, then the call's fields.

structlog renders our own events; the standard library's loggers (uvicorn, psycopg, httpx) are routed
through the same processors, so every line on stdout has one shape.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import stamina.instrumentation
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


def _pino_level(_: WrappedLogger, method: str, event: EventDict) -> EventDict:
    level = str(event.pop("level", method)).lower()
    event["level"] = {"warning": "warn", "exception": "error", "critical": "fatal"}.get(level, level)
    return event


def _add_env(env: str) -> Processor:
    def add(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event["env"] = env
        return event

    return add


def _rename_event(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    event["msg"] = event.pop("event", "")
    event.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate of msg
    return event


def _order(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    head: EventDict = {key: event.pop(key) for key in ("level", "time", "env", "msg") if key in event}
    head.update(event)
    return head


def configure_logging(level: str = "info", env: str = "development", stream: TextIO | None = None) -> None:
    """Route structlog and the standard library to one JSON stream (stdout by default)."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        _pino_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        _add_env(env),
        structlog.stdlib.ExtraAdder(),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _rename_event,
            _order,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    # The NZ TAB client logs every attempt itself; stamina's own retry lines would repeat them.
    stamina.instrumentation.set_on_retry_hooks([])
    # httpx logs every request at info; the client's own lines carry what matters.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, _LEVELS[level]))
    # procrastinate logs every job's defer, start and end at info: the poll's own line says what matters.
    logging.getLogger("procrastinate").setLevel(max(logging.WARNING, _LEVELS[level]))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        library_logger = logging.getLogger(name)
        library_logger.handlers.clear()
        library_logger.propagate = True


def get_logger(name: str | None = None, **context: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**context) if context else logger
