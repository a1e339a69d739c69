"""Broken producer: its ETF manager keeps the first database connection it opened for good, so after
a database restart it never writes again (RES-1's database recovery must turn red).

Every round of ``expand --repeat-until-stopped --keep-going`` reuses that connection; once the
server restarted, each round fails on the dead connection ("connection already closed") and the
manager never opens a new one. One-off commands (``expand``, ``summary``, ...) behave as the
reference, since they open their connection after any fault.
"""

import sys

from tickstock_producer import cli, facade


class KeptConnection:
    """The first connection, handed out again and again; ``close`` does nothing."""

    def __init__(self, connect) -> None:
        self._connect = connect
        self._conn = None

    def __call__(self):
        if self._conn is None:
            self._conn = self._connect()
        return self

    def close(self) -> None:
        pass

    def __enter__(self):
        return self._conn.__enter__()

    def __exit__(self, *exc):
        return self._conn.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._conn, name)


class Producer(facade.Producer):
    def make_etf_manager(self, source):
        manager = super().make_etf_manager(source)
        manager.connect = KeptConnection(self.connect)
        return manager


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
