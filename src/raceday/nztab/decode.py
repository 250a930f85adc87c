"""NZ TAB errors, and the one step that turns a response body into a validated model or a clear error.

Pure (no HTTP, no settings): the transform runs it inside worker processes, the client after each fetch.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError

from raceday.nztab.models import Envelope

M = TypeVar("M", bound=Envelope[Any])


class NzTabError(Exception):
    """Any failed NZ TAB call; `endpoint` is events, meetings, meeting or list."""

    def __init__(self, message: str, *, endpoint: str, race_id: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.race_id = race_id


class NzTabUnavailable(NzTabError):
    """No usable response: retries ran out, or the API refused the request outright.

    `status` is the last HTTP status (None for a timeout or connection failure); `retry_after` is
    the server's Retry-After when it asked for a longer pause than the client waits in-process.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        race_id: str | None = None,
        status: int | None = None,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, race_id=race_id)
        self.status = status
        self.attempts = attempts
        self.retry_after = retry_after


class NzTabPayloadError(NzTabError):
    """The body is not JSON or does not match the models; `path` names the offending field."""

    def __init__(self, message: str, *, endpoint: str, race_id: str | None = None, path: str) -> None:
        super().__init__(message, endpoint=endpoint, race_id=race_id)
        self.path = path


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _payload_error(exc: ValidationError, *, endpoint: str, race_id: str | None) -> NzTabPayloadError:
    """One line naming the first offending field, e.g. `data.race.status: field required`."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        path, reason = "body", f"not valid JSON ({first['msg'].removeprefix('Invalid JSON: ')})"
    else:
        path = _field_path(first["loc"])
        reason = first["msg"].removeprefix("Value error, ")
        reason = reason[:1].lower() + reason[1:]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return NzTabPayloadError(f"{path}: {reason}{more}", endpoint=endpoint, race_id=race_id, path=path)


def decode_response(model: type[M], content: bytes | str, *, endpoint: str, race_id: str | None = None) -> M:
    """Validate a response body into `model` in one step, or raise `NzTabPayloadError`."""
    try:
        return model.model_validate_json(content)
    except ValidationError as exc:
        raise _payload_error(exc, endpoint=endpoint, race_id=race_id) from None
