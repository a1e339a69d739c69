"""The app object (``TickStockApp``, built by ``create_app``) and its HTTP interface (Starlette).

Routes:

- ``GET /health`` — always 200 while the process runs: ``status`` ok|degraded, ``instance``,
  ``database`` / ``redis`` {state up|down, error, checked_at, since}, ``consumed``,
  ``dead_letters``, ``last_notification_at``, ``view_themes``, ``listeners`` {pubsub, stream}.
- ``GET /api/universes`` — ``get_etf_universes_summary()`` as a JSON list.
- ``GET /api/universes/{theme}?filtered=true|false`` — ``get_etf_universe(theme, filtered)``;
  404 when not found.
- ``GET /api/view`` — the view built from notifications.
- ``GET /api/notifications/stream`` — server-sent events: ``: connected`` first, then one
  ``data: <message json>`` per valid notification, ``: heartbeat`` every 5 s.

The ``/api/universes`` routes answer 503 ``{"error": "database unavailable: ..."}`` while the
database is down, within the query deadline (2.5 s); every error body is one line of JSON.

Variants (``tests/broken/``) subclass ``TickStockApp`` and override its factories
(``make_database``, ``make_hub``, ``make_consumer``, ``make_health``), then run
``cli.main(factory=TheirApp)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import psycopg2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from .config import AppConfig
from .consumer import Consumer, Hub, now_iso, redis_client
from .database import Database, DatabaseUnavailable, one_line
from .health import HealthMonitor

HEARTBEAT_S = 5.0
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class Json(JSONResponse):
    """JSON with timestamps and other non-JSON values as strings."""

    def render(self, content) -> bytes:
        return json.dumps(content, default=str, separators=(",", ":")).encode()


def error(status: int, message: str) -> Json:
    return Json({"error": one_line(message)}, status_code=status)


class TickStockApp:
    """The reference TickStockApp: database, Redis consumer, health, and the SSE hub."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.hub = self.make_hub()
        self.database = self.make_database()
        self.consumer: Consumer | None = None
        self.health: HealthMonitor | None = None
        self.started_at = now_iso()

    # Variants override the factories below.
    def make_hub(self) -> Hub:
        return Hub()

    def make_database(self) -> Database:
        return Database(self.config)

    def make_consumer(self) -> Consumer:
        return Consumer(self.config, self.database, self.hub, database_up=self.database_up)

    def make_health(self) -> HealthMonitor:
        return HealthMonitor(self.database, redis_client(self.config),
                             self.consumer.dead_letters if self.consumer else None)

    def database_up(self) -> bool:
        return self.health is None or self.health.db.state != "down"

    async def start(self) -> None:
        """Start the health monitor and the listeners; never waits for a server to be up."""
        self.consumer = self.make_consumer()
        self.health = self.make_health()
        await self.health.check_once()  # /health has real states from the first request (<= 1 s)
        self.health.start()
        self.consumer.start()

    async def stop(self) -> None:
        self.hub.close()
        if self.consumer is not None:
            await self.consumer.stop()
        if self.health is not None:
            await self.health.stop()
            with contextlib.suppress(Exception):
                await self.health.client.aclose()
        self.database.close()

    def health_document(self) -> dict:
        h, c = self.health, self.consumer
        db = h.db.as_dict() if h else {"state": "unknown", "error": None, "checked_at": None, "since": None}
        rd = h.redis.as_dict() if h else dict(db)
        ok = db["state"] == "up" and rd["state"] == "up"
        return {"status": "ok" if ok else "degraded", "instance": self.config.instance,
                "started_at": self.started_at, "database": db, "redis": rd,
                "consumed": c.consumed if c else 0,
                "dead_letters": c.dead_letters.count if c else 0,
                "dead_letters_unwritten": len(c.dead_letters.backlog) if c else 0,
                "acknowledged": c.acked if c else 0,
                "last_notification_at": c.last_notification_at if c else None,
                "view_themes": len(c.view.themes) if c else 0,
                "listeners": dict(c.listening) if c else {"pubsub": False, "stream": False},
                "sse_clients": len(self.hub.subscribers)}

    def asgi(self) -> Starlette:
        return build_asgi(self)


def create_app(config: AppConfig) -> TickStockApp:
    return TickStockApp(config)


# -- HTTP -----------------------------------------------------------------------------------------

def build_asgi(app: TickStockApp) -> Starlette:
    async def health(request: Request) -> Json:
        return Json(app.health_document())

    async def universes(request: Request) -> Json:
        try:
            return Json(await app.database.summary())
        except DatabaseUnavailable as exc:
            return error(503, f"database unavailable: {exc}")
        except psycopg2.Error as exc:
            return error(500, f"database error: {exc}")

    async def universe(request: Request) -> Json:
        theme = request.path_params["theme"]
        raw = request.query_params.get("filtered", "false").lower()
        if raw not in _BOOLEANS:
            return error(400, f"filtered must be true or false, got {raw[:40]!r}")
        try:
            result = await app.database.universe(theme, _BOOLEANS[raw])
        except DatabaseUnavailable as exc:
            return error(503, f"database unavailable: {exc}")
        except psycopg2.Error as exc:
            return error(500, f"database error: {exc}")
        if isinstance(result, dict) and "error" in result:
            return error(404, str(result["error"]))
        return Json(result)

    async def view(request: Request) -> Json:
        c = app.consumer
        doc = c.view.as_dict() if c else {"themes": {}, "updated_at": None}
        return Json(doc)

    async def notifications(request: Request) -> StreamingResponse:
        sub = app.hub.subscribe()

        async def events():
            try:
                yield ": connected\n\n"
                last = time.monotonic()
                while not sub.closed.is_set():
                    try:
                        wait = max(0.0, HEARTBEAT_S - (time.monotonic() - last))
                        text = await asyncio.wait_for(sub.queue.get(), wait)
                    except TimeoutError:
                        yield ": heartbeat\n\n"
                        last = time.monotonic()
                        continue
                    if text is None:  # the app is stopping
                        break
                    yield f"data: {text}\n\n"
            finally:
                app.hub.unsubscribe(sub)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def http_error(request: Request, exc: HTTPException) -> Json:
        return error(exc.status_code, exc.detail or "error")

    async def server_error(request: Request, exc: Exception) -> Json:
        return error(500, f"{type(exc).__name__}: {exc}")

    @contextlib.asynccontextmanager
    async def lifespan(_):
        await app.start()
        try:
            yield
        finally:
            await app.stop()

    routes = [Route("/health", health), Route("/api/universes", universes),
              Route("/api/universes/{theme}", universe), Route("/api/view", view),
              Route("/api/notifications/stream", notifications)]
    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: http_error, Exception: server_error})
