"""The producer's streams as TickStockApp reads them (Redis Streams in the flows database).

``StreamReader`` reads what the producer persisted on a channel's stream (``stream:<channel>``).
``StreamCatchUp`` is a TickStockApp instance in a consumer group on a stream: it registers, may
stay away while the producer works, and later catches up with XREADGROUP/XACK — the contract's
persistence path. ``GroupInstance`` adds the explicit read / ack / claim / crash of one member of
a group, for recovery after a crash.
"""

from __future__ import annotations

import threading
import time

import redis

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.messaging import STREAM_DB, UNIVERSE_CHANNEL, stream_key
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.subscriber import Received, decode


def entry_id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def stream_info(client: redis.Redis, key: str) -> dict:
    """XINFO STREAM of ``key`` ({} when the stream does not exist)."""
    try:
        return client.xinfo_stream(key)
    except redis.ResponseError:
        return {}


def trim_slack(client: redis.Redis) -> int:
    """How far approximate trimming (``MAXLEN ~``) may leave a stream above MAXLEN: Redis trims whole
    macro nodes only, and a node holds at most ``stream-node-max-entries`` entries."""
    try:
        value = client.config_get("stream-node-max-entries").get("stream-node-max-entries")
        return int(value) if value is not None else M.STREAM_TRIM_SLACK_DEFAULT
    except redis.ResponseError:  # CONFIG disabled on a managed Redis
        return M.STREAM_TRIM_SLACK_DEFAULT


class StreamReader:
    """Reads a channel's stream in the flows database (what the producer persisted)."""

    def __init__(self, system: AcceptanceSystem, channel: str = UNIVERSE_CHANNEL) -> None:
        self.client = system.redis_client(STREAM_DB)
        self.channel = channel
        self.key = stream_key(channel)

    def all(self) -> list[Received]:
        out = []
        for _id, fields in self.client.xrange(self.key):
            out.append(decode(self.channel, fields.get("data", ""), 0.0))
        return out

    def from_producer(self, producer_id: str) -> list[Received]:
        return [r for r in self.all() if r.producer_id == producer_id]

    def stream_keys(self) -> list[str]:
        """The channels' streams of the run's namespace (every ``stream:<channel>`` without one)."""
        return sorted(self.client.scan_iter(match=stream_key("*"), _type="stream"))

    def everything(self) -> list[Received]:
        """Every message kept on every ``stream:<channel>`` of the flows database (of the run's namespace),
        under the contract's channel name."""
        out = []
        for key in self.stream_keys():
            channel = key[len(stream_key("")):]
            out += [decode(channel, fields.get("data", ""), 0.0) for _id, fields in self.client.xrange(key)]
        return out


class StreamCatchUp:
    """An offline TickStockApp instance: a consumer group on the channel's stream."""

    def __init__(self, system: AcceptanceSystem, group: str, consumer: str = "app-1",
                 channel: str = UNIVERSE_CHANNEL) -> None:
        self.client = system.redis_client(STREAM_DB)
        self.key = stream_key(channel)
        self.channel = channel
        self.group = group
        self.consumer = consumer

    def register(self) -> None:
        """Join at the stream's current end (only what is published from now on is ours)."""
        try:
            self.client.xgroup_create(self.key, self.group, id="$", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def catch_up(self, batch: int = 100) -> list[Received]:
        """Read everything new for the group, acknowledging as it goes."""
        got: list[Received] = []
        while True:
            reply = self.client.xreadgroup(self.group, self.consumer, {self.key: ">"}, count=batch)
            entries = reply[0][1] if reply else []
            if not entries:
                return got
            for entry_id, fields in entries:
                got.append(decode(self.channel, fields.get("data", ""), time.time()))
                self.client.xack(self.key, self.group, entry_id)

    def pending(self) -> int:
        return int(self.client.xpending(self.key, self.group)["pending"])


class GroupInstance(StreamCatchUp):
    """One TickStockApp instance of a consumer group, with explicit read / ack / claim."""

    def read(self, count: int) -> list[tuple[str, Received]]:
        reply = self.client.xreadgroup(self.group, self.consumer, {self.key: ">"}, count=count)
        entries = reply[0][1] if reply else []
        return [(i, decode(self.channel, f.get("data", ""), time.time())) for i, f in entries]

    def own_history(self) -> list[str]:
        """Entries delivered to this consumer and still unacknowledged (XREADGROUP with id 0)."""
        reply = self.client.xreadgroup(self.group, self.consumer, {self.key: "0"})
        return [i for i, _ in (reply[0][1] if reply else [])]

    def claim(self, min_idle_ms: int) -> list[tuple[str, Received]]:
        """XAUTOCLAIM every entry idle for at least ``min_idle_ms`` (all pages)."""
        got, start = [], "0-0"
        while True:
            reply = self.client.xautoclaim(self.key, self.group, self.consumer, min_idle_ms, start)
            start, entries = reply[0], reply[1]
            got += [(i, decode(self.channel, f.get("data", ""), time.time())) for i, f in entries if f]
            if start in ("0-0", b"0-0"):
                return got

    def ack(self, entry_ids: list[str]) -> None:
        if entry_ids:
            self.client.xack(self.key, self.group, *entry_ids)

    def crash(self) -> None:
        """Go away without acknowledging anything (the connection just closes)."""
        self.client.close()


class StreamFollower(StreamCatchUp):
    """A TickStockApp instance that reads its consumer group on the stream continuously (its own
    thread: XREADGROUP with a short block, XACK after recording each entry), as a live instance does
    while a burst is under way, so that bounded trimming cannot remove what it has not read yet."""

    def __init__(self, system: AcceptanceSystem, group: str, batch: int = 500) -> None:
        super().__init__(system, group)
        self.client = system.redis_client(STREAM_DB, socket_timeout=None)
        self.batch = batch
        self.got: list[Received] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> StreamFollower:
        self.register()
        self._thread = threading.Thread(target=self._loop, name="stream-follower", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                reply = self.client.xreadgroup(self.group, self.consumer, {self.key: ">"}, count=self.batch,
                                               block=100)
            except redis.RedisError as exc:
                self.errors.append(str(exc))
                return
            entries = reply[0][1] if reply else []
            if not entries:
                continue
            now = time.time()
            with self._lock:
                self.got += [decode(self.channel, f.get("data", ""), now) for _, f in entries]
            self.client.xack(self.key, self.group, *[i for i, _ in entries])

    def count(self) -> int:
        with self._lock:
            return len(self.got)

    def stop(self) -> list[Received]:
        """Stop after draining what is already on the stream for the group; returns what it read."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.got += self.catch_up()
        self.client.close()
        return list(self.got)
