"""An ETF universe expansion triggers no analysis in TickStockApp, while its view updates (SVC-2).

While TickStockApp runs, the producer expands the universes. Judged by what the systems record:
TickStockApp's view (``GET /api/view``) must show every expanded theme with the symbol count the
producer stored (read from the database) and name a message of this expansion as its source;
every message on any channel (Redis ``MONITOR``) and on the ``tickstock`` channels (an observer)
must be the producer's (its envelope's ``producer_id``); no publishing command (``PUBLISH``,
``XADD`` but to its own dead-letter stream, a list push) may come from one of TickStockApp's Redis
connections (known by client name ``tickstock_app.<instance>`` and by TickStockApp's own sockets);
no pattern or analysis event may appear; TickStockApp may start no process; and the database's log
shows no write of its role (``audit``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from tickstock_acceptance.contract.messaging import namespaced
from tickstock_acceptance.sut.subscriber import Received
from tickstock_acceptance.sut.tickstock_app import CLIENT_NAME_PREFIX, RedisCommand

DEAD_LETTER_STREAM = "tickstock_app:dead_letters"   # TickStockApp's own stream for messages it rejects
ANALYSIS_WORDS = ("pattern", "analysis", "analyze", "analyse")


def theme_of(key: str) -> str:
    return key.removeprefix("etf_")


# -- the view updates -----------------------------------------------------------------------------
def view_problems(view: Mapping, stored_counts: Mapping[str, int], message_ids: set[str]) -> list[str]:
    """Every expanded theme is in the view with the stored symbol count, from this expansion's message."""
    entries = {theme_of(str(k)): v for k, v in view.items()}
    problems = []
    for theme, count in sorted(stored_counts.items()):
        entry = entries.get(theme)
        if not isinstance(entry, Mapping):
            problems.append(f"{theme}: not in TickStockApp's view")
            continue
        shown = entry.get("symbol_count")
        symbols = entry.get("symbols")
        if shown != count:
            problems.append(f"{theme}: the view shows {shown} symbols, the producer stored {count}")
        elif isinstance(symbols, list) and len(symbols) != count:
            problems.append(f"{theme}: the view lists {len(symbols)} symbols but says {shown}")
        source = entry.get("source_message_id")
        if message_ids and source not in message_ids:
            problems.append(f"{theme}: the view's source message {source!r} is not one of this expansion's")
    return problems


def view_settled(view: Mapping, stored_counts: Mapping[str, int], message_ids: set[str]) -> bool:
    return not view_problems(view, stored_counts, message_ids)


# -- nothing but the producer publishes ---------------------------------------------------------------
def _envelope(payload: str) -> dict | None:
    try:
        message = json.loads(payload)
    except (json.JSONDecodeError, TypeError):
        return None
    return message if isinstance(message, dict) else None


def _names_analysis(*texts: object) -> bool:
    joined = " ".join(str(t).lower() for t in texts if t)
    return any(word in joined for word in ANALYSIS_WORDS)


def _counted(found: list[str]) -> list[str]:
    """Each distinct problem once, with how many times it was seen."""
    counts: dict[str, int] = {}
    for problem in found:
        counts[problem] = counts.get(problem, 0) + 1
    return [f"{p} (x{n})" if n > 1 else p for p, n in counts.items()]


def observed_message_problems(received: Sequence[Received], producer_ids: set[str]) -> list[str]:
    """Every message on the tickstock channels came from the producer's expansion, and none is a
    pattern or analysis event."""
    problems = []
    for r in received:
        sender = (r.message or {}).get("service") if r.message else None
        if r.producer_id not in producer_ids:
            problems.append(f"{r.channel}: {r.event_type or 'unparsed'} message from "
                            f"{sender or 'an unnamed service'} (producer_id {r.producer_id!r}), "
                            "not the producer's")
        elif _names_analysis(r.channel, r.event_type):
            problems.append(f"{r.channel}: the producer published {r.event_type} during an expansion")
    return _counted(problems)


def publish_problems(commands: Iterable[RedisCommand], producer_ids: set[str]) -> list[str]:
    """Every message published on any channel (MONITOR's PUBLISH/SPUBLISH) during the expansion is
    one of the producer's (its envelope's producer_id)."""
    problems = []
    for c in commands:
        if c.name not in ("PUBLISH", "SPUBLISH") or len(c.args) < 3:
            continue
        message = _envelope(c.args[2]) or {}
        if message.get("producer_id") not in producer_ids:
            problems.append(f"{c.args[1]}: {message.get('event_type') or 'a message'} from "
                            f"{message.get('service') or 'an unnamed sender'} at {c.client}, "
                            "not the producer's")
    return _counted(problems)


def app_clients(names: Mapping[str, str], app_redis_addresses: Iterable[str]) -> set[str]:
    """TickStockApp's Redis connections (host:port): named ``tickstock_app.*``, or seen among its sockets."""
    named = {addr for addr, name in names.items() if name.startswith(CLIENT_NAME_PREFIX)}
    return named | set(app_redis_addresses)


def app_publishing_problems(commands: Iterable[RedisCommand], clients: set[str],
                            names: Mapping[str, str]) -> list[str]:
    """No publishing command from TickStockApp's connections (its dead-letter stream excepted)."""
    problems = []
    for c in commands:
        if c.client not in clients:
            continue
        target = c.args[1] if len(c.args) > 1 else "?"
        if c.name == "XADD" and target == namespaced(DEAD_LETTER_STREAM):
            continue
        what = ""
        if c.name in ("PUBLISH", "SPUBLISH") and len(c.args) > 2:
            what = f" {(_envelope(c.args[2]) or {}).get('event_type') or 'message'}"
        problems.append(f"TickStockApp ({names.get(c.client, c.client)}) sent {c.name} {target}{what}")
    return _counted(problems)


def child_process_problems(children: Mapping[int, str], before: Mapping[int, str]) -> list[str]:
    """TickStockApp started no process during the expansion (no pattern work in a worker)."""
    return [f"pid {pid}: {cmd}" for pid, cmd in sorted(children.items()) if pid not in before]
