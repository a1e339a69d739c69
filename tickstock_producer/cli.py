"""``python -m tickstock_producer``: the reference producer's (TickStockPL's) command line.

Commands:

- ``expand`` builds the ETF universes and publishes the notifications; with
  ``--repeat-until-stopped`` again and again until SIGTERM/SIGINT, or until a round has a failed
  theme; with ``--keep-going`` as well, a failed round (a failed theme, the database or Redis
  unreachable) is reported in its round and the loop goes on after ``--retry-interval`` seconds,
  each round on a new database connection (a service that outlives its servers' restarts).
- ``load-history`` is the historical loader: by default the ETF universes' members' daily bars
  (``--days``) into the production tables; with ``--scenario NAME|all [--symbols TEST_A,TEST_B]``
  it generates a test scenario and loads it into the separate schema ``synthetic`` only (TEST_
  symbols of type TEST, one transaction, reloading replaces); ``--list-scenarios`` lists the
  scenarios (no database needed).
- ``detect-patterns (--symbols A,B | --scenario NAME|all)`` runs TA-Lib's candlestick functions
  over the symbols' daily bars (``synthetic.*`` for TEST_ symbols) and publishes one
  ``pattern_detected`` event per hit.
- ``process-ticks [--max-seconds S] [--threshold-step X]`` consumes the tick stream, publishes
  one-minute bars and threshold crossings until SIGTERM/SIGINT or ``--max-seconds``, then reports.
- ``validate`` (every member exists in ``symbols`` and is active), ``summary`` (one line per
  universe), ``channels`` (the configured pub-sub channels), ``deploy`` (what this producer version
  installs into a database the suite owns), ``maintain-stock-universes`` (rewrite the market-cap
  tier stock universes round after round until SIGTERM/SIGINT).
- Cache synchronization (rules in ``cache_sync.py``'s docstring and ``contract/reference/cache_sync.json``):
  ``load-market [--count 5000] [--prefix TEST_M] [--as-of 2026-10-30]`` writes the deterministic market
  (``market.py``) into ``symbols`` (prefix must start with ``TEST_``; the prefix's other rows are
  deleted); ``end-of-day --date D`` is the EOD job: publishes the ``eod_complete`` signal;
  ``monitor-ipos --as-of D [--symbol-prefix P] [--days 30]`` is one IPO monitor scan (one
  ``ipo_listed`` per new, unplaced listing); ``sync-service [--universe-prefix U] [--symbol-prefix P]
  [--max-seconds S]`` is the long-running cache synchronizer (prints ``{"event": "ready", "pid": N}``
  once its consumer groups exist, then one JSON line per signal handled: ``sync``, ``duplicate`` or
  ``invalid``; survives database and Redis faults; SIGTERM/SIGINT finish the current sync, exit 0);
  ``sync-once`` (same options, ``--timeout S``, default 0) handles the signals already there (or
  arriving within S seconds) and exits (1 when a sync failed).

``--json`` prints one JSON document for programs (the last stdout line). Connection settings come
from ``TICKSTOCK_PL_*`` environment variables (DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD,
REDIS_HOST, REDIS_PORT, REDIS_DB, and CHANNEL_PREFIX: a namespace before every channel and stream
name, empty by default: the spec's names).

Exit codes: 0 success; 1 the command ran but found a problem (a failed theme, an invalid member,
an error while detecting or processing); 2 bad arguments or configuration (one line on stderr,
checked before connecting to anything, so nothing is written); 3 the database or Redis was
unreachable.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path

import psycopg2
import redis

from .etf_universe import load_source
from .facade import Producer, ProducerConfig, create_producer
from .historical_loader import ALL_SCENARIOS, ScenarioTargetError, check_symbol, scenario_targets
from .market import DEFAULT_AS_OF as DEFAULT_MARKET_AS_OF
from .market import DEFAULT_COUNT as DEFAULT_MARKET_COUNT
from .market import DEFAULT_PREFIX as DEFAULT_MARKET_PREFIX
from .market import MarketError, check_market
from .stock_universe import StockUniverseMaintainer

# Long-running commands stop cleanly (report printed) on SIGTERM/SIGINT, or after this long.
DEFAULT_MAX_SECONDS = 120.0
DEFAULT_DAYS = 30
DEFAULT_THRESHOLD_STEP = 1.0  # contract/messaging.json realtime.threshold_step
DEFAULT_RETRY_INTERVAL_S = 0.1  # expand --keep-going: pause after a failed round


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + two lines by default)
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m tickstock_producer",
                description="TickStockPL ETF universe manager (reference producer)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    e = sub.add_parser("expand", help="build the ETF universes, write them and publish notifications")
    e.add_argument("--themes", help="comma-separated theme names (default: all themes of the source)")
    e.add_argument("--source", help="an alternative ETF source file "
                                    "(same format as contract/reference/etf_universe.json)")
    e.add_argument("--repeat-until-stopped", action="store_true",
                   help="expand again and again until SIGTERM/SIGINT (or --max-seconds), "
                        "then report every round")
    e.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                   help="with --repeat-until-stopped: stop after this long "
                        f"(default {DEFAULT_MAX_SECONDS:g})")
    e.add_argument("--keep-going", action="store_true",
                   help="with --repeat-until-stopped: report a failed round (failed theme, database or "
                        "Redis unreachable) and go on after --retry-interval instead of stopping")
    e.add_argument("--retry-interval", type=float, default=DEFAULT_RETRY_INTERVAL_S,
                   help="with --keep-going: pause after a failed round "
                        f"(default {DEFAULT_RETRY_INTERVAL_S:g} s)")
    h = sub.add_parser("load-history", help="register universe members in symbols and load daily OHLCV; "
                                            "with --scenario load a synthetic test scenario instead")
    h.add_argument("--days", type=int, default=None,
                   help=f"weekdays of bars per ETF member (default {DEFAULT_DAYS}; not with --scenario)")
    h.add_argument("--scenario", metavar="NAME",
                   help="generate this test scenario (or 'all') and load it into the synthetic schema")
    h.add_argument("--symbols", metavar="TEST_A,TEST_B",
                   help="with --scenario NAME: load the scenario's series for these TEST_ symbols "
                        "(default: the scenario's own symbol)")
    h.add_argument("--list-scenarios", action="store_true",
                   help="list the test scenarios (no database needed)")
    d = sub.add_parser("detect-patterns",
                       help="detect candlestick patterns in daily bars and publish pattern_detected")
    which = d.add_mutually_exclusive_group(required=True)
    which.add_argument("--symbols", metavar="A,B", help="comma-separated symbols")
    which.add_argument("--scenario", metavar="NAME",
                       help="the symbols loaded for this scenario (or 'all')")
    t = sub.add_parser("process-ticks",
                       help="aggregate the tick stream into one-minute bars and threshold crossings "
                            "until SIGTERM/SIGINT")
    t.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                   help=f"stop after this long (default {DEFAULT_MAX_SECONDS:g})")
    t.add_argument("--threshold-step", type=float, default=DEFAULT_THRESHOLD_STEP,
                   help=f"price step whose multiples are thresholds (default {DEFAULT_THRESHOLD_STEP:g})")
    sub.add_parser("validate", help="check every universe member exists in symbols and is active")
    sub.add_parser("summary", help="one line per ETF universe")
    sub.add_parser("channels", help="the pub-sub channels this producer is configured with")
    sub.add_parser("deploy", help="install what this producer version ships into the database "
                                  "(called by the suite with an admin identity, on databases it owns)")
    m = sub.add_parser("maintain-stock-universes",
                       help="rewrite the market-cap tier stock universes until SIGTERM/SIGINT")
    m.add_argument("--symbol-prefix", default="STK", help="prefix of the maintained stock symbols")
    m.add_argument("--symbols", type=int, default=60, help="how many stock symbols (default 60)")
    m.add_argument("--universe-prefix", default="", help="prefix of the tier universe names")
    m.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                   help=f"stop after this long (default {DEFAULT_MAX_SECONDS:g})")
    lm = sub.add_parser("load-market", help="write the deterministic test stock market into symbols")
    lm.add_argument("--count", type=int, default=DEFAULT_MARKET_COUNT,
                    help=f"how many symbols (default {DEFAULT_MARKET_COUNT})")
    lm.add_argument("--prefix", default=DEFAULT_MARKET_PREFIX,
                    help=f"symbol prefix, must start with TEST_ (default {DEFAULT_MARKET_PREFIX})")
    lm.add_argument("--as-of", type=_date, default=DEFAULT_MARKET_AS_OF, metavar="YYYY-MM-DD",
                    help=f"the market's date (default {DEFAULT_MARKET_AS_OF.isoformat()})")
    eod = sub.add_parser("end-of-day", help="the EOD job: publish the eod_complete signal for a trading date")
    eod.add_argument("--date", type=_date, required=True, metavar="YYYY-MM-DD", help="the trading date")
    ipo = sub.add_parser("monitor-ipos", help="one IPO monitor scan: publish ipo_listed for new, unplaced "
                                              "listings")
    ipo.add_argument("--as-of", type=_date, required=True, metavar="YYYY-MM-DD")
    ipo.add_argument("--symbol-prefix", default="", help="only symbols starting with this (default: all)")
    ipo.add_argument("--days", type=int, default=30, help="listed within this many days (default 30)")
    for name, what in (("sync-service", "the long-running cache synchronizer (until SIGTERM/SIGINT)"),
                       ("sync-once", "handle the pending EOD signals once and exit")):
        s = sub.add_parser(name, help=what)
        s.add_argument("--universe-prefix", default="", help="prefix of the universes written (default '')")
        s.add_argument("--symbol-prefix", default="", help="prefix of the symbols read (default '')")
        if name == "sync-service":
            s.add_argument("--max-seconds", type=float, default=None,
                           help="stop after this long (default: run until SIGTERM/SIGINT)")
        else:
            s.add_argument("--timeout", type=float, default=0.0,
                           help="also wait this long for signals to arrive (default 0: only what is there)")
    return p


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _stop_on_signal() -> threading.Event:
    """An event set by SIGTERM or SIGINT (long-running commands finish their round and report)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _print(args, document: dict, text: str) -> None:
    print(json.dumps(document, default=str) if args.json else text)


