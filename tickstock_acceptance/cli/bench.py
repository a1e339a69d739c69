"""``make bench``: figures for the ETF universe slice (reported, not a CI gate).

Settings as for ``run`` (``load_settings``): defaults, the ``TEST_*`` environment variables, then
``-D key=value`` arguments (``make bench ARGS='-D ...'``); an unknown key or a bad value is one
line and exit 2. By default on embedded throwaway PostgreSQL and Redis: expansion time for the
200+ symbol universe (the producer under test runs as its own process, as in every check; the
figure is the expansion time it reports, so interpreter start-up is not counted),
the four functions' latencies, notification delivery p50/p99 next to raw redis-py pub-sub p99
measured in the same run (same subscriber code, same machine, interleaved), messages per second
sustained through the producer (RED-4's burst, judged for stream loss) next to raw redis-py doing the
same Redis work, scenario generation and loading,
real-time processing, the cache sync of the 5,000-symbol market alone and beside readers and writers
(with the readers' p95), TickStockApp's HTTP query latency under concurrent clients, recovery times
after PostgreSQL's immediate stop and Redis's kill -9 (RES-1's machinery, repeated), and the
project's aims next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from tickstock_acceptance.checks.cache_sync.flow import CacheSyncFlow
from tickstock_acceptance.checks.perf.realtime import RealtimeUnderLoad, TapeOracle
from tickstock_acceptance.checks.redis.overflow import HighFrequencyUpdates
from tickstock_acceptance.checks.resilience.recovery import DatabaseRecovery, RedisRecovery
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config import targets as T
from tickstock_acceptance.config.settings import Settings, load_settings
from tickstock_acceptance.contract.cache_sync import MARKET_SIZE
from tickstock_acceptance.contract.messaging import (
    STREAM_DB,
    TICK_STREAM,
    UNIVERSE_CHANNEL,
    live,
    namespaced,
    stream_key,
)
from tickstock_acceptance.contract.reference import reference_themes, should_succeed
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.core.statistics import Distribution
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem, preflight
from tickstock_acceptance.sut.producer import producer_for
from tickstock_acceptance.sut.realtime_processing import RawObserver, TickProcessor, clean_realtime_streams
from tickstock_acceptance.sut.subscriber import AppSubscriber
from tickstock_acceptance.sut.tick_feeder import TickFeeder, TickTape, redis_sink
from tickstock_acceptance.sut.tickstock_app import TickStockAppController, tickstock_app_for

RAW_CHANNEL = "tickstock.bench.raw"


def _dist(samples) -> str:
    d = Distribution.of(samples)
    return f"p50 {d.p50:8.3f}  p95 {d.p95:8.3f}  p99 {d.p99:8.3f}  max {d.max:8.3f}  (n={d.count})"


def _spread(samples) -> str:
    s = sorted(samples)
    return f"min {s[0]:8.3f}  median {statistics.median(s):8.3f}  max {s[-1]:8.3f}  (n={len(s)})"


def _time_sql(system, role, sql, args=(), n=M.BENCH_FUNCTION_CALLS) -> list[float]:
    out = []
    with system.session(role) as conn, conn.cursor() as cur:
        for _ in range(n):
            t0 = time.perf_counter()
            cur.execute(sql, args)
            cur.fetchall()
            out.append((time.perf_counter() - t0) * 1000)
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, like every other bad input of the suite
        raise SuiteError(f"bad arguments: {message}",
                         "python -m tickstock_acceptance.cli.bench [-D key=value ...]")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m tickstock_acceptance.cli.bench", description=__doc__.splitlines()[0])
    p.add_argument("-D", dest="define", action="append", default=[], metavar="KEY=VALUE",
                   help="setting override, as for `python -m tickstock_acceptance run`")
    p.add_argument("--scale", action="store_true",
                   help="only the scale section: cost against symbols, TickStockApp instances and "
                        "workers, with a plot (cli/scale.py; about 10 minutes)")
    return p


def bench_settings(argv: list[str] | None = None, environ=None) -> Settings:
    """The benchmark's settings: environment and ``-D`` arguments, exactly as ``run`` reads them."""
    from tickstock_acceptance.cli import _userdata

    args = _parser().parse_args(argv)
    return load_settings(os.environ if environ is None else environ, _userdata(args.define))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; a problem with the input or environment is one line on stderr and exit 2."""
    try:
        settings = bench_settings(argv)
        print(f"Target: {settings.describe()}", flush=True)
        preflight(settings)
        if _parser().parse_args(argv).scale:
            from tickstock_acceptance.cli.scale import bench_scale

            return bench_scale(settings)
        return _bench(settings)
    except SuiteError as exc:
        print(f"ERROR: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code


def _bench(settings: Settings) -> int:
    system = AcceptanceSystem(settings).open()
    try:
        rd = system.redis_endpoint
        producer = producer_for(system)
        sub = AppSubscriber(system, channels=(UNIVERSE_CHANNEL, RAW_CHANNEL)).start()
        expansions, raw_sent = [], 0
        # Interleaved: each expansion's notifications, then a batch of raw messages, so the two
        # distributions are taken under the same conditions (a noisy moment hits both). The raw
        # messages come from a process of their own, like the producer's: published from this process
        # they wait for the subscriber thread's GIL (a 5 ms switch interval), which made raw pub-sub's
        # p99 several ms and the comparison meaningless.
        for _ in range(M.BENCH_EXPANSIONS):
            expansions.append(producer.expand())
            _publish_raw(rd, M.BENCH_RAW_PER_EXPANSION)
            raw_sent += M.BENCH_RAW_PER_EXPANSION
        runs = [*expansions, producer.load_history(M.BENCH_HISTORY_DAYS)]
        failed = [e.describe() for e in runs if e.returncode != 0]
        if failed:
            raise SuiteError(f"the producer failed during the benchmark: {failed[0]}",
                             "run `make acceptance` to see which checklist item it breaks")
        sent = sum(len(e.report.get("published", [])) for e in expansions)
        wait_until(lambda: _count(sub, UNIVERSE_CHANNEL) >= sent and _count(sub, RAW_CHANNEL) >= raw_sent,
                   M.deadline(M.DELIVERY_DEADLINE_S), "notifications and raw messages received")
        delivery = [r.latency_ms() for r in sub.snapshot() if r.channel == UNIVERSE_CHANNEL]
        raw_lat = [r.latency_ms() for r in sub.snapshot() if r.channel == RAW_CHANNEL]
        sub.stop()

        fn = {
            "get_etf_universe(theme, true)":
                _time_sql(system, "consumer", "SELECT get_etf_universe(%s, true)", ("technology",)),
            "get_etf_universes_summary()":
                _time_sql(system, "consumer", "SELECT * FROM get_etf_universes_summary()"),
            "validate_etf_universe_symbols()":
                _time_sql(system, "consumer", "SELECT * FROM validate_etf_universe_symbols()"),
            "update_etf_universe(test theme)":
                _time_sql(system, "producer", "SELECT update_etf_universe(%s, %s)",
                          ("test_bench", json.dumps(["SPY", "QQQ"]))),
        }
        exp_ms = [e.report["elapsed_s"] * 1000 for e in expansions]
        print(f"TickStock Phase 3 benchmark — ETF universe slice ({settings.mode}, ms)")
        first = expansions[0].report
        print(f"expansion ({first['total_symbols']} symbols, {len(first['themes'])} themes): "
              f"{_dist(exp_ms)}")
        for name, samples in fn.items():
            print(f"{name:<34} {_dist(samples)}")
        print(f"{'notification delivery':<34} {_dist(delivery)}")
        print(f"{'raw redis-py pub-sub':<34} {_dist(raw_lat)}")
        ui_p95 = Distribution.of(fn["get_etf_universe(theme, true)"]).p95
        d99, r99 = Distribution.of(delivery).p99, Distribution.of(raw_lat).p99
        exp_aim, ui_aim, raw_aim = (M.BENCH_EXPANSION_AIM_MS, M.BENCH_UI_QUERY_P95_AIM_MS,
                                    M.BENCH_DELIVERY_P99_VS_RAW_AIM)
        print("aims: expansion <= {:g} ms: {}; UI query p95 <= {:g} ms: {}; delivery p99 <= {:g}x raw: {} "
              "({:.2f}x)".format(exp_aim, "met" if statistics.median(exp_ms) <= exp_aim else "MISSED",
                                 ui_aim, "met" if ui_p95 <= ui_aim else "MISSED",
                                 raw_aim, "met" if d99 <= raw_aim * r99 else "MISSED",
                                 d99 / r99 if r99 else float("inf")))
        _bench_throughput(system, producer)
        _bench_scenarios(producer)
        _bench_realtime(system, producer)
        _bench_sync(system)
        app = tickstock_app_for(system)
        try:
            _wait_app_healthy(app)
            _bench_http(app)
            _bench_database_recovery(system, producer, app)
            _bench_redis_recovery(system, producer, app)
        finally:
            app.close()
            system._tickstock_app_controller = None
    finally:
        system.close()
    return 0


RAW_PUBLISHER = """
import json, sys
from datetime import UTC, datetime
import redis
client = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), db=int(sys.argv[3]))
client.ping()
for i in range(int(sys.argv[5])):
    stamp = datetime.now(UTC).isoformat(timespec="microseconds")
    client.publish(sys.argv[4], json.dumps({"i": i, "timestamp": stamp}))
