"""A race's hot answers (`/api/entrants`, `/api/race-pools`, `/api/money-flow-timeline`) kept in memory.

Never stale: every poll's transaction bumps its race's `race_versions.version` with its data, atomically.
An entry is tagged with the version read *before* its data (so the data holds at least that version's
commits), and a hit is only served after a version lookup that was sent after the request arrived: if a
commit was visible when the request came in, the lookup sees its version, the entry's tag is lower, and
the entry is refilled. Lookups are batched: every request waiting joins the next query (one in flight,
all races in one `= ANY`), so under load many requests share one round trip. Fills are shared likewise.
NOTIFY (`raceday.db.listen`) only drops entries early and wakes streams; correctness never rests on it.
"""

from __future__ import annotations

import asyncio
import gzip
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

import psycopg
from prometheus_client import Counter, Gauge
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from raceday.api.request_metrics import MATCHED
from raceday.core.metrics import Metrics

# Responses below this go out as they are (as the app's GZipMiddleware does); zlib level 6 likewise.
GZIP_MINIMUM_BYTES = 1024
GZIP_LEVEL = 6
# Above this, compressing (~1 ms per 50 KB at level 6) goes to a worker thread.
THREAD_GZIP_BYTES = 64 * 1024
# A 16-runner race's entrants with 50+50 history rows is ~220 KB (gzip ~10 % more): ~500 of them.
MAX_ENTRIES = 4096
MAX_BYTES = 128 * 1024 * 1024

VERSIONS_SQL = "SELECT race_id, version FROM race_versions WHERE race_id = ANY(%s)"
VERSION_SQL = "SELECT coalesce((SELECT version FROM race_versions WHERE race_id = %s), 0)"

Load = Callable[[AsyncConnection[Any]], Awaitable[bytes | None]]


@dataclass(frozen=True)
class CacheKey:
    race_id: str
    endpoint: str
    params: Hashable = ()


class Entry:
    """One answer: its JSON and the version it holds at least, its gzip, and forms derived from it (once).

    A large body is compressed on a worker thread as soon as it is stored (zlib lets go of the GIL, so the
    other core does it): neither the event loop nor a push waits for it, only a gzip reader that comes
    before it is done. A small one is compressed when first asked for.
    """

    __slots__ = ("_compressing", "_derived", "_gzipped", "body", "version")

    def __init__(self, version: int, body: bytes) -> None:
        self.version = version
        self.body = body
        self._gzipped: bytes | None = None
        self._derived: dict[str, bytes] = {}
        self._compressing: asyncio.Future[bytes] | None = None
        if len(body) >= THREAD_GZIP_BYTES:
            self._compressing = asyncio.ensure_future(asyncio.to_thread(_compress, body))
            self._compressing.add_done_callback(_settle)

    @property
    def size(self) -> int:
        """Bytes held, counting the gzip as it will be (about a tenth of the JSON)."""
        return len(self.body) + len(self.body) // 10

    async def gzipped(self) -> bytes | None:
        """The gzip of the JSON; None under GZIP_MINIMUM_BYTES (sent as it is, as GZipMiddleware does)."""
        if len(self.body) < GZIP_MINIMUM_BYTES:
            return None
        if self._gzipped is None:
            if self._compressing is not None:
                self._gzipped = await asyncio.shield(self._compressing)
            else:
                self._gzipped = _compress(self.body)
        return self._gzipped

    def derived(self, name: str, make: Callable[[bytes], bytes]) -> bytes:
        """`make(body)`, made once per entry (every stream of a race shares it)."""
        made = self._derived.get(name)
        if made is None:
            made = self._derived[name] = make(self.body)
        return made


def _compress(body: bytes) -> bytes:
    return gzip.compress(body, GZIP_LEVEL, mtime=0)


def _settle(future: asyncio.Future[Any]) -> None:
    """Marks a shared result as seen, so an error nobody awaited any more is not reported as lost."""
    if not future.cancelled():
        future.exception()


