"""Reference TickStockPL producer (the Phase 3 contract, runnable anywhere).

Facade (what the acceptance suite uses): ``create_producer(config)`` and ``deploy(admin_conn)``;
``python -m tickstock_producer --help`` is the CLI.
"""

from .facade import Producer, ProducerConfig, create_producer, deploy

__all__ = ["Producer", "ProducerConfig", "create_producer", "deploy"]
