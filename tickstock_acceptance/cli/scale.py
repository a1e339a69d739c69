"""``make bench ARGS=--scale``: how the cost of the suite and of the system grows (reported, not a gate).

Three measurements, each on embedded servers of its own (``AcceptanceSystem``):

* **symbols** (1,000 / 5,000 / 20,000): a synthetic ETF source of that many symbols (themes of 100,
  every ETF above its theme's filter) expanded by the producer (the expansion time it reports), its
  notifications' delivery latency to a subscriber (p50/p99), the time until TickStockApp's view
  shows every theme of that expansion; and the cache sync of a test market of that many stocks after
  a fifth of their market caps moved (the ``cache_sync_runs`` duration).
* **instances** (1 / 4 / 8 TickStockApp processes, one consumer group, following one 5,000-symbol
  expansion): the time until every instance announced every notification (pub-sub reaches each)
  and the group acknowledged every stream entry (entries are shared out), each instance's resident
  memory, and Redis's connected clients and memory.
* **workers** (``run --workers 1, 2, 4`` of the whole suite): wall time and the item counts.

The figures are printed, written to ``reports/bench/scale.json`` and drawn in
``reports/bench/scale.png`` (matplotlib); ``docs/scale.md`` reads them.
"""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from tickstock_acceptance.checks.cache_sync.flow import CacheSyncFlow
from tickstock_acceptance.checks.resilience.isolation import view_follows_problems
from tickstock_acceptance.checks.resilience.recovery import read_universe_rows
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config.paths import REPORTS_DIR, ROOT
from tickstock_acceptance.config.settings import Settings
from tickstock_acceptance.contract.messaging import STREAM_DB, UNIVERSE_CHANNEL
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.core.statistics import Distribution
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import ProducerRun, producer_for
from tickstock_acceptance.sut.subscriber import AppSubscriber
from tickstock_acceptance.sut.tickstock_app import TickStockAppController

OUT_DIR = REPORTS_DIR / "bench"
MB = 1024 * 1024


def theme_name(i: int) -> str:
    """Theme names the contract accepts (``^[a-z][a-z_]*$``): scale_aa, scale_ab, ..."""
    letters = string.ascii_lowercase
    name = f"scale_{letters[i // 26 % 26]}{letters[i % 26]}"
    return name if i < 676 else f"{name}_{letters[i // 676 % 26]}"