def _expand(args, producer: Producer) -> int:
    if args.source:
        path = Path(args.source)
        if not path.is_file():
            raise UsageError(f"--source {args.source}: no such file")
        try:
            producer.etf_manager.source = load_source(path)
        except OSError as exc:
            raise UsageError(f"--source {args.source}: cannot read it ({exc.strerror or exc})") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # SourceError is a ValueError
            raise UsageError(f"--source {args.source}: not an ETF source file ({exc})") from None
    themes = [t.strip() for t in args.themes.split(",") if t.strip()] if args.themes else None
    producer.publisher.warm_up()  # connected before the work: the first message waits for no handshake
    if args.repeat_until_stopped:
        return _expand_repeatedly(args, producer, themes)
    try:
        report = producer.etf_manager.expand(themes)
    except KeyError as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    lines = [f"{t.theme:<14} {t.status:<9} {t.symbol_count:>4} symbols"
             + (f" ({t.excluded_count} excluded by the liquidity filter)" if t.excluded_count else "")
             + (f" {t.action}" if t.action else "") + (f" ERROR {t.error}" if t.error else "")
             for t in report.themes]
    lines.append(f"{len(report.succeeded)}/{len(report.themes)} themes, {report.total_symbols} symbols, "
                 f"{report.elapsed_s * 1000:.1f} ms")
    _print(args, report.as_dict(), "\n".join(lines))
    return 1 if report.failed else 0


