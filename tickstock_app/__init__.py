"""The reference TickStockApp: the consumer side of the Phase 3 contract, as a web service.

It exists so the acceptance suite judges a consumer that really runs and can really break (the
resilience and service-boundary items). It is a separate system: it imports nothing of the suite
or of the producer, and reads the contract (channel names, JSON Schemas) from ``contract/``.

**Framework: Starlette + uvicorn** (ASGI). One event loop carries the Redis pub-sub listener, the
stream consumer group and the HTTP server; streaming responses make server-sent events native
(WebSocket is there too); Starlette is small and well kept (it is the base of FastAPI) and uvicorn
is its reference server. The real TickStockApp is Flask + Socket.IO: testing that needs a
Socket.IO client, while server-sent events need nothing but HTTP. Plain ``uvicorn`` (not
``[standard]``): uvloop/httptools would only add speed the suite does not need, and ``h11`` keeps
the dependency set small and pure Python.

**What it does.** Subscribes to every channel of ``contract/messaging.json`` (live) and reads the
consumer group ``tickstock_app`` (consumer = instance name) on ``stream:tickstock.universe.updated``
(durable; XACK only after processing). Each message is validated (size <= 64 KiB, JSON, the
envelope and its event type's schema); one that fails, or whose processing raises, goes to the
dead-letter stream **``tickstock_app:dead_letters``** (Redis flows DB 14; fields ``channel``,
``reason``, ``payload`` (first 4 KiB), ``received_at``) and consumption goes on. A
``theme_updated`` / ``universe_expansion_complete`` makes it re-read the universes with
``get_etf_universe(theme, false)`` as its database identity and update its view. It never writes
the database (its sessions are read-only besides the role's grants), never publishes on
``tickstock.*`` channels and starts no analysis. It starts when PostgreSQL or Redis is down and
reconnects by itself when they come back; each fault and recovery is one stderr line.

**Endpoints**: ``GET /health`` (always 200: status ok|degraded, database and redis states
refreshed every 0.5 s, counters), ``GET /api/universes``, ``GET /api/universes/{theme}?filtered=``,
``GET /api/view``, ``GET /api/notifications/stream`` (server-sent events). ``/api/universes*``
answer 503 with a one-line JSON error while the database is down (within 2.5 s).

**Run it alone**::

    TICKSTOCK_APP_DB_HOST=localhost TICKSTOCK_APP_DB_PORT=5432 TICKSTOCK_APP_DB_NAME=tickstock_test \\
    TICKSTOCK_APP_DB_USER=app_readwrite TICKSTOCK_APP_DB_PASSWORD='...' \\
    TICKSTOCK_APP_REDIS_HOST=localhost TICKSTOCK_APP_REDIS_PORT=6379 TICKSTOCK_APP_REDIS_DB=14 \\
    python -m tickstock_app --host 127.0.0.1 --port 8765 --instance main
    curl -s localhost:8765/health; curl -sN localhost:8765/api/notifications/stream

Stop it with SIGTERM or Ctrl-C (exit 0). Bad arguments or settings: one stderr line, exit 2.
Variants: ``create_app(config)`` returns a ``TickStockApp`` whose factories (``make_database``,
``make_hub``, ``make_consumer``, ``make_health``) a subclass overrides; ``cli.main(factory=...)``
runs it (``python -m tests.broken.<name>``).
"""

from .config import AppConfig
from .web import TickStockApp, create_app

__all__ = ["AppConfig", "TickStockApp", "create_app"]