def scaled_source(symbols: int, per_theme: int = M.BENCH_SCALE_ETFS_PER_THEME) -> dict:
    """An ETF source (``contract/reference/etf_universe.json``'s shape) of ``symbols`` test ETFs."""
    themes = {}
    for t in range((symbols + per_theme - 1) // per_theme):
        first = t * per_theme
        themes[theme_name(t)] = {
            "focus": "scale benchmark", "criteria": "synthetic test ETFs",
            "liquidity_filter": {"min_aum": 1.0, "min_avg_volume": 1.0},
            "etfs": [{"symbol": f"TEST_E{i:05d}", "name": f"Test ETF {i}", "aum": 1e9, "avg_volume": 1e6}
                     for i in range(first, min(first + per_theme, symbols))]}
    return {"_source": "synthetic (make bench --scale)", "as_of": "2026-11-01", "themes": themes}


def _expand(system: AcceptanceSystem, symbols: int) -> tuple[ProducerRun, float]:
    """The producer expands a synthetic source of ``symbols``; (its run, the wall time of the call)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="scale-source-", dir=OUT_DIR) as f:
        json.dump(scaled_source(symbols), f)
        f.flush()
        t0 = time.monotonic()
        run = producer_for(system).expand(source=f.name)
        wall = time.monotonic() - t0
    if run.returncode != 0:
        raise SuiteError(f"the producer's expansion of {symbols} symbols failed: {run.describe()}",
                         "run `make acceptance` to see which checklist item it breaks")
    return run, wall


def _stored(system: AcceptanceSystem, run: ProducerRun) -> dict[str, int]:
    themes = [t["theme"] for t in run.report.get("themes", [])]
    rows = read_universe_rows(system, themes)
    return {n: len(r.symbols) for n, r in rows.items() if isinstance(r.symbols, list)}


def _follow_s(what: str, done) -> float:
    """Seconds until ``done()`` holds (bounded by the scale deadline)."""
    t0 = time.monotonic()
    wait_until(done, M.deadline(M.BENCH_SCALE_FOLLOW_DEADLINE_S), what, poll_max_s=0.05)
    return time.monotonic() - t0


def measure_symbols(settings: Settings, symbols: int) -> dict:
    """One size: expansion, delivery, TickStockApp's view (what it could not take is recorded, not
    raised: at some size something breaks, and that is the figure), and the cache sync."""
    system = AcceptanceSystem(settings).open()
    app = sub = flow = None
    try:
        app = TickStockAppController(system, instance="scale").start()
        sub = AppSubscriber(system, channels=(UNIVERSE_CHANNEL,)).start()
        run, wall = _expand(system, symbols)
        published = set(run.report.get("published", []))
        stored = _stored(system, run)
        follow, problems = None, []
        try:
            follow = _follow_s(f"TickStockApp's view following the {symbols}-symbol expansion",
                               lambda: not view_follows_problems(app.view(), run, stored))
        except AssertionError:
            problems = view_follows_problems(app.view(), run, stored)
        wait_until(lambda: len(sub.snapshot()) >= len(published), M.deadline(M.DELIVERY_DEADLINE_S),
                   "the expansion's notifications at the subscriber")
        received = sub.snapshot()
        delivery = Distribution.of([r.latency_ms() for r in received])
        largest = max(len(r.raw.encode()) for r in received)
        health = app.health()
        market = min(symbols, M.BENCH_SCALE_MARKET_MAX)
        flow = CacheSyncFlow(system)
        flow.ensure_market(market)
        flow.start_service()
        flow.move_market(int(market * M.BENCH_SCALE_SYNC_MOVE_SHARE))
        flow.new_trading_day()
        flow.signal()
        sync = flow.wait_for_sync()
        return {"symbols": symbols, "themes": len(run.report.get("themes", [])),
                "messages": len(published), "expansion_s": round(run.report["elapsed_s"], 3),
                "expansion_wall_s": round(wall, 3), "delivery_p50_ms": round(delivery.p50, 2),
                "delivery_p99_ms": round(delivery.p99, 2), "largest_message_bytes": largest,
                "view_follows_s": None if follow is None else round(follow, 3),
                "view_problems": problems[:3], "view_problem_count": len(problems),
                "app_dead_letters": health.get("dead_letters"),
                "market": market, "sync_s": round(sync.duration_s, 3)}
    finally:
        for closer in (flow and flow.close, sub and sub.stop, app and app.close, system.close):
            if closer:
                closer()


def measure_instances(settings: Settings, count: int) -> dict:
    system = AcceptanceSystem(settings).open()
    apps: list[TickStockAppController] = []
    try:
        apps = [TickStockAppController(system, instance=f"scale{i}").start() for i in range(count)]
        before = [app.health() for app in apps]
        run, _ = _expand(system, M.BENCH_SCALE_APP_SYMBOLS)
        sent = len(run.report.get("published", []))

        def everyone_has_it() -> bool:
            now = [app.health() for app in apps]
            announced = all(n["consumed"] - b["consumed"] >= sent for n, b in zip(now, before, strict=True))
            acked = sum(n["acknowledged"] - b["acknowledged"] for n, b in zip(now, before, strict=True))
            return announced and acked >= sent

        follow = _follow_s(f"{count} TickStockApp instances announcing and acknowledging the expansion",
                           everyone_has_it)
        # Concurrent UI queries at every instance: each keeps the database connections its pool opened.
        themes = [t["theme"] for t in run.report.get("themes", [])]
        with ThreadPoolExecutor(max_workers=M.BENCH_SCALE_APP_QUERIES * count) as pool:
            statuses = list(pool.map(lambda job: job[0].get_json(f"/api/universes/{job[1]}")[0],
                                     [(app, themes[i % len(themes)]) for app in apps
                                      for i in range(M.BENCH_SCALE_APP_QUERIES)]))
        rss = [app.process().memory_info().rss / MB for app in apps]
        info = system.redis_client(STREAM_DB).info()
        with system.session("admin") as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tickstock_app'")
            connections = cur.fetchone()[0]
            cur.execute("SHOW max_connections")
            max_connections = int(cur.fetchone()[0])
        return {"instances": count, "messages": sent, "all_have_it_s": round(follow, 3),
                "rss_mb_each_max": round(max(rss), 1), "rss_mb_total": round(sum(rss), 1),
                "redis_clients": info.get("connected_clients"),
                "redis_used_memory_mb": round(info.get("used_memory", 0) / MB, 1),
                "queries_ok": sum(1 for s in statuses if s == 200), "queries": len(statuses),
                "db_connections": connections, "db_max_connections": max_connections}
    finally:
        for app in apps:
            app.close()
        system.close()


def measure_workers(workers: int) -> dict:
    """The whole suite with ``--workers`` (1: serial), into a reports directory of its own."""
    with tempfile.TemporaryDirectory(prefix="scale-run-", dir=OUT_DIR) as reports:
        env = {**os.environ, "TICKSTOCK_REPORTS_DIR": reports}
        argv = [sys.executable, "-m", "tickstock_acceptance", "run", "--no-report"]
        if workers > 1:
            argv += ["--workers", str(workers)]
        t0 = time.monotonic()
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.monotonic() - t0
        try:
            counts = json.loads(Path(reports, "signoff.json").read_text())["counts"]
        except (OSError, ValueError, KeyError):
            counts = {}
    return {"workers": workers, "wall_s": round(wall, 1), "exit": proc.returncode,
            "items_passed": counts.get("passed"), "items_failed": counts.get("failed")}


def plot(figures: dict, path: Path) -> None:
    """Three panels: cost against symbols, suite wall time against workers, instances' follow time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    sym = figures["symbols"]
    xs = [r["symbols"] for r in sym]
    ax = axes[0]
    for key, label in (("expansion_s", "expansion (producer)"),
                       ("view_follows_s", "TickStockApp view follows"), ("sync_s", "cache sync")):
        ax.plot(xs, [r[key] if r[key] is not None else float("nan") for r in sym], marker="o", label=label)
    ax.set(title="Cost against symbols", xlabel="symbols", ylabel="seconds", xscale="log")
    ax.legend(loc="upper left")
    ax2 = ax.twinx()
    ax2.plot(xs, [r["delivery_p99_ms"] for r in sym], "k--", marker="x", label="delivery p99 (ms)")
    ax2.set_ylabel("delivery p99, ms")
    ax2.legend(loc="lower right")
    wk = figures["workers"]
    axes[1].bar([str(r["workers"]) for r in wk], [r["wall_s"] for r in wk], color="tab:green")
    axes[1].set(title="Whole suite, wall time", xlabel="--workers", ylabel="seconds")
    for i, r in enumerate(wk):
        axes[1].annotate(f"{r['wall_s']:.0f} s", (i, r["wall_s"]), ha="center", va="bottom")
    inst = figures["instances"]
    ax = axes[2]
    ks = [r["instances"] for r in inst]
    conns = [r["db_connections"] for r in inst]
    ax.plot(ks, conns, marker="o", label="database connections (measured)")
    per = conns[-1] / ks[-1]
    ax.plot([ks[-1], 50], [conns[-1], per * 50], "b:", label=f"at {per:.0f} per instance")
    ax.axhline(100, color="grey", linestyle="--", label="PostgreSQL's default max_connections")
    ax.set(title="TickStockApp instances after concurrent UI queries", xlabel="instances",
           ylabel="database connections")
    ax3 = ax.twinx()
    ax3.plot(ks, [r["rss_mb_total"] for r in inst], "r--", marker="s", label="resident memory, all (MB)")
    ax3.set_ylabel("MB")
    ax.legend(loc="upper left", fontsize="small")
    ax3.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bench_scale(settings: Settings) -> int:
    if settings.external:
        raise SuiteError("the scale section starts servers per measurement: embedded mode only",
                         "run it without TEST_DB_*/TEST_REDIS_*")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    figures: dict = {"symbols": [], "instances": [], "workers": [], "cores": psutil.cpu_count()}
    print("TickStock Phase 3 benchmark — how cost grows (embedded servers per measurement)", flush=True)
    for symbols in M.BENCH_SCALE_SYMBOLS:
        r = measure_symbols(settings, symbols)
        figures["symbols"].append(r)
        view = (f"view follows {r['view_follows_s']:.2f} s after it ({r['app_dead_letters']} dead letters)"
                if r["view_follows_s"] is not None
                else f"view does NOT follow ({r['view_problem_count']} problems, e.g. "
                     f"{r['view_problems'][:1]}; {r['app_dead_letters']} dead letters)")
        print(f"  {symbols:>6} symbols ({r['themes']} themes, {r['messages']} messages, largest "
              f"{r['largest_message_bytes'] / 1024:.1f} KiB): expansion {r['expansion_s']:.2f} s, "
              f"delivery p50 {r['delivery_p50_ms']:.1f} ms p99 {r['delivery_p99_ms']:.1f} ms, {view}; "
              f"sync of {r['market']} stocks {r['sync_s']:.2f} s", flush=True)
    for count in M.BENCH_SCALE_APPS:
        r = measure_instances(settings, count)
        figures["instances"].append(r)
        print(f"  {count:>2} TickStockApp instances: all have the {r['messages']} notifications "
              f"{r['all_have_it_s']:.2f} s after the expansion; resident memory "
              f"{r['rss_mb_each_max']:.0f} MB "
              f"each ({r['rss_mb_total']:.0f} MB in all); Redis {r['redis_clients']} clients, "
              f"{r['redis_used_memory_mb']:.1f} MB; after {r['queries']} concurrent UI queries "
              f"({r['queries_ok']} answered 200) {r['db_connections']} database connections "
              f"(max_connections {r['db_max_connections']})", flush=True)
    for workers in M.BENCH_SCALE_WORKERS:
        r = measure_workers(workers)
        figures["workers"].append(r)
        print(f"  whole suite, --workers {workers}: {r['wall_s']:.0f} s wall, items passed "
              f"{r['items_passed']}, failed {r['items_failed']} (exit {r['exit']})", flush=True)
    (OUT_DIR / "scale.json").write_text(json.dumps(figures, indent=2))
    plot(figures, OUT_DIR / "scale.png")
    print(f"figures: {OUT_DIR / 'scale.json'}\nplot:    {OUT_DIR / 'scale.png'}")
    return 0 if all(r["exit"] == 0 for r in figures["workers"]) else 1
