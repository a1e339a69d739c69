"""The reference ETF facts (``contract/reference/etf_universe.json``) and what they imply.

The oracle of the ETF universe checks: which ETFs of a theme miss its liquidity filter, and which
themes a producer given this data must be able to write. Computed here from the data, never taken
from the producer's code.
"""

from __future__ import annotations

import json
from pathlib import Path

from tickstock_acceptance.config.paths import CONTRACT_DIR

REFERENCE_ETFS = CONTRACT_DIR / "reference" / "etf_universe.json"


def reference_themes(path: Path | str = REFERENCE_ETFS) -> dict:
    """Theme → {focus, criteria, liquidity_filter, etfs} of an ETF source file (default: the reference)."""
    return json.loads(Path(path).read_text())["themes"]


def below_filter(theme: dict) -> list[str]:
    """The theme's ETFs that miss its liquidity filter (assets or average volume under the line)."""
    flt = theme.get("liquidity_filter") or {}
    return sorted(e["symbol"] for e in theme["etfs"]
                  if e["aum"] < flt.get("min_aum", 0) or e["avg_volume"] < flt.get("min_avg_volume", 0))


def should_succeed(theme: dict) -> bool:
    """A source theme the producer must write: every ETF kept by its filter has a real symbol."""
    excluded = set(below_filter(theme))
    return all(e["symbol"].strip() for e in theme["etfs"] if e["symbol"] not in excluded)