def _expand_repeatedly(args, producer: Producer, themes: list[str] | None) -> int:
    if args.max_seconds <= 0:
        raise UsageError("--max-seconds must be positive")
    if args.keep_going and not args.retry_interval >= 0:
        raise UsageError("--retry-interval must not be negative")
    stop = _stop_on_signal()
    rounds = []
    report = None
    timer = threading.Timer(args.max_seconds, stop.set)
    timer.daemon = True
    timer.start()
    try:
        while not stop.is_set():
            started = time.time()
            try:
                report = producer.etf_manager.expand(themes)
            except KeyError as exc:
                raise UsageError(str(exc).strip("'\"")) from None
            except (psycopg2.Error, redis.RedisError, OSError) as exc:
                if not args.keep_going:
                    raise
                # The database or Redis failed the round as a whole: reported, never swallowed.
                rounds.append({"started_at": started, "finished_at": time.time(), "status": "failed",
                               "error": _first_line(exc), "success_count": 0, "failed_count": 0,
                               "total_symbols": 0})
                stop.wait(args.retry_interval)
                continue
            d = report.as_dict()
            row = {k: d[k] for k in ("started_at", "finished_at", "writes_started_at",
                                     "writes_finished_at", "elapsed_s", "total_symbols",
                                     "success_count", "failed_count")}
            if args.keep_going:
                row["status"] = "failed" if report.failed else "completed"
                if report.failed:
                    row["error"] = f"theme {report.failed[0].theme}: {report.failed[0].error}"
            rounds.append(row)
            if report.failed:  # a failing round is reported at once, not repeated until stopped
                if not args.keep_going:
                    break
                stop.wait(args.retry_interval)
    finally:
        timer.cancel()
    doc = {"producer_id": producer.publisher.producer_id, "rounds": rounds,
           "published_count": producer.publisher.published_count,
           "themes": [asdict(t) for t in report.failed] if report is not None and report.failed else []}
    unacknowledged = getattr(producer.publisher, "unacknowledged", None)
    if args.keep_going and unacknowledged is not None:
        doc["unacknowledged_sequences"] = list(unacknowledged)
    failed = (sum(r["failed_count"] for r in rounds)
              + sum(1 for r in rounds if "error" in r and not r["failed_count"]))
    _print(args, doc, f"{len(rounds)} expansions, {failed} failed themes or rounds in all")
    if args.keep_going:  # a service that outlived its faults: judged by its last round
        return 1 if rounds and rounds[-1].get("status") == "failed" else 0
    return 1 if failed else 0


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _maintain_stock_universes(args, producer: Producer) -> int:
    if args.symbols < 1 or args.max_seconds <= 0:
        raise UsageError("--symbols must be at least 1 and --max-seconds positive")
    stop = _stop_on_signal()
    maintainer = StockUniverseMaintainer(producer.connect, args.symbol_prefix, args.symbols,
                                         args.universe_prefix)
    report = maintainer.run(stop.is_set, args.max_seconds)
    _print(args, asdict(report), f"{report.rounds} rounds, {len(report.errors)} failed"
           + "".join(f"\nERROR {e}" for e in report.errors[:5]))
    return 1 if report.errors else 0


