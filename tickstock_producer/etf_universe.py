"""EtfUniverseManager: builds the ETF universes from the reference data and announces them.

Source: ``contract/reference/etf_universe.json`` (the contract's reference ETF facts, owned by the
acceptance suite; the reference producer reads the same file): themes → focus, criteria,
liquidity_filter, ETFs with name, AUM in USD and average daily volume in shares). For each theme the manager

1. applies the theme's liquidity filter: an ETF stays only if ``aum >= min_aum`` and
   ``avg_volume >= min_avg_volume`` (a missing threshold does not filter);
2. writes the kept symbols through ``update_etf_universe(theme, symbols, metadata)`` as the
   producer database role, one transaction per theme; ``metadata`` carries focus, criteria, the
   ``liquidity_filter`` used (the function stores it in ``cache_entries.liquidity_filter``), the
   per-symbol facts under ``symbol_facts`` (so ``get_etf_universe(theme, true)`` can re-apply the
   filter) and the excluded symbols;
3. after all themes, publishes one ``universe_expansion_complete`` and then one ``theme_updated``
   per theme written successfully. A theme whose write fails is reported ``failed`` (with the
   error) in ``universe_expansion_complete`` and gets no ``theme_updated``; it is never swallowed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg2
from psycopg2.extras import Json

from .events import EventPublisher

DATA_FILE = Path(__file__).resolve().parents[1] / "contract" / "reference" / "etf_universe.json"
SERVICE = "tickstock_pl.etf_universe_manager"


@dataclass(frozen=True)
class Etf:
    symbol: str
    name: str
    theme: str
    aum: float
    avg_volume: float


@dataclass(frozen=True)
class Theme:
    name: str
    focus: str
    criteria: str
    liquidity_filter: dict
    etfs: tuple[Etf, ...]


class SourceError(ValueError):
    """An ETF source file that does not have the shape of ``contract/reference/etf_universe.json``."""


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SourceError(f"{where} must be a number, not {json.dumps(value)[:40]}")
    return float(value)


def _text(value, where: str) -> str:
    if not isinstance(value, str):
        raise SourceError(f"{where} must be a string, not {json.dumps(value)[:40]}")
    return value


def _theme(name: str, t) -> Theme:
    where = f"themes.{name}"
    if not isinstance(t, dict):
        raise SourceError(f"{where} must be an object with an 'etfs' list")
    if not isinstance(t.get("etfs"), list):
        raise SourceError(f"{where}.etfs must be a list of ETFs")
    flt = t.get("liquidity_filter") or {}
    if not isinstance(flt, dict):
        raise SourceError(f"{where}.liquidity_filter must be an object")
    for key, value in flt.items():
        _number(value, f"{where}.liquidity_filter.{key}")
    etfs = []
    for n, e in enumerate(t["etfs"]):
        at = f"{where}.etfs[{n}]"
        if not isinstance(e, dict):
            raise SourceError(f"{at} must be an object with symbol, aum and avg_volume")
        missing = [k for k in ("symbol", "aum", "avg_volume") if k not in e]
        if missing:
            raise SourceError(f"{at} lacks {', '.join(missing)}")
        etfs.append(Etf(_text(e["symbol"], f"{at}.symbol").strip().upper(),
                        _text(e.get("name", ""), f"{at}.name"), name,
                        _number(e["aum"], f"{at}.aum"), _number(e["avg_volume"], f"{at}.avg_volume")))
    return Theme(name, _text(t.get("focus", ""), f"{where}.focus"),
                 _text(t.get("criteria", ""), f"{where}.criteria"), dict(flt), tuple(etfs))


def load_source(path: Path | str = DATA_FILE) -> dict[str, Theme]:
    """Themes of the reference data file, in file order.

    A file of another shape raises ``SourceError`` (a ``ValueError``) naming the first bad field,
    so the command line can report it in one line instead of failing half-way through a run.
    """
    raw = json.loads(Path(path).read_text())
    if not isinstance(raw, dict) or not isinstance(raw.get("themes"), dict):
        raise SourceError("the file must be a JSON object with a 'themes' object (theme name → theme)")
    return {name: _theme(name, t) for name, t in raw["themes"].items()}


def passes_filter(etf: Etf, liquidity_filter: dict) -> bool:
    min_aum = liquidity_filter.get("min_aum")
    min_volume = liquidity_filter.get("min_avg_volume")
    return ((min_aum is None or etf.aum >= min_aum)
            and (min_volume is None or etf.avg_volume >= min_volume))


def apply_liquidity_filter(theme: Theme) -> tuple[list[Etf], list[Etf]]:
    """(kept, excluded) ETFs of a theme under its liquidity filter."""
    kept = [e for e in theme.etfs if passes_filter(e, theme.liquidity_filter)]
    excluded = [e for e in theme.etfs if not passes_filter(e, theme.liquidity_filter)]
    return kept, excluded


@dataclass
class ThemeResult:
    theme: str
    status: str  # completed | failed
    symbol_count: int = 0
    excluded_count: int = 0
    action: str | None = None
    added_count: int = 0
    removed_count: int = 0
    error: str | None = None


@dataclass
class ExpansionReport:
    producer_id: str
    themes: list[ThemeResult] = field(default_factory=list)
    started_at: float = 0.0  # wall clock (epoch s)
    finished_at: float = 0.0
    elapsed_s: float = 0.0
    writes_started_at: float = 0.0   # wall clock around the database writes (all themes)
    writes_finished_at: float = 0.0
    published: list[str] = field(default_factory=list)  # message ids, in publish order

    @property
    def succeeded(self) -> list[ThemeResult]:
        return [t for t in self.themes if t.status == "completed"]

    @property
    def failed(self) -> list[ThemeResult]:
        return [t for t in self.themes if t.status == "failed"]

    @property
    def total_symbols(self) -> int:
        return sum(t.symbol_count for t in self.succeeded)

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(total_symbols=self.total_symbols, success_count=len(self.succeeded),
                   failed_count=len(self.failed))
        return out


class EtfUniverseManager:
    """Writes ETF universes via ``update_etf_universe`` and publishes the notifications."""

    def __init__(self, connect: Callable[[], psycopg2.extensions.connection],
                 publisher: EventPublisher, source: dict[str, Theme] | None = None) -> None:
        self.connect = connect
        self.publisher = publisher
        self.source = source if source is not None else load_source()

    # Broken variants in the project's tests override these two hooks.
    def select_members(self, theme: Theme) -> tuple[list[Etf], list[Etf]]:
        return apply_liquidity_filter(theme)

    def announce(self, event_type: str, data: dict) -> str:
        return self.publisher.publish(event_type, data).message_id

    def metadata(self, theme: Theme, kept: list[Etf], excluded: list[Etf]) -> dict:
        return {
            "focus": theme.focus,
            "criteria": theme.criteria,
            "liquidity_filter": theme.liquidity_filter,
            "symbol_facts": {e.symbol: {"name": e.name, "aum": e.aum, "avg_volume": e.avg_volume}
                             for e in (*kept, *excluded)},
            "excluded_symbols": sorted(e.symbol for e in excluded),
            "source": "contract/reference/etf_universe.json",
        }

    def expand(self, themes: Iterable[str] | None = None) -> ExpansionReport:
        names = list(themes) if themes is not None else list(self.source)
        unknown = [n for n in names if n not in self.source]
        if unknown:
            raise KeyError(f"unknown theme(s): {', '.join(unknown)}; known: {', '.join(self.source)}")
        report = ExpansionReport(producer_id=self.publisher.producer_id, started_at=time.time())
        t0 = time.perf_counter()
        conn = self.connect()
        try:
            report.writes_started_at = time.time()
            for name in names:
                report.themes.append(self._write_theme(conn, self.source[name]))
            report.writes_finished_at = time.time()
        finally:
            conn.close()
        report.published.append(self.announce("universe_expansion_complete", {
            "themes_processed": len(report.themes),
            "total_symbols": report.total_symbols,
            "success_count": len(report.succeeded),
            "failed_count": len(report.failed),
            "themes": [_theme_summary(t) for t in report.themes],
        }))
        for t in report.succeeded:
            report.published.append(self.announce("theme_updated", {
                "theme": t.theme, "symbol_count": t.symbol_count, "action": t.action,
                "cache_key": f"etf_{t.theme}", "added_count": t.added_count,
                "removed_count": t.removed_count,
            }))
        report.elapsed_s = time.perf_counter() - t0
        report.finished_at = time.time()
        return report

    def _write_theme(self, conn, theme: Theme) -> ThemeResult:
        kept, excluded = self.select_members(theme)
        symbols = sorted({e.symbol for e in kept})
        try:
            with conn, conn.cursor() as cur:  # one transaction per theme
                cur.execute("SELECT update_etf_universe(%s, %s, %s)",
                            (theme.name, Json(symbols), Json(self.metadata(theme, kept, excluded))))
                result = cur.fetchone()[0]
        except psycopg2.Error as exc:
            message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return ThemeResult(theme.name, "failed", 0, len(excluded), error=message)
        return ThemeResult(theme.name, "completed", int(result["symbols_count"]), len(excluded),
                           result["action"], int(result["added_count"]), int(result["removed_count"]))


def _theme_summary(t: ThemeResult) -> dict:
    out = {"theme": t.theme, "status": t.status, "symbol_count": t.symbol_count,
           "excluded_count": t.excluded_count}
    if t.action:
        out["action"] = t.action
    if t.error:
        out["error"] = t.error
    return out
