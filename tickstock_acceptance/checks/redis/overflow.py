"""High-frequency universe updates without message queue overflow.

Two situations, both driven by real producer processes (``bursts``) and judged by the delivery
checker against what the producers acknowledged:

* a TickStockApp instance reading its consumer group on the universe stream continuously
  (``StreamFollower``) while several producers publish at least 10,000 updates: nothing
  acknowledged may be lost, duplicated or reordered;
* a pub-sub subscriber that never reads (``SlowSubscriber``) while the server's
  ``client-output-buffer-limit pubsub`` is set low on the run's own Redis: the server must cut it
  off, the subscriber must notice, and the same instance recovers everything it missed from its
  consumer group on the stream, so the end state has no gap.
"""

from __future__ import annotations

import threading

from tickstock_acceptance.checks.delivery import DeliveryReport, check_delivery
from tickstock_acceptance.checks.redis.bursts import BurstResult, publish_burst, remove_burst_universes
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.messaging import STREAM_DB, UNIVERSE_CHANNEL, stream_key
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import ProducerController
from tickstock_acceptance.sut.streams import StreamCatchUp, StreamFollower
from tickstock_acceptance.sut.subscriber import Received, SlowSubscriber

FOLLOWER_GROUP = "tickstock_app_burst_follower"
SLOW_GROUP = "tickstock_app_slow_subscriber"
SLOW_CLIENT_NAME = "tickstock_app_slow_subscriber"
BUFFER_LIMIT = "client-output-buffer-limit"


class HighFrequencyUpdates:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.client = system.redis_client(STREAM_DB)
        self.key = stream_key(UNIVERSE_CHANNEL)
        self.follower: StreamFollower | None = None
        self.followed: list[Received] = []
        self.burst: BurstResult | None = None
        self.slow: SlowSubscriber | None = None
        self.slow_follower: StreamFollower | None = None
        self._stop_watching = threading.Event()
        self._watcher: threading.Thread | None = None
        self.recovered: list[Received] = []
        self._saved_limit: str | None = None

    # -- a burst through the stream --------------------------------------------------------------
    def follow_stream(self) -> None:
        self.follower = StreamFollower(self.system, FOLLOWER_GROUP).start()

    def publish(self, producer: ProducerController, wanted: int, producers: int) -> BurstResult:
        self.burst = publish_burst(self.system, producer, self.client, self.key, wanted, producers)
        return self.burst

    def burst_problems(self, wanted: int) -> list[str]:
        return self.burst.problems(wanted, self.key)

    def followed_delivery(self) -> DeliveryReport:
        """What the continuous reader got, against what the burst producers acknowledged."""
        if self.follower is not None:
            self.followed = self.follower.stop()
            self.follower = None
        return check_delivery(self.burst.acknowledged, self.followed)

    # -- a subscriber too slow for the output buffer limit ------------------------------------
    def limit_pubsub_output_buffer(self, limit: str = M.SLOW_SUBSCRIBER_BUFFER_LIMIT) -> None:
        """Lower the pub-sub class of the limit on the run's own Redis (restored at close)."""
        self._saved_limit = self.client.config_get(BUFFER_LIMIT)[BUFFER_LIMIT]
        self.client.config_set(BUFFER_LIMIT, limit)

    def subscribe_slowly(self) -> None:
        """A TickStockApp instance that registered its consumer group on the stream and subscribed
        to the live channel, then stopped reading. Once it notices it was cut off it does what
        TickStockApp does: it switches to its consumer group on the stream (while the burst goes on,
        so the bounded stream cannot trim what it has not read yet)."""
        StreamCatchUp(self.system, SLOW_GROUP).register()
        self.slow = SlowSubscriber(self.system, SLOW_CLIENT_NAME)
        self._watcher = threading.Thread(target=self._switch_to_stream_when_cut_off, daemon=True)
        self._watcher.start()

    def _switch_to_stream_when_cut_off(self) -> None:
        while not self._stop_watching.is_set():
            if self.slow.cut_off():
                self.slow_follower = StreamFollower(self.system, SLOW_GROUP).start()
                return
            self._stop_watching.wait(0.05)

    def cut_off_problems(self) -> list[str]:
        """The server closed the slow subscriber's connection, and the subscriber noticed."""
        try:
            wait_until(lambda: self.slow_follower is not None, M.deadline(M.DELIVERY_DEADLINE_S),
                       "the server cutting off the slow subscriber")
        except AssertionError as exc:
            return [f"the slow subscriber is still connected after the burst ({exc})"]
        return [] if self.slow.reported else ["the subscriber did not notice it was cut off"]

    def recover_from_stream(self) -> DeliveryReport:
        """What the slow instance read from its consumer group after the cut-off, against everything
        the burst producers acknowledged."""
        if self.slow_follower is not None:
            self.recovered = self.slow_follower.stop()
            self.slow_follower = None
        return check_delivery(self.burst.acknowledged, self.recovered)

    def close(self) -> None:
        self._stop_watching.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        for follower in (self.follower, self.slow_follower):
            if follower is not None:
                follower.stop()
        if self.slow is not None:
            self.slow.close()
        if self._saved_limit is not None:
            self.client.config_set(BUFFER_LIMIT, self._saved_limit)
        if self.burst is not None:
            remove_burst_universes(self.system)
        self.client.close()
