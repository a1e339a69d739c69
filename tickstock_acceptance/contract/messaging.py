"""Channels, naming convention, streams and Redis logical databases (``contract/messaging.json``)."""

from __future__ import annotations

import json
import re

from tickstock_acceptance.config.paths import CONTRACT_DIR

MESSAGING_FILE = CONTRACT_DIR / "messaging.json"
_DATA = json.loads(MESSAGING_FILE.read_text())

CHANNEL_NAMING_PATTERN = re.compile(_DATA["channel_naming_pattern"])
CHANNELS: dict[str, str] = dict(_DATA["channels"])
REQUIRED_CHANNELS: tuple[str, ...] = tuple(_DATA["required_channels"])
UNIVERSE_CHANNEL = CHANNELS["universe_updated"]
PATTERN_CHANNEL = CHANNELS["pattern_detected"]
BAR_CHANNEL = CHANNELS["realtime_bar"]
THRESHOLD_CHANNEL = CHANNELS["realtime_threshold"]

# Real-time processing: ticks arrive on an input stream (flows database) and leave as bar and
# threshold events on the two realtime channels.
_REALTIME = _DATA["realtime"]
TICK_STREAM: str = _REALTIME["tick_stream"]
TICK_FIELDS: tuple[str, ...] = tuple(_REALTIME["tick_fields"])
BAR_SECONDS: int = int(_REALTIME["bar_seconds"])
THRESHOLD_STEP: float = float(_REALTIME["threshold_step"])

# Redis logical databases and the roles the spec gives them.
REDIS_DBS: dict[str, int] = dict(_DATA["redis_databases"])
REDIS_DB_RESILIENCE = REDIS_DBS["resilience"]
REDIS_DB_FLOWS = REDIS_DBS["flows"]
REDIS_DB_INTEGRATION = REDIS_DBS["integration"]
REDIS_TEST_DBS = tuple(sorted(REDIS_DBS.values()))

# Every event is also appended to a bounded stream per channel, for offline consumers.
STREAM_KEY_PREFIX: str = _DATA["streams"]["key_prefix"]
STREAM_MAXLEN: int = int(_DATA["streams"]["maxlen"])
STREAM_DB = REDIS_DBS[_DATA["streams"]["redis_database"]]

# What an observer of "every TickStock channel" subscribes to: names starting with "tickstock", so a
# misnamed TickStock channel (``tickstock:cache:x``) is still seen and judged, while another
# application's traffic on a shared Redis is not.
TICKSTOCK_CHANNEL_PATTERN = "tickstock*"


# The run's channel namespace ('' = the spec's names). One per process (each parallel worker is a
# process of its own), set when the run's system opens. The contract's names stay what the checks
# judge: a name goes into the namespace on its way to Redis (``live``, ``stream_key``, ``namespaced``)
# and comes out of it on the way back (``contract_name``), as the reference components do with
# TICKSTOCK_PL/APP_CHANNEL_PREFIX: channel ``<ns><channel>``, its stream ``stream:<ns><channel>``,
# any other key ``<ns><key>``.
_namespace = ""


def use_namespace(prefix: str) -> None:
    global _namespace
    _namespace = prefix


def namespace() -> str:
    return _namespace


def live(channel: str) -> str:
    """The name ``channel`` (or a pattern) has on the run's Redis."""
    return _namespace + channel


def contract_name(live_channel: str) -> str:
    """The contract's name of a channel heard on the run's Redis (unchanged if outside the namespace)."""
    return live_channel[len(_namespace):] if live_channel.startswith(_namespace) else live_channel


def namespaced(key: str) -> str:
    """A key that is not a channel's stream (the tick input, dead letters) in the run's namespace."""
    return _namespace + key


def stream_key(channel: str) -> str:
    """The stream that keeps ``channel``'s messages (in the run's namespace)."""
    return STREAM_KEY_PREFIX + _namespace + channel


def namespace_key_patterns() -> tuple[str, ...]:
    """Every key of the namespace, for cleanup: its own keys and its channels' streams."""
    return (_namespace + "*", STREAM_KEY_PREFIX + _namespace + "*") if _namespace else ()


def follows_naming_convention(channel: str) -> bool:
    return bool(CHANNEL_NAMING_PATTERN.match(channel))
