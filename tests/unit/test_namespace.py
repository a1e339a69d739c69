"""The run's channel namespace (contract.messaging): names go into it on their way to Redis and come
out of it on the way back, as the reference producer and TickStockApp apply their channel prefix."""

from __future__ import annotations

import pytest

from tickstock_acceptance.contract import messaging as msg
from tickstock_producer import events


@pytest.fixture
def namespace():
    msg.use_namespace("test_w1:")
    yield "test_w1:"
    msg.use_namespace("")


def test_without_a_namespace_the_spec_names_are_used():
    assert msg.live(msg.UNIVERSE_CHANNEL) == "tickstock.universe.updated"
    assert msg.stream_key(msg.UNIVERSE_CHANNEL) == "stream:tickstock.universe.updated"
    assert msg.namespace_key_patterns() == ()


def test_names_go_into_the_namespace_and_come_back_out(namespace):
    assert msg.live(msg.UNIVERSE_CHANNEL) == "test_w1:tickstock.universe.updated"
    assert msg.live(msg.TICKSTOCK_CHANNEL_PATTERN) == "test_w1:tickstock*"
    assert msg.contract_name("test_w1:tickstock.universe.updated") == msg.UNIVERSE_CHANNEL
    assert msg.contract_name("test_w2:tickstock.universe.updated") == "test_w2:tickstock.universe.updated"
    assert msg.namespaced(msg.TICK_STREAM) == "test_w1:ticks:realtime"
    assert msg.namespace_key_patterns() == ("test_w1:*", "stream:test_w1:*")


def test_the_streams_are_where_the_reference_producer_puts_them_with_the_same_prefix(namespace):
    for channel in msg.CHANNELS.values():
        assert msg.stream_key(channel) == events.namespaced_stream(events.stream_key(channel), namespace)