def _symbol_list(text: str) -> list[str]:
    symbols = [s.strip() for s in text.split(",") if s.strip()]
    if not symbols:
        raise UsageError("--symbols needs at least one symbol")
    for sym in symbols:
        problem = check_symbol(sym)
        if problem:
            raise UsageError(problem)
    return symbols


def _check_args(args) -> None:
    """Command-specific checks that need nothing but the arguments (run before connecting)."""
    if args.command == "load-history":
        if args.list_scenarios:
            if args.scenario or args.symbols or args.days is not None:
                raise UsageError("--list-scenarios takes no --scenario, --symbols or --days")
        elif args.scenario is not None:
            if args.days is not None:
                raise UsageError("--days cannot be used with --scenario (a scenario has its own length)")
            symbols = _symbol_list(args.symbols) if args.symbols is not None else None
            try:
                args.targets = scenario_targets(args.scenario, symbols)
            except ScenarioTargetError as exc:
                raise UsageError(str(exc)) from None
        else:
            if args.symbols is not None:
                raise UsageError("--symbols needs --scenario")
            if args.days is not None and args.days < 1:
                raise UsageError("--days must be at least 1")
    elif args.command == "detect-patterns":
        if args.symbols is not None:
            args.symbol_list = _symbol_list(args.symbols)
        else:
            try:
                scenario_targets(args.scenario)
            except ScenarioTargetError as exc:
                raise UsageError(str(exc)) from None
    elif args.command == "load-market":
        try:
            check_market(args.count, args.prefix)
        except MarketError as exc:
            raise UsageError(str(exc)) from None
    elif args.command == "monitor-ipos":
        if args.days < 1:
            raise UsageError("--days must be at least 1")
    elif args.command == "sync-service":
        if args.max_seconds is not None and not args.max_seconds > 0:
            raise UsageError("--max-seconds must be positive")
    elif args.command == "sync-once":
        if not args.timeout >= 0:
            raise UsageError("--timeout must not be negative")
    elif args.command == "process-ticks":
        if not args.max_seconds > 0:
            raise UsageError("--max-seconds must be positive")
        if not (args.threshold_step > 0 and args.threshold_step != float("inf")):
            raise UsageError("--threshold-step must be a positive number")


def _load_history(args, producer: Producer) -> int:
    if args.list_scenarios:
        return _list_scenarios(args, producer)
    if args.scenario is not None:
        return _load_scenario(args, producer)
    report = producer.loader.load_etf_universes(args.days if args.days is not None else DEFAULT_DAYS)
    _print(args, asdict(report), f"{report.symbols} symbols of {report.universes} universes, "
           f"{report.bars} daily bars, {report.elapsed_s:.2f} s")
    return 0