"""


def _publish_raw(rd, count: int) -> None:
    """``count`` raw redis-py PUBLISHes, one at a time, from a process of their own (connected first)."""
    done = subprocess.run([sys.executable, "-c", RAW_PUBLISHER, rd.host, str(rd.port), str(STREAM_DB),
                           live(RAW_CHANNEL), str(count)], capture_output=True, text=True,
                          timeout=M.deadline(M.DELIVERY_DEADLINE_S))
    if done.returncode != 0:
        raise SuiteError(f"the raw redis-py publisher failed: {done.stderr.strip().splitlines()[-1:]}",
                         "check that the embedded Redis is running")


def _bench_throughput(system: AcceptanceSystem, producer) -> None:
    """Messages per second sustained through the producer (RED-4's burst: several ``expand`` processes,
    each message one database write and one PUBLISH + XADD transaction), judged for stream loss by the
    delivery checker; next to raw redis-py doing the same Redis work (MULTI, PUBLISH, XADD, EXEC per
    message) from one client, in the same run."""
    flow = HighFrequencyUpdates(system)
    try:
        flow.follow_stream()
        burst = flow.publish(producer, M.BENCH_THROUGHPUT_MESSAGES, M.BENCH_THROUGHPUT_PRODUCERS)
        problems = flow.burst_problems(M.BENCH_THROUGHPUT_MESSAGES)
        report = flow.followed_delivery()
    finally:
        flow.close()
    raw = system.redis_client(STREAM_DB)
    key, channel = stream_key(RAW_CHANNEL), live(RAW_CHANNEL)  # in the run's namespace, if it has one
    payload = json.dumps({"i": 0, "timestamp": _now_iso(), "pad": "x" * 200})
    try:
        t0 = time.perf_counter()
        for _ in range(M.BENCH_THROUGHPUT_MESSAGES):
            pipe = raw.pipeline(transaction=True)
            pipe.publish(channel, payload)
            pipe.xadd(key, {"data": payload})
            pipe.execute()
        raw_rate = M.BENCH_THROUGHPUT_MESSAGES / (time.perf_counter() - t0)
    finally:
        raw.delete(key)
        raw.close()
    print(f"throughput ({M.BENCH_THROUGHPUT_MESSAGES:,} universe updates, msg/s):")
    print(f"  through the producer, {len(burst.runs)} processes   {burst.rate:8,.0f}  ({burst.added:,} in "
          f"{burst.seconds:.1f} s; stream: {report.summary()})")
    print(f"  raw redis-py, same Redis work       {raw_rate:8,.0f}  (one client, one MULTI/EXEC per message)")
    for problem in problems + report.problems():
        print(f"  problem: {problem}")
    aim = M.BENCH_THROUGHPUT_AIM
    met = burst.rate >= aim and not report.problems()
    print(f"aim: >= {aim:,.0f} msg/s sustained through the producer with zero stream loss: "
          f"{'met' if met else 'MISSED'}")


def _bench_scenarios(producer) -> None:
    """Generation and loading of every scenario (SCN-5's work): the producer's own figures and the
    whole process's wall time, against the aim."""
    runs = [producer.load_scenario("all") for _ in range(M.BENCH_SCENARIO_LOADS)]
    failed = [r.describe() for r in runs if r.returncode != 0]
    if failed:
        raise SuiteError(f"the producer failed to load the scenarios: {failed[0]}",
                         "run `make acceptance TAGS=@scenarios` to see which checklist item it breaks")
    rows = runs[0].report.get("rows", 0)
    print(f"generation + loading of every scenario ({rows} rows, {len(runs)} runs, ms):")
    for name, samples in (("generation (producer)", [r.report["generation_s"] * 1000 for r in runs]),
                          ("loading (producer)", [r.report["loading_s"] * 1000 for r in runs]),
                          ("whole process (wall)", [r.wall_s * 1000 for r in runs])):
        print(f"  {name:<32} {_dist(samples)}")
    wall = statistics.median(r.wall_s for r in runs)
    print("aim: every scenario generated and loaded in <= {:g} s: {} (median {:.2f} s)".format(
        M.BENCH_SCENARIO_ALL_AIM_S, "met" if wall <= M.BENCH_SCENARIO_ALL_AIM_S else "MISSED", wall))


def _bench_sync(system: AcceptanceSystem) -> None:
    """The cache sync of the 5,000-symbol market (SYNC-5/PERF-4's work): duration alone and beside
    TickStockApp readers and real-time writers, the readers' p95 during the loaded syncs, each after
    1,000 market caps moved; against the aims."""
    flow = CacheSyncFlow(system)
    alone, loaded, reads = [], [], []
    try:
        flow.ensure_market()
        flow.start_service()
        for _ in range(M.BENCH_SYNC_RUNS):
            flow.move_market(M.BENCH_SYNC_MOVES)
            flow.new_trading_day()
            flow.signal()
            alone.append(flow.wait_for_sync().duration_s * 1000)
            flow.move_market(M.BENCH_SYNC_MOVES)
            loaded.append(flow.sync_new_day_beside(readers=4, writers=2).duration_s * 1000)
            reads += flow.during_sync("readers")
    finally:
        flow.close()
    print(f"cache sync of the {MARKET_SIZE}-symbol market after {M.BENCH_SYNC_MOVES} market caps moved "
          f"({M.BENCH_SYNC_RUNS} runs, ms):")
    print(f"  {'alone':<32} {_dist(alone)}")
    print(f"  {'beside 4 readers + 2 writers':<32} {_dist(loaded)}")
    print(f"  {'read latency during those syncs':<32} {_dist(reads)}")
    worst, p95 = max(alone + loaded) / 1000, Distribution.of(reads).p95
    print("aims: sync <= {:g} s: {} (slowest {:.2f} s); read p95 during the sync <= {:g} ms: {}".format(
        M.BENCH_SYNC_AIM_S, "met" if worst <= M.BENCH_SYNC_AIM_S else "MISSED", worst,
        T.UI_QUERY.limit, "met" if p95 <= T.UI_QUERY.limit else "MISSED"))


def _bench_realtime(system: AcceptanceSystem, producer) -> None:
    """Real-time processing (PERF-3's parts): tick-to-event latency at the feeder's fixed rate without
    and with full scenario loads, and the processor's throughput draining a backlog of ticks."""
    measured = RealtimeUnderLoad(system)
    try:
        measured.start(producer, M.REALTIME_TICK_RATE)
        problems = measured.wait_before() + measured.load_during(producer)
        judged = measured.finish()
    finally:
        measured.close()
    print(f"real-time processing at {M.REALTIME_TICK_RATE} ticks/s, tick-to-event latency (ms):")
    for window, label in (("before", "without a scenario load"), ("during", "during full scenario loads")):
        samples = judged.latencies_ms.get(window) or [float("nan")]
        print(f"  {label:<32} {_dist(samples)}  ticks processed {judged.processed.get(window, 0)}")
    for problem in problems + judged.loss:
        print(f"  problem: {problem}")

    client = system.redis_client(STREAM_DB)
    clean_realtime_streams(client)
    processor = TickProcessor(system, producer).start()
    observer = RawObserver(system).start()
    tape = TickTape(M.REALTIME_TAPE_SEED, M.REALTIME_SYMBOLS, M.REALTIME_TICKS_PER_MINUTE)
    oracle = TapeOracle().advance(tape.first(M.BENCH_REALTIME_BACKLOG_TICKS))
    feeder = TickFeeder(tape, redis_sink(client, namespaced(TICK_STREAM)), rate=1e9, max_batch=1000,
                        max_ticks=M.BENCH_REALTIME_BACKLOG_TICKS)
    try:
        feeder.start()
        wait_until(lambda: feeder.sent >= M.BENCH_REALTIME_BACKLOG_TICKS, M.deadline(M.DELIVERY_DEADLINE_S),
                   "the backlog written")
        feeder.stop()
        wait_until(lambda: observer.count() >= oracle.expected_events,
                   M.deadline(M.REALTIME_SETTLE_DEADLINE_S), "every event of the backlog received")
    finally:
        feeder.stop()
        events = observer.stop()
        processor.stop()
        clean_realtime_streams(client)
        client.close()
    drained = max(e.received_at for e in events) - feeder.sent_at[0]
    ticks = M.BENCH_REALTIME_BACKLOG_TICKS
    print(f"  throughput draining {ticks} ticks: {ticks / drained:,.0f} ticks/s "
          f"({len(events)} events in {drained:.2f} s)")


def _wait_app_healthy(app: TickStockAppController) -> None:
    def up() -> bool:
        health = app.health()
        return all((health.get(s) or {}).get("state") == "up" for s in ("database", "redis"))

    wait_until(up, M.deadline(M.ISOLATION_DEADLINE_S),
               "TickStockApp's health showing the database and Redis up")


def _bench_http(app: TickStockAppController) -> None:
    """TickStockApp's HTTP queries under concurrent clients: a pool of threads, each sending its requests
    back to back (``/api/universes/<theme>``, every few ``/api/view``); latency per request as a
    client sees it (a new connection each, as the suite's other clients) and the throughput."""
    themes = [n for n, t in reference_themes().items() if should_succeed(t)]
    clients, per = M.BENCH_HTTP_CLIENTS, M.BENCH_HTTP_REQUESTS_PER_CLIENT
    ready = threading.Barrier(clients)

    def client(k: int) -> list[tuple[str, int, float, str]]:
        ready.wait()
        out = []
        for i in range(per):
            n = k * per + i
            path = ("/api/view" if n % M.BENCH_HTTP_VIEW_EVERY == 0
                    else f"/api/universes/{themes[n % len(themes)]}")
            t0 = time.perf_counter()
            try:
                status, body = app.get_json(path, timeout_s=M.RES_HTTP_TIMEOUT_S)
                error = "" if status == 200 else str(body)[:120]
            except (OSError, urllib.error.URLError) as exc:
                status, error = 0, f"{type(exc).__name__}: {exc}"[:120]
            out.append((path, status, (time.perf_counter() - t0) * 1000, error))
        return out

    with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="bench-http") as pool:
        t0 = time.perf_counter()
        futures = [pool.submit(client, k) for k in range(clients)]
        results = [r for f in futures for r in f.result()]
        wall = time.perf_counter() - t0
    ok = [r for r in results if r[1] == 200]
    failed = [r for r in results if r[1] != 200]
    print(f"TickStockApp HTTP queries, {clients} concurrent clients x {per} requests (ms):")
    for label, rows in (("GET /api/universes/<theme>", [r for r in ok if r[0] != "/api/view"]),
                        ("GET /api/view", [r for r in ok if r[0] == "/api/view"]), ("all", ok)):
        print(f"  {label:<32} {_dist([r[2] for r in rows] or [float('nan')])}")
    example = f", e.g. {failed[0][0]} -> {failed[0][1]} {failed[0][3]}" if failed else ""
    print(f"  throughput {len(ok) / wall:,.0f} answered requests/s ({len(results)} requests in "
          f"{wall:.2f} s); errors {len(failed)}{example}")


