"""ETF-2's optional market-data check: every universe member against Massive's reference data.

Massive (formerly Polygon.io) is asked through its official client (``massive.RESTClient``, the
key sent as a bearer header, never in a URL) at the run's ``market_data_url``:

1. every active ETF, in one paginated listing (``list_tickers(type="ETF", market="stocks",
   active=True, limit=1000)``): a handful of requests for all US ETFs instead of one per member;
2. each member missing from it, by itself (``list_tickers(ticker=..., active=True)``, then
   ``active=False``: Massive's ticker overview answers only for active tickers), to say why.

``member_problems`` returns one line per bad member, naming the ticker and why
(``XYZ: not found in Massive reference data``, ``ABC: type CS, expected ETF``, ``DEF: inactive``).
The client itself retries 429 (waiting as Retry-After says) and 5xx answers; an error it gives up
on (a refused key, a rate limit that persists, no connection) ends the check with one line. The
key is masked in every line, whatever the client or server put in its message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from massive import RESTClient
from massive.exceptions import AuthError, BadResponse
from urllib3.exceptions import HTTPError, MaxRetryError

ETF_TYPE = "ETF"  # Massive's ticker type code for exchange-traded funds (/v3/reference/tickers/types)
MARKET = "stocks"  # US ETFs are listed in Massive's stocks market
PAGE_SIZE = 1000  # the largest page /v3/reference/tickers serves
RETRIES = 3  # the client's retries of 429 (after Retry-After) and 5xx, per request
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0
SKIP_REASON = "MASSIVE_API_KEY is not set: the market-data check was not run"
KEY_HINT = "check MASSIVE_API_KEY and that its plan includes reference data"


def client(url: str, key: str) -> RESTClient:
    """The official client at ``url`` (no trailing slash) with ``key``."""
    return RESTClient(api_key=key, base=url, retries=RETRIES, connect_timeout=CONNECT_TIMEOUT_S,
                      read_timeout=READ_TIMEOUT_S)


def member_problems(symbols: Iterable[str], url: str, key: str | None) -> list[str]:
    """One line per member that is not an existing, active ETF in Massive's reference data; or one
    line when the API cannot be used (then nothing about the members is known)."""
    if not key:
        return [SKIP_REASON]
    rest = client(url, key)
    try:
        active_etfs = {t.ticker for t in rest.list_tickers(type=ETF_TYPE, market=MARKET, active=True,
                                                            limit=PAGE_SIZE)}
        if not active_etfs:
            return [f"Massive listed no active ETF at {url}: is market_data_url its REST API?"]
        found = (why_not(rest, s) for s in sorted(set(symbols)) if s not in active_etfs)
        return [problem for problem in found if problem]
    except (AuthError, BadResponse, HTTPError) as error:
        return [api_failure(error, url).replace(key, "***")]


def why_not(rest: RESTClient, ticker: str) -> str | None:
    """Why ``ticker`` is missing from the active ETFs, from its own listing (None: it is one)."""
    listed = lookup(rest, ticker, active=True) or lookup(rest, ticker, active=False)
    return listing_problem(ticker, listed)


def lookup(rest: RESTClient, ticker: str, active: bool):
    """Massive's listing of exactly ``ticker`` among active (or inactive) tickers, or None."""
    return next(iter(rest.list_tickers(ticker=ticker, active=active, limit=1)), None)


def listing_problem(ticker: str, listed) -> str | None:
    """``ticker``'s problem given its listing (a ``massive`` Ticker or None), or None if it has none."""
    if listed is None:
        return f"{ticker}: not found in Massive reference data"
    why = [] if listed.active else ["inactive"]
    if listed.type != ETF_TYPE:
        why.append(f"type {listed.type or 'unknown'}, expected {ETF_TYPE}")
    return f"{ticker}: {', '.join(why)}" if why else None


def api_failure(error: Exception, url: str) -> str:
    """The one line for an error the client gave up on."""
    if isinstance(error, AuthError):
        return f"the Massive client refused to start without a key — fix: {KEY_HINT}"
    if isinstance(error, BadResponse):
        return (f"the Massive reference-tickers API at {url} refused the request: {answer(str(error))} "
                f"— fix: {KEY_HINT}")
    if isinstance(error, MaxRetryError):
        return (f"the Massive reference-tickers API at {url} could not be used after {RETRIES} retries: "
                f"{type(error.reason).__name__}: {first_line(str(error.reason))}")
    return (f"the Massive reference-tickers API at {url} could not be used: {type(error).__name__}: "
            f"{first_line(str(error))}")


def answer(body: str) -> str:
    """An error body in a few words: Massive answers ``{"status": ..., "error"|"message": ...}``."""
    try:
        data = json.loads(body)
    except ValueError:
        return first_line(body)[:200] or "an empty answer"
    if not isinstance(data, dict):
        return first_line(body)[:200]
    said = data.get("error") or data.get("message") or "no message"
    return f"{said} (status {data.get('status', '?')})"


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