def _list_scenarios(args, producer: Producer) -> int:
    specs = producer.make_scenario_loader().scenario_specs()
    doc = {"scenarios": [spec.as_dict() for spec in specs.values()]}
    _print(args, doc, "\n".join(
        f"{s.name:<22} {s.symbol:<20} {s.days:>4} days  {s.description}"
        + "".join(f"\n{'':<22} planted {p.pattern} on {p.date.isoformat()}" for p in s.planted)
        for s in specs.values()))
    return 0


def _load_scenario(args, producer: Producer) -> int:
    symbols = _symbol_list(args.symbols) if args.symbols is not None else None
    try:
        report = producer.make_scenario_loader().load_scenario(args.scenario, symbols)
    except ScenarioTargetError as exc:
        raise UsageError(str(exc)) from None
    lines = [f"{s.scenario:<22} {','.join(s.symbols):<20} {s.rows:>5} rows" for s in report.scenarios]
    lines.append(f"{report.rows} rows in synthetic.ohlcv_daily: generation {report.generation_s:.3f} s, "
                 f"loading {report.loading_s:.3f} s")
    _print(args, report.as_dict(), "\n".join(lines))
    return 0


def _scenario_symbols(producer: Producer, scenario: str) -> list[str]:
    """The symbols loaded for ``scenario`` (``all``: for every scenario); the scenarios' own symbols
    when none is loaded (the detector then reports them missing)."""
    loader = producer.make_scenario_loader()
    specs = loader.scenario_specs()
    names = list(specs) if scenario == ALL_SCENARIOS else [scenario]
    loaded = [r[0] for r in _query(producer, "SELECT symbol FROM synthetic.symbols WHERE scenario = ANY(%s) "
                                             "ORDER BY symbol", (names,))]
    return loaded or [specs[n].symbol for n in names]


def _detect_patterns(args, producer: Producer) -> int:
    symbols = (args.symbol_list if args.symbols is not None
               else _scenario_symbols(producer, args.scenario))
    report = producer.make_pattern_detector().detect(symbols)
    doc = report.as_dict()
    lines = [f"{d['date']} {d['symbol']:<20} {d['pattern']}" for d in doc.get("detections", [])]
    lines += [f"ERROR {e}" for e in doc.get("errors", [])]
    lines.append(f"{doc.get('published_count', 0)} pattern events published for "
                 f"{doc.get('symbols', len(symbols))} symbols")
    _print(args, doc, "\n".join(lines))
    return 1 if doc.get("errors") else 0


def _process_ticks(args, producer: Producer) -> int:
    stop = _stop_on_signal()
    processor = producer.make_tick_processor(args.threshold_step)
    report = processor.run(stop.is_set, args.max_seconds)
    doc = report.as_dict()
    _print(args, doc, f"{doc.get('ticks_processed', 0)} ticks, {doc.get('bars_published', 0)} bars, "
           f"{doc.get('thresholds_published', 0)} threshold crossings, last seq {doc.get('last_seq')}"
           + "".join(f"\nERROR {e}" for e in doc.get("errors", [])[:5]))
    return 1 if doc.get("errors") else 0


def _load_market(args, producer: Producer) -> int:
    from .market import load_market

    conn = producer.connect()
    try:
        doc = load_market(conn, args.count, args.prefix, args.as_of)
    finally:
        conn.close()
    tiers = ", ".join(f"{k} {v}" for k, v in doc["by_tier"].items())
    _print(args, doc, f"{doc['symbols']} symbols {args.prefix}* as of {doc['as_of']} "
           f"({doc['active']} active, {doc['recent_listings']} recent listings; {tiers}) "
           f"in {doc['seconds']:.2f} s")
    return 0


def _end_of_day(args, producer: Producer) -> int:
    doc = producer.make_eod_job().run(args.date)
    _print(args, doc, f"eod_complete {doc['trading_date']}: {doc['symbols_processed']} active symbols, "
           f"message {doc['message_id']} (stream entry {doc['stream_id']})")
    return 0


def _monitor_ipos(args, producer: Producer) -> int:
    doc = producer.make_ipo_monitor().scan(args.as_of, args.symbol_prefix, args.days)
    _print(args, doc, f"{len(doc['announced'])} ipo_listed announced"
           + (f": {', '.join(doc['announced'])}" if doc["announced"] else ""))
    return 0


