"""The spec's targets and thresholds: the single place steps and reports take them from.

Names and values follow `spec/phase3-integration-testing.md` ("Performance Targets Validated",
"Message Delivery Targets", "Resilience Targets", "Performance Regression Thresholds").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A pass/fail line: a measured value must stay at or under ``limit`` (or over, if ``minimum``)."""

    name: str
    limit: float
    unit: str
    minimum: bool = False

    def met_by(self, value: float) -> bool:
        return value >= self.limit if self.minimum else value <= self.limit

    @property
    def regression_line(self) -> float:
        """The spec's regression threshold: the target plus 25 % tolerance."""
        return self.limit * (0.75 if self.minimum else 1.25)

    def describe(self) -> str:
        sign = "≥" if self.minimum else "≤"
        return f"{self.name} {sign} {self.limit:g} {self.unit}"


# ETF universe operations
ETF_EXPANSION_TIME = Target("etf_expansion_time", 2.0, "s")
ETF_UNIVERSE_QUERY = Target("etf_universe_query_time", 2.0, "s")
ETF_VALIDATION = Target("etf_validation_time", 2.0, "s")

# Test scenario operations
SCENARIO_GENERATION = Target("scenario_generation_time", 120.0, "s")
SCENARIO_LOADING = Target("scenario_loading_time", 120.0, "s")

# Cache synchronization
CACHE_SYNC_WINDOW = Target("cache_sync_window", 1800.0, "s")
REDIS_NOTIFICATION = Target("redis_notification_time", 5.0, "s")

# Database performance
UI_QUERY = Target("ui_query_time", 50.0, "ms")
GENERAL_QUERY = Target("general_query_time", 500.0, "ms")

# Message delivery
MESSAGE_DELIVERY = Target("message_delivery_time", 100.0, "ms")
MESSAGE_SUCCESS_RATE = Target("message_success_rate", 95.0, "%", minimum=True)
HIGH_VOLUME_MESSAGE_COUNT = 1000
CONNECTION_RECOVERY = Target("connection_recovery_time", 5.0, "s")

# Resilience
DATABASE_RECOVERY = Target("database_recovery_time", 10.0, "s")
REDIS_RECOVERY = Target("redis_recovery_time", 5.0, "s")
MEMORY_INCREASE = Target("memory_increase", 100.0, "MB")
CONCURRENT_OPERATIONS = 10
AVERAGE_CPU = Target("average_cpu", 80.0, "%")
SUCCESS_RATE_UNDER_CONSTRAINTS = Target("success_rate_under_constraints", 70.0, "%", minimum=True)

# -- Counts the spec names (pass/fail lines that are not latencies) -------------------------------
ETF_MIN_SYMBOLS = 200        # "200+ ETF symbols": distinct symbols an expansion must cover
ETF_MIN_THEMES = 7           # the original's themes: sectors, growth, value, international, ...

ALL_TARGETS = {
    t.name: t
    for t in (
        ETF_EXPANSION_TIME, ETF_UNIVERSE_QUERY, ETF_VALIDATION, SCENARIO_GENERATION,
        SCENARIO_LOADING, CACHE_SYNC_WINDOW, REDIS_NOTIFICATION, UI_QUERY, GENERAL_QUERY,
        MESSAGE_DELIVERY, MESSAGE_SUCCESS_RATE, CONNECTION_RECOVERY, DATABASE_RECOVERY,
        REDIS_RECOVERY, MEMORY_INCREASE, AVERAGE_CPU, SUCCESS_RATE_UNDER_CONSTRAINTS,
    )
}


def target(name: str) -> Target:
    """Look a target up by the name a feature file uses."""
    try:
        return ALL_TARGETS[name]
    except KeyError:
        raise KeyError(f"unknown target {name!r}; known: {', '.join(sorted(ALL_TARGETS))}") from None


def by_phrase(phrase: str) -> Target:
    """The target a feature names in words, e.g. "general query" or "message delivery"."""
    wanted = phrase.strip().lower().replace(" ", "_")
    for name, t in ALL_TARGETS.items():
        if name in (wanted, wanted + "_time"):
            return t
    raise KeyError(f"no target called {phrase!r}; known: "
                   + ", ".join(n.removesuffix("_time").replace("_", " ") for n in ALL_TARGETS))
