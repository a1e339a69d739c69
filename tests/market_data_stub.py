"""A small local stand-in for Massive's reference-tickers API, for our tests of ETF-2's optional
market-data check.

``MarketDataStub`` serves ``GET /v3/reference/tickers`` on a free port (``http.server`` in a
thread) in the API's documented shape: ``{"status": "OK", "request_id", "count", "results":
[{"ticker", "name", "market", "type", "active", ...}], "next_url"}``, filtered by ``ticker``,
``type``, ``market`` and ``active`` (default true, as Massive's), paged by ``limit`` and a
``cursor`` in ``next_url``. It answers 401 ``{"status": "ERROR", "error": "Unknown API Key"}``
to any bearer key but its own, and its first ``rate_limited`` requests with 429 and a
Retry-After header. ``requests`` records each request (path, query, status); never the key.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

TICKERS_PATH = "/v3/reference/tickers"


def listing(ticker: str, type: str = "ETF", active: bool = True) -> dict:  # noqa: A002 - the API's name
    """One ``results`` entry as Massive lists a US ticker."""
    return {"ticker": ticker, "name": f"{ticker} (stub)", "market": "stocks", "locale": "us",
            "primary_exchange": "ARCX", "type": type, "active": active, "currency_name": "usd",
            "last_updated_utc": "2026-11-01T00:00:00Z"}


@dataclass
class MarketDataStub:
    key: str
    tickers: list[dict]
    page_size: int = 2  # small, so the client's pagination is exercised
    rate_limited: int = 0  # how many of the first requests get 429
    retry_after_s: int = 1
    requests: list[tuple[str, dict, int]] = field(default_factory=list)

    def __post_init__(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> MarketDataStub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def statuses(self) -> list[int]:
        return [status for _, _, status in self.requests]

    def answer(self, path: str, query: dict, authorization: str) -> tuple[int, dict, dict]:
        """(status, headers, body) for one GET."""
        if authorization != f"Bearer {self.key}":
            return 401, {}, {"status": "ERROR", "request_id": "stub", "error": "Unknown API Key"}
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return 429, {"Retry-After": str(self.retry_after_s)}, {
                "status": "ERROR", "request_id": "stub",
                "error": "You've exceeded the maximum requests per minute, please wait or upgrade "
                         "your subscription to continue."}
        if path != TICKERS_PATH:
            return 404, {}, {"status": "NOT_FOUND", "request_id": "stub", "message": "Not found."}
        active = query.get("active", "true") == "true"
        found = sorted((t for t in self.tickers if t["active"] == active
                        and all(t[k] == query[k] for k in ("ticker", "type", "market") if k in query)),
                       key=lambda t: t["ticker"])
        start = int(query.get("cursor", 0))
        end = start + min(int(query.get("limit", 100)), self.page_size)
        body = {"status": "OK", "request_id": "stub", "count": len(found[start:end])}
        if found[start:end]:
            body["results"] = found[start:end]  # Massive leaves "results" out when nothing matched
        if end < len(found):
            body["next_url"] = f"{self.url}{TICKERS_PATH}?{urlencode({**query, 'cursor': end})}"
        return 200, {}, body

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                status, headers, body = stub.answer(parts.path, query, self.headers.get("Authorization", ""))
                stub.requests.append((parts.path, query, status))
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet
                pass

        return Handler
