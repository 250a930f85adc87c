"""Every request and response: bodies bounded before they are read, helmet's headers, and a flag when the
data comes from the simulator."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from raceday.api.errors import PayloadTooLarge, too_large

SIMULATED_HEADER = "X-Raceday-Simulated"

# helmet 8's defaults (Express), header for header. X-Powered-By is never sent by uvicorn or Starlette.
_CSP = (
    "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';"
    "frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';"
    "script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests"
)
# Swagger UI at /docs is one inline script plus assets from jsDelivr and FastAPI's favicon.
_DOCS_CSP = (
    "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';"
    "frame-ancestors 'self';img-src 'self' data: https://fastapi.tiangolo.com;object-src 'none';"
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net;script-src-attr 'none';"
    "style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests"
)
SECURITY_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Origin-Agent-Cluster": "?1",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-DNS-Prefetch-Control": "off",
    "X-Download-Options": "noopen",
    "X-Frame-Options": "SAMEORIGIN",
    "X-Permitted-Cross-Domain-Policies": "none",
    "X-XSS-Protection": "0",
}
# The dashboard may be opened over plain http on a LAN address: upgrading its API calls to https
# there would break it (its script still comes from 'self' only).
_DASHBOARD_CSP = _CSP.removesuffix(";upgrade-insecure-requests")
PAGE_CSP = {"/docs": _DOCS_CSP, "/docs/oauth2-redirect": _DOCS_CSP, "/": _DASHBOARD_CSP}
# Encoded once: no route sets these, so they are appended as they are, not looked up and replaced.
_RAW_SECURITY = [
    (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items()
]
_RAW_CSP = {path: [(b"content-security-policy", csp.encode("latin-1"))] for path, csp in PAGE_CSP.items()}
_RAW_DEFAULT_CSP = [(b"content-security-policy", _CSP.encode("latin-1"))]
_RAW_SIMULATED = [(SIMULATED_HEADER.lower().encode("latin-1"), b"true")]


class BodyLimitMiddleware:
    """Refuses a body over `limit` bytes before it is read into memory: at once by its Content-Length,
    or as soon as a streamed body passes the limit (the route then never sees it)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await too_large(Request(scope), self.limit)(scope, receive, send)
            return
        received = 0

        async def bounded() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise PayloadTooLarge(self.limit)
            return message

        await self.app(scope, bounded, send)


class ResponseHeadersMiddleware:
    """Adds the security headers, and X-Raceday-Simulated: true while the runtime serves simulated data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = _RAW_CSP.get(scope["path"], _RAW_DEFAULT_CSP) + _RAW_SECURITY
        runtime = getattr(scope["app"].state, "runtime", None)
        if runtime is not None and runtime.simulated:
            added += _RAW_SIMULATED

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        await self.app(scope, receive, with_headers)
