"""Steps for Redis integration (RED-1, RED-2): each sentence is one call into the consumer-side
support code."""

from behave import given, then, when
from hamcrest import (
    assert_that,
    contains_exactly,
    empty,
    equal_to,
    greater_than,
    greater_than_or_equal_to,
    has_length,
    less_than_or_equal_to,
)

from tickstock_acceptance.checks.etf.universe_flow import flow_of
from tickstock_acceptance.checks.redis.persistence import red2_of
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config import targets as T
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib import parameter_types  # noqa: F401  (registers parameter types)
from tickstock_acceptance.sut.subscriber import channel_follows_convention, observe_tickstock_channels


@given("an observer subscribed to every tickstock channel of the test Redis")
def step_observer(context):
    flow = flow_of(context)
    flow.observer = observe_tickstock_channels(flow.system)


@then("the observer saw every message the producer persisted")
def step_observer_saw(context):
    last = flow_of(context).last
    evidence.record("messages observed from the producer", len(last.live), "messages")
    assert_that(len(last.persisted), greater_than_or_equal_to(1), "messages on the producer's stream")
    assert_that(sorted(r.message["message_id"] for r in last.live),
                equal_to(sorted(r.message["message_id"] for r in last.persisted)))


@then("every channel a message was observed on follows the channel naming convention")
def step_observed_channels(context):
    channels = {r.channel for r in flow_of(context).observer.snapshot()}
    evidence.record("channels observed", len(channels), "channels", note=", ".join(sorted(channels)))
    assert_that(sorted(c for c in channels if not channel_follows_convention(c)), empty())


@then("every observed message matches the JSON Schema of its event type")
def step_observed_schema(context):
    flow = flow_of(context)
    assert_that(flow.schema_violations(flow.observer.snapshot()), empty())


@then("every message kept on the producer's streams during the run matches the JSON Schema of its event type")
def step_stream_schema(context):
    flow = flow_of(context)
    kept = flow.stream.everything()
    evidence.record("messages kept on streams during the run", len(kept), "messages",
                    note=", ".join(flow.stream.stream_keys()))
    assert_that(len(kept), greater_than_or_equal_to(1))
    assert_that(flow.schema_violations(kept), empty())


# -- RED-2: a crashed instance's unacknowledged notifications ------------------------------------
@given("two TickStockApp instances that share a consumer group on the universe stream")
def step_group_instances(context):
    red2_of(context).crash.register()


@when("the first instance reads some of the notifications and crashes before acknowledging them")
def step_first_crashes(context):
    read = red2_of(context).crash.first_reads_and_crashes()
    assert_that(read, has_length(M.CRASH_READ_COUNT), "entries the first instance read")


@when("the second instance claims what the first left unacknowledged for the claim idle time, "
      "then processes the rest")
def step_second_claims(context):
    crash = red2_of(context).crash
    crash.second_claims_and_processes()
    evidence.record("time from the crash to the claim", crash.claim_wait_s, "s",
                    note=f"XAUTOCLAIM min-idle-time {M.CLAIM_MIN_IDLE_MS} ms, "
                         f"{len(crash.claimed)} entries claimed")


@then("the second instance took over exactly the notifications the first had read")
def step_claimed_same(context):
    crash = red2_of(context).crash
    assert_that([i for i, _ in crash.claimed], contains_exactly(*[i for i, _ in crash.read_by_first]))


@then("the group's instances processed every notification TickStockApp received live, each exactly once")
def step_processed_once(context):
    crash, live = red2_of(context).crash, flow_of(context).last.live
    processed = [r.message["message_id"] for r in crash.processed if r.message]
    evidence.record("notifications processed by the group", len(processed), "messages")
    assert_that(live, has_length(greater_than(M.CRASH_READ_COUNT)), "notifications received live")
    assert_that(processed, contains_exactly(*[r.message["message_id"] for r in live]))


@then("nothing is left pending for the group")
def step_group_nothing_pending(context):
    assert_that(red2_of(context).crash.second.pending(), equal_to(0))


@then("no acknowledged notification is delivered again")
def step_no_redelivery(context):
    assert_that(red2_of(context).crash.redelivered(), empty())


# -- RED-2: a bounded stream that still holds what a returning instance needs -------------------
@given("the producer has published more notifications than the universe stream's documented maximum length")
def step_burst(context):
    bound = red2_of(context).bound
    burst = bound.publish_past_maxlen(flow_of(context).producer)
    evidence.record("notifications published in the burst", burst.added, "messages",
                    note=f"{len(burst.runs)} producer processes, {burst.seconds:.1f} s; "
                         f"MAXLEN {T.STREAM_MAXLEN}")
    assert_that(bound.burst_problems(), empty())


@given("a TickStockApp instance that registered on the universe stream after that and then went offline")
def step_offline_after_burst(context):
    red2_of(context).bound.register_offline(flow_of(context))


@then("the universe stream held no more than its maximum length plus the approximate-trimming slack")
def step_stream_bounded(context):
    bound = red2_of(context).bound
    lengths = [int(bound.burst.info_after.get("length", 0)), bound.length()]
    evidence.record("universe stream length (largest seen)", max(lengths), "entries",
                    note=f"MAXLEN {T.STREAM_MAXLEN} + slack {bound.slack} = {bound.limit}")
    assert_that(max(lengths), less_than_or_equal_to(bound.limit))
    assert_that(min(lengths), greater_than_or_equal_to(T.STREAM_MAXLEN), "approximate trimming keeps MAXLEN")


@then("the stream still held the entry the returning instance had last seen")
def step_left_at_kept(context):
    assert_that(red2_of(context).bound.left_at_still_on_stream(), equal_to(True))
