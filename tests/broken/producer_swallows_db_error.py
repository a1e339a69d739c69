"""Broken producer: its ETF manager swallows database errors and reports every theme ``completed``
(RES-4's database-down scenario must turn red).

When the database cannot be reached, or a theme's write fails, it logs nothing, counts the theme's
symbols as written and exits 0, publishing the usual notifications: the failure is invisible to
whoever reads its report.
"""

import sys

import psycopg2

from tickstock_producer import cli, facade
from tickstock_producer.etf_universe import EtfUniverseManager, ThemeResult


class _Unreachable:
    """Stands in for a connection that could not be opened: every use raises the database's error."""

    def __init__(self, error: psycopg2.Error) -> None:
        self.error = error

    def __enter__(self):
        raise self.error

    def __exit__(self, *exc):
        return False

    def cursor(self):
        raise self.error

    def close(self) -> None:
        pass


class SwallowingManager(EtfUniverseManager):
    def __init__(self, connect, *args, **kwargs) -> None:
        def connect_or_pretend():
            try:
                return connect()
            except psycopg2.Error as exc:
                return _Unreachable(exc)

        super().__init__(connect_or_pretend, *args, **kwargs)

    def _write_theme(self, conn, theme):
        result = super()._write_theme(conn, theme)
        if result.status == "failed":  # swallowed: reported as written
            kept, excluded = self.select_members(theme)
            return ThemeResult(theme.name, "completed", len({e.symbol for e in kept}), len(excluded),
                               "updated")
        return result


class Producer(facade.Producer):
    def make_etf_manager(self, source):
        manager = super().make_etf_manager(source)
        return SwallowingManager(self.connect, self.publisher, manager.source)


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
