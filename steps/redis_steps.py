"""Steps for Redis integration (RED-1): each sentence is one call into the consumer-side support code."""

from behave import given, then
from hamcrest import assert_that, empty, equal_to, greater_than_or_equal_to

from tickstock_acceptance import evidence, step_types  # noqa: F401  (registers parameter types)
from tickstock_acceptance.consumer import channel_follows_convention, observe_tickstock_channels
from tickstock_acceptance.universe_flow import flow_of


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