class VersionLookup:
    """Races' committed versions on a connection of its own; each call is answered by a query sent after
    the call."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: AsyncConnection[Any] | None = None
        self._next: dict[str, asyncio.Future[int]] = {}
        self._drainer: asyncio.Task[None] | None = None
        self.queries = 0

    async def version(self, race_id: str) -> int:
        future = self._next.get(race_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            future.add_done_callback(_settle)
            self._next[race_id] = future
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._next:
            # Taken before the query is sent: whoever arrives from now on waits for the next one.
            batch, self._next = self._next, {}
            try:
                versions = await self._query(list(batch))
            except Exception as exc:  # every waiter gets the failure (503 for the database being down)
                for future in batch.values():
                    future.set_exception(exc)
                continue
            for race_id, future in batch.items():
                future.set_result(versions.get(race_id, 0))

    async def _query(self, race_ids: list[str]) -> dict[str, int]:
        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await AsyncConnection.connect(
                        self._conninfo, autocommit=True, application_name="raceday-versions"
                    )
                cursor = await self._conn.execute(VERSIONS_SQL, (race_ids,), prepare=True)
                self.queries += 1
                return {race_id: version for race_id, version in await cursor.fetchall()}
            except psycopg.OperationalError:
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class _CacheMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.lookups = Counter(
            "raceday_api_cache_lookups",
            "Cached API reads by endpoint and outcome: hit, stale (refused: newer version), miss (filled)",
            ["endpoint", "outcome"],
            registry=None,
        )
        self.dropped = Counter(
            "raceday_api_cache_dropped",
            "Cache entries dropped by reason: notify, reset (listener reconnected), evicted (size bound)",
            ["reason"],
            registry=None,
        )
        self.bytes = Gauge(
            "raceday_api_cache_bytes", "Bytes held by the API cache (JSON and gzip)", registry=None
        )
        for collector in (self.lookups, self.dropped, self.bytes):
            metrics.register(collector)

    def close(self) -> None:
        for collector in (self.lookups, self.dropped, self.bytes):
            self.metrics.unregister(collector)


class RaceCache:
    """Per-race answers, least recently used first out, within MAX_ENTRIES and MAX_BYTES."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        conninfo: str,
        metrics: Metrics,
        *,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._pool = pool
        self.versions = VersionLookup(conninfo)
        self._metrics = _CacheMetrics(metrics)
        self._entries: OrderedDict[CacheKey, Entry] = OrderedDict()
        self._by_race: dict[str, set[CacheKey]] = {}
        self._aliases: OrderedDict[bytes, CacheKey] = OrderedDict()
        self._filling: dict[CacheKey, asyncio.Future[Entry | None]] = {}
        self._fills: dict[CacheKey, asyncio.Task[None]] = {}
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: CacheKey, load: Load) -> Entry | None:
        """The answer for `key`, no older than any commit visible when called; None when `load` says so."""
        entry = self._entries.get(key)
        if entry is not None and await self._current(key, entry):
            return entry
        self._metrics.lookups.labels(key.endpoint, "miss").inc()
        return await self._fill(key, load)

    async def _current(self, key: CacheKey, entry: Entry) -> bool:
        """Whether `entry` holds every commit visible now (by a lookup sent after this call); if not, it
        is dropped."""
        if entry.version >= await self.versions.version(key.race_id):
            if self._entries.get(key) is entry:  # not dropped meanwhile
                self._entries.move_to_end(key)
            self._metrics.lookups.labels(key.endpoint, "hit").inc()
            return True
        self._metrics.lookups.labels(key.endpoint, "stale").inc()
        if self._entries.get(key) is entry:
            self._remove(key)
        return False

    def remember(self, path: str, query: bytes, key: CacheKey) -> None:
        """The request (path and query, as routed) whose answer is `key`'s: `CachedReads` may answer it."""
        alias = path.encode() + b"?" + query
        self._aliases[alias] = key
        self._aliases.move_to_end(alias)
        if len(self._aliases) > self.max_entries:
            self._aliases.popitem(last=False)

    async def held(self, path: str, query: bytes) -> Entry | None:
        """The current answer to a request seen before, if held (a stale one is dropped, to be refilled)."""
        key = self._aliases.get(path.encode() + b"?" + query)
        entry = None if key is None else self._entries.get(key)
        if key is None or entry is None:
            return None
        return entry if await self._current(key, entry) else None

    async def _fill(self, key: CacheKey, load: Load) -> Entry | None:
        """A fill started after this call (shared with every caller that joined it before it started)."""
        future = self._filling.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            future.add_done_callback(_settle)
            self._filling[key] = future
            previous = self._fills.get(key)
            self._fills[key] = asyncio.create_task(self._run_fill(key, load, future, previous))
        return await asyncio.shield(future)

    async def _run_fill(
        self,
        key: CacheKey,
        load: Load,
        future: asyncio.Future[Entry | None],
        previous: asyncio.Task[None] | None,
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            async with self._pool.connection() as conn:
                # No longer joinable from here: the version is read after every joiner arrived.
                del self._filling[key]
                cursor = await conn.execute(VERSION_SQL, (key.race_id,), prepare=True)
                row = await cursor.fetchone()
                version = int(row[0]) if row else 0
                body = await load(conn)
        except Exception as exc:
            if self._filling.get(key) is future:
                del self._filling[key]
            future.set_exception(exc)
        else:
            entry = None if body is None else self._store(key, version, body)
            future.set_result(entry)
        finally:
            if self._fills.get(key) is asyncio.current_task():
                del self._fills[key]

    def _store(self, key: CacheKey, version: int, body: bytes) -> Entry:
        entry = Entry(version, body)
        held = self._entries.get(key)
        if held is not None and held.version > version:
            return entry  # a later fill already stored something newer: keep it, answer with ours
        self._remove(key)
        self._entries[key] = entry
        self._by_race.setdefault(key.race_id, set()).add(key)
        self.bytes += entry.size
        while self._entries and (len(self._entries) > self.max_entries or self.bytes > self.max_bytes):
            oldest = next(iter(self._entries))
            self._remove(oldest)
            self._metrics.dropped.labels("evicted").inc()
        self._metrics.bytes.set(self.bytes)
        return entry

    def _remove(self, key: CacheKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self.bytes -= entry.size
        keys = self._by_race.get(key.race_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_race[key.race_id]

    def changed(self, race_id: str, version: int) -> None:
        """NOTIFY said `race_id` reached `version`: drop what is older, at once."""
        for key in list(self._by_race.get(race_id, ())):
            if self._entries[key].version < version:
                self._remove(key)
                self._metrics.dropped.labels("notify").inc()
        self._metrics.bytes.set(self.bytes)

    def reset(self) -> None:
        """Notifications may have been missed (the listener reconnected): drop everything."""
        self._metrics.dropped.labels("reset").inc(len(self._entries))
        self._entries.clear()
        self._by_race.clear()
        self.bytes = 0
        self._metrics.bytes.set(0)

    async def close(self) -> None:
        for task in list(self._fills.values()):
            await asyncio.wait([task])
        await self.versions.close()
        self._metrics.close()


async def respond(accept_encoding: str, entry: Entry) -> Response:
    """The entry as JSON, or its stored gzip when the client takes gzip (as GZipMiddleware would decide;
    that middleware passes an encoded body through and adds `Vary` to the plain one)."""
    gzipped = await entry.gzipped() if "gzip" in accept_encoding else None
    if gzipped is not None:
        headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return Response(gzipped, media_type="application/json", headers=headers)
    return Response(entry.body, media_type="application/json")


async def answer(request: Request, cache: RaceCache, key: CacheKey, load: Load) -> Response | None:
    """The cached answer to this request (None when `load` finds nothing), remembered for `CachedReads`."""
    entry = await cache.get(key, load)
    if entry is None:
        return None
    cache.remember(request.url.path, request.scope.get("query_string", b""), key)
    return await respond(request.headers.get("accept-encoding", ""), entry)


class CachedReads:
    """Answers a request the cache has answered before, and still holds fresh, without the router.

    Innermost, so every other layer (metrics, headers, gzip, CORS) sees the response as from the route;
    the query it sees is the one the route saw (snake_case already renamed). Anything else, a stale or
    evicted entry included, goes on to the route.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        live = getattr(scope["app"].state, "live", None) if scope["type"] == "http" else None
        if live is not None and scope["method"] == "GET":
            held = await live.cache.held(scope["path"], scope.get("query_string", b""))
            if held is not None:
                matched = scope.get(MATCHED)
                if matched is not None:
                    matched["route"] = scope["path"]  # these routes have no path parameters
                accept = Headers(scope=scope).get("accept-encoding", "")
                await (await respond(accept, held))(scope, receive, send)
                return
        await self.app(scope, receive, send)