def _bench_database_recovery(system: AcceptanceSystem, producer, app: TickStockAppController) -> None:
    """RES-1's database half, repeated: ``pg_ctl stop -m immediate`` while the producer writes round after
    round and a client asks TickStockApp for a universe, down for a moment, restarted; seconds from the
    server answering again to the producer's first whole round and TickStockApp's first answer."""
    restart, producer_s, app_s, missed = [], [], [], []
    for _ in range(M.BENCH_RECOVERY_REPETITIONS):
        recovery = DatabaseRecovery(system)
        try:
            recovery.use_app(SimpleNamespace(app=app, app_pid=app.pid))
            recovery.start_producer(producer)
            recovery.start_queries()
            recovery.crash_and_restart()
        finally:
            recovery.close()
        restart.append(recovery.restart_s)
        _collect(recovery.producer_recovery_s(), producer_s, missed,
                 f"the producer: {recovery.producer_last_error()}")
        _collect(recovery.app_recovery_s(), app_s, missed, "TickStockApp's universe query")
    _print_recovery("PostgreSQL's immediate stop", "server restart (request to first query)",
                    restart, producer_s, app_s, missed, M.BENCH_DATABASE_RECOVERY_AIM_S,
                    ("producer: first whole round written", "TickStockApp: first universe answered"))


