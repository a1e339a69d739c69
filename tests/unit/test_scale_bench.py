"""The scale benchmark's own pieces: the synthetic ETF source it expands, and its plot."""

from __future__ import annotations

import json
import re

from tickstock_acceptance.cli.scale import plot, scaled_source, theme_name
from tickstock_producer.etf_universe import load_source

THEME = re.compile(r"^[a-z][a-z_]*$")  # contract/schemas/theme_updated.json


def test_the_source_holds_that_many_symbols_in_themes_of_100_the_producer_reads(tmp_path):
    source = scaled_source(20_050)
    themes = source["themes"]
    assert len(themes) == 201
    assert sum(len(t["etfs"]) for t in themes.values()) == 20_050
    assert {len(t["etfs"]) for t in list(themes.values())[:-1]} == {100}
    symbols = [e["symbol"] for t in themes.values() for e in t["etfs"]]
    assert len(set(symbols)) == len(symbols) and all(s.startswith("TEST_") for s in symbols)
    path = tmp_path / "source.json"
    path.write_text(json.dumps(source))
    assert list(load_source(path)) == list(themes)


def test_theme_names_are_distinct_and_valid_up_to_100_000_symbols():
    names = [theme_name(i) for i in range(1_000)]
    assert len(set(names)) == len(names)
    assert all(THEME.match(n) for n in names)


def test_the_plot_is_written(tmp_path):
    figures = {
        "symbols": [{"symbols": n, "expansion_s": n / 1e5, "view_follows_s": None if n > 50_000 else 0.1,
                     "sync_s": n / 5e4, "delivery_p99_ms": 3.0} for n in (1_000, 5_000, 100_000)],
        "workers": [{"workers": w, "wall_s": 100 - 10 * w} for w in (1, 2, 4)],
        "instances": [{"instances": k, "rss_mb_total": 50 * k, "db_connections": 9 * k}
                      for k in (1, 4, 8)],
    }
    plot(figures, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