def _sync_report(args, report) -> None:
    doc = report.as_dict()
    _print(args, doc, f"{len(report.syncs)} syncs ({len(report.failed)} failed), {len(report.duplicates)} "
           f"duplicates, {len(report.invalid)} invalid signals, {len(report.errors)} faults, "
           f"{report.published_count} messages")


def _sync_service(args, producer: Producer) -> int:
    from .cache_sync import serve

    stop = _stop_on_signal()
    sync = producer.make_cache_synchronizer(args.universe_prefix, args.symbol_prefix)
    try:
        report = serve(sync, stop, args.max_seconds)
    finally:
        sync.close()
    _sync_report(args, report)
    return 0


def _sync_once(args, producer: Producer) -> int:
    from .cache_sync import sync_once

    sync = producer.make_cache_synchronizer(args.universe_prefix, args.symbol_prefix)
    try:
        report = sync_once(sync, args.timeout)
    finally:
        sync.close()
    _sync_report(args, report)
    return 1 if report.failed else 0


def _query(producer: Producer, sql: str, params: tuple | None = None) -> list[tuple]:
    conn = producer.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def _validate(args, producer: Producer) -> int:
    rows = _query(producer, "SELECT universe_key, symbol, exists_in_symbols, symbol_type, active_status "
                            "FROM validate_etf_universe_symbols()")
    bad = [r for r in rows if not (r[2] and r[3] == "ETF" and r[4])]
    doc = {"members": len(rows), "invalid": [dict(zip(("universe_key", "symbol", "exists", "type",
                                                      "active"), r, strict=True)) for r in bad]}
    text = "\n".join([f"INVALID {r[0]} {r[1]} exists={r[2]} type={r[3]} active={r[4]}" for r in bad]
                     + [f"{len(rows)} members checked, {len(bad)} invalid"])
    _print(args, doc, text)
    return 1 if bad else 0


def _summary(args, producer: Producer) -> int:
    rows = _query(producer, "SELECT theme, symbol_count, last_updated, focus, symbols_sample "
                            "FROM get_etf_universes_summary()")
    doc = {"universes": [{"theme": r[0], "symbol_count": r[1], "last_updated": r[2], "focus": r[3],
                          "symbols_sample": r[4]} for r in rows]}
    text = "\n".join(f"{r[0]:<14} {r[1]:>4}  {', '.join(r[4])}  {r[3] or ''}" for r in rows) or "no universes"
    _print(args, doc, text)
    return 0


def _channels(args, producer: Producer) -> int:
    channels = producer.channels()
    _print(args, {"channels": channels}, "\n".join(f"{k:<24} {v}" for k, v in channels.items()))
    return 0


def _deploy(args, producer: Producer, deploy: Callable | None = None) -> int:
    """Install what this producer version ships into the database (run with an admin identity)."""
    conn = producer.connect()
    try:
        with conn, conn.cursor():
            if deploy is not None:
                deploy(conn)
    finally:
        conn.close()
    name = getattr(deploy, "__module__", "tickstock_producer")
    _print(args, {"deployed": name}, f"deployed {name}")
    return 0


COMMANDS = {"channels": _channels, "deploy": _deploy, "expand": _expand,
            "load-history": _load_history, "detect-patterns": _detect_patterns,
            "process-ticks": _process_ticks,
            "validate": _validate, "summary": _summary,
            "maintain-stock-universes": _maintain_stock_universes,
            "load-market": _load_market, "end-of-day": _end_of_day, "monitor-ipos": _monitor_ipos,
            "sync-service": _sync_service, "sync-once": _sync_once}


def main(argv: list[str] | None = None,
         factory: Callable[[ProducerConfig], Producer] = create_producer,
         deploy: Callable | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        _check_args(args)
        config = ProducerConfig.from_env()
    except UsageError as exc:
        print(f"error: {exc} (see --help)", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: bad TICKSTOCK_PL_* setting: {exc}", file=sys.stderr)
        return 2
    producer = None
    try:
        producer = factory(config)
        if args.command == "deploy":
            return _deploy(args, producer, deploy)
        return COMMANDS[args.command](args, producer)
    except UsageError as exc:
        print(f"error: {exc} (see --help)", file=sys.stderr)
        return 2
    except (psycopg2.OperationalError, redis.ConnectionError, redis.TimeoutError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"error: cannot reach the database or Redis: {first}", file=sys.stderr)
        return 3
    finally:
        if producer is not None:
            producer.close()


if __name__ == "__main__":
    sys.exit(main())