def _bench_redis_recovery(system: AcceptanceSystem, producer, app: TickStockAppController) -> None:
    """RES-1's Redis half, repeated: ``kill -9`` of the run's Redis (durable for the measurement) while the
    producer publishes, down for a moment, restarted; seconds from the server answering a PING to the
    producer's first entry on the universe stream and TickStockApp's health showing Redis up with its
    consumer group reading again."""
    restart, producer_s, app_s, missed = [], [], [], []
    for _ in range(M.BENCH_RECOVERY_REPETITIONS):
        recovery = RedisRecovery(system)
        try:
            recovery.use_app(SimpleNamespace(app=app, app_pid=app.pid))
            recovery.make_durable()
            missed += recovery.app_caught_up_problems()
            recovery.start_producer(producer)
            recovery.kill_and_restart()
        finally:
            recovery.close()
        restart.append(recovery.restart_s)
        _collect(recovery.producer_recovery_s(), producer_s, missed, "the producer's publishing")
        _collect(recovery.app_recovery_s(), app_s, missed, "TickStockApp's health and consumer group")
    _print_recovery("Redis's kill -9", "server restart (request to PING)", restart, producer_s, app_s,
                    missed, M.BENCH_REDIS_RECOVERY_AIM_S,
                    ("producer: first entry published", "TickStockApp: Redis up, group reading"))


