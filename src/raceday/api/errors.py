"""One error shape for every failure: `{"error": ..., "details": ...}` with 400, 404, 405, 500 or 503.

Each error is logged once with its endpoint and parameters. Outside development the body never carries a
stack trace or an exception's text; in development a `stack` field is added for the developer.
"""

from __future__ import annotations

import traceback
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from raceday.api.schemas.common import ErrorBody
from raceday.core.config import Environment
from raceday.core.log import get_logger

log = get_logger(__name__)

# The title of a validation error by where the bad value was. The user-alert-configs POST is the only
# endpoint with a body, and the client knows its error by this title (domain §7.3).
_VALIDATION_TITLES = {
    "query": "Invalid query parameter",
    "path": "Invalid path parameter",
    "body": "Invalid indicator payload",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A parameter is missing or invalid"},
    500: {"model": ErrorBody, "description": "Unexpected server fault (logged)"},
    503: {"model": ErrorBody, "description": "The database is unavailable"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such id"}}


class PayloadTooLarge(StarletteHTTPException):
    """A request body over the limit, found while it streams in (no Content-Length to refuse it by).

    An HTTPException, so FastAPI's body reader passes it on instead of calling it a parse error.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request bodies are limited to {limit} bytes")
        self.limit = limit


class ApiError(Exception):
    """A 4xx answer raised by a route: status, title and the exact reason."""

    def __init__(self, status_code: int, error: str, details: str) -> None:
        super().__init__(f"{error}: {details}")
        self.status_code = status_code
        self.error = error
        self.details = details


def not_found(what: str, identifier: str) -> ApiError:
    return ApiError(404, f"{what} not found", f"No {what.lower()} with id {identifier!r}")


def _endpoint(scope: Scope) -> str:
    return f"{scope.get('method', '')} {scope.get('path', '')}"


def _parameters(request: Request) -> dict[str, str]:
    return {**request.path_params, **request.query_params}


def error_response(request: Request, status_code: int, error: str, details: str) -> JSONResponse:
    """The error body for a 4xx, logged as a warning with the endpoint and its parameters."""
    log.warning(
        "request rejected",
        status=status_code,
        endpoint=_endpoint(request.scope),
        params=_parameters(request),
        error=error,
        details=details,
    )
    return JSONResponse({"error": error, "details": details}, status_code=status_code)


def too_large(request: Request, limit: int) -> JSONResponse:
    return error_response(request, 413, "Payload too large", f"Request bodies are limited to {limit} bytes")


def _field_name(location: tuple[int | str, ...]) -> str:
    source, *rest = location
    if source in ("query", "path", "header") and rest:
        return str(rest[-1])
    return ".".join(str(part) for part in location)


def _describe(errors: list[Any]) -> tuple[str, str]:
    sources = [str(e["loc"][0]) for e in errors if e.get("loc")]
    title = _VALIDATION_TITLES.get(sources[0] if sources else "query", "Invalid request")
    parts = []
    for item in errors:
        name = _field_name(tuple(item.get("loc", ("request",))))
        if item.get("type") == "missing":
            parts.append(f"{name} is required")
        else:
            parts.append(f"{name}: {item.get('msg', 'invalid value')}")
    return title, "; ".join(parts)


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(request, exc.status_code, exc.error, exc.details)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    title, details = _describe(list(exc.errors()))
    return error_response(request, 400, title, details)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        details = f"No endpoint {request.method} {request.url.path}"
        response = error_response(request, 404, "Not found", details)
    elif isinstance(exc, PayloadTooLarge):
        response = too_large(request, exc.limit)
    elif exc.status_code == 405:
        response = error_response(request, 405, "Method not allowed", f"{request.method} is not allowed here")
    else:
        response = error_response(request, exc.status_code, str(exc.detail), str(exc.detail))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def install_error_handlers(app: FastAPI) -> None:
    """4xx handlers; 5xx are answered by ServerFaultMiddleware, inside the header middlewares."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)


class ServerFaultMiddleware:
    """Answers an exception no handler took: 503 for the database being unreachable, else 500.

    It sits inside the CORS, security-header and gzip middlewares, so a 5xx carries the same headers as
    every other response (Starlette's own 500 handler runs outside all of them).
    """

    def __init__(self, app: ASGIApp, environment: Environment) -> None:
        self.app = app
        self.development = environment is Environment.DEVELOPMENT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except PayloadTooLarge as exc:
            if started:
                raise
            await too_large(Request(scope), exc.limit)(scope, receive, send)
        except Exception as exc:
            if started:
                raise
            response = self._answer(Request(scope), exc)
            await response(scope, receive, send)

    def _answer(self, request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, PoolTimeout | psycopg.OperationalError):
            status_code, error = 503, "Database unavailable"
            details = "The database did not answer; try again shortly"
        else:
            status_code, error = 500, "Internal server error"
            details = "An unexpected error occurred; it has been logged"
        log.error(
            "request failed",
            status=status_code,
            error=error,
            endpoint=_endpoint(request.scope),
            params=_parameters(request),
            exc_info=exc,
        )
        body: dict[str, Any] = {"error": error, "details": details}
        if self.development:
            body["details"] = f"{type(exc).__name__}: {exc}"
            body["stack"] = "".join(traceback.format_exception(exc))
        return JSONResponse(body, status_code=status_code)