def _collect(seconds: float | None, into: list[float], missed: list[str], who: str) -> None:
    if seconds is None:
        missed.append(f"{who} did not work again within {M.deadline(M.RECOVERY_WAIT_S):g} s")
    else:
        into.append(seconds)


def _print_recovery(fault: str, restart_label: str, restart: list[float], producer_s: list[float],
                    app_s: list[float], missed: list[str], aim: float, labels: tuple[str, str]) -> None:
    print(f"recovery after {fault}, {len(restart)} repetitions (s; the components from the server "
          f"answering again):")
    for label, samples in ((restart_label, restart), (labels[0], producer_s), (labels[1], app_s)):
        print(f"  {label:<40} {_spread(samples) if samples else 'no sample'}")
    for problem in missed:
        print(f"  problem: {problem}")
    verdicts = [f"{who} " + ("MISSED (not every repetition recovered)" if len(samples) < len(restart)
                             else "met" if statistics.median(samples) <= aim else "MISSED")
                for who, samples in (("producer", producer_s), ("TickStockApp", app_s))]
    server = fault.split("'")[0]
    print(f"aim: {server} recovery <= {aim:g} s (median): {'; '.join(verdicts)}")


def _count(sub: AppSubscriber, channel: str) -> int:
    return sum(1 for r in sub.snapshot() if r.channel == channel)


def _now_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="microseconds")


if __name__ == "__main__":
    sys.exit(main())
