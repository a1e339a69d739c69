"""Steps of features/50_redis_integration.feature: each sentence is one call into the checks."""

from behave import given, then, when

from tickstock_acceptance.checks.redis import message_contract
from tickstock_acceptance.checks.redis.persistence import OFFLINE_AFTER_BURST_GROUP
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.messaging import STREAM_MAXLEN
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib.expect import no_problems


# -- the message contract ----------------------------------------------------------------------
@given("an observer subscribed to every tickstock channel of the test Redis")
def step_observer(context):
    context.state.flow.observe_tickstock_channels()


@then("the observer saw every message the producer persisted")
def step_observer_saw(context):
    last = context.state.flow.last
    evidence.record("messages observed from the producer", len(last.live), "messages")
    no_problems(message_contract.unobserved_problems(last), "the observer")


@then("every channel a message was observed on follows the channel naming convention")
def step_observed_channels(context):
    channels = {r.channel for r in context.state.flow.observer.snapshot()}
    evidence.record("channels observed", len(channels), "channels", note=", ".join(sorted(channels)))
    no_problems(message_contract.misnamed_channels(channels), "observed channels")


@then("every observed message matches the JSON Schema of its event type")
def step_observed_schema(context):
    no_problems(message_contract.schema_violations(context.state.flow.observer.snapshot()),
                "observed messages break their JSON Schema")


@then("every message kept on the producer's streams during the run matches the JSON Schema of its event type")
def step_stream_schema(context):
    stream = context.state.flow.stream
    kept = stream.everything()
    evidence.record("messages kept on streams during the run", len(kept), "messages",
                    note=", ".join(stream.stream_keys()))
    no_problems(message_contract.schema_violations(kept) if kept else ["no message kept on any stream"],
                "messages kept on the streams")


# -- a crashed instance's unacknowledged notifications -----------------------------------------
@given("two TickStockApp instances that share a consumer group on the universe stream")
def step_group_instances(context):
    context.state.persistence.crash.register()


@when("the first instance reads some of the notifications and crashes before acknowledging them")
def step_first_crashes(context):
    context.state.persistence.crash.first_reads_and_crashes()


@when("the second instance claims what the first left unacknowledged for the claim idle time, "
      "then processes the rest")
def step_second_claims(context):
    crash = context.state.persistence.crash
    crash.second_claims_and_processes()
    evidence.record("time from the crash to the claim", crash.claim_wait_s, "s",
                    note=f"XAUTOCLAIM min-idle-time {M.CLAIM_MIN_IDLE_MS} ms, "
                         f"{len(crash.claimed)} entries claimed")


@then("the second instance took over exactly the notifications the first had read")
def step_claimed_same(context):
    no_problems(context.state.persistence.crash.takeover_problems(), "the takeover after the crash")


@then("the group's instances processed every notification TickStockApp received live, each exactly once")
def step_processed_once(context):
    crash = context.state.persistence.crash
    evidence.record("notifications processed by the group", len(crash.processed), "messages")
    no_problems(crash.exactly_once_problems(context.state.flow.last), "the consumer group")


@then("nothing is left pending for the group")
def step_group_nothing_pending(context):
    pending = context.state.persistence.crash.second.pending()
    no_problems([f"{pending} entries pending"] if pending else [], "the consumer group")


@then("no acknowledged notification is delivered again")
def step_no_redelivery(context):
    no_problems(context.state.persistence.crash.redelivered(), "acknowledged notifications delivered again")


# -- a bounded stream that still holds what a returning instance needs ------------------------
@given("the producer has published more notifications than the universe stream's documented maximum length")
def step_burst(context):
    bound = context.state.persistence.bound
    burst = bound.publish_past_maxlen(context.state.flow.producer)
    evidence.record("notifications published in the burst", burst.added, "messages",
                    note=f"{len(burst.runs)} producer processes, {burst.seconds:.1f} s ({burst.rate:.0f}/s); "
                         f"MAXLEN {STREAM_MAXLEN}")
    no_problems(bound.burst_problems(), "the burst of notifications")


@given("a TickStockApp instance that registered on the universe stream after that and then went offline")
def step_offline_after_burst(context):
    context.state.flow.register_offline_instance(OFFLINE_AFTER_BURST_GROUP)
    context.state.persistence.bound.remember_offline_position(OFFLINE_AFTER_BURST_GROUP)


@then("the universe stream held no more than its maximum length plus the approximate-trimming slack")
def step_stream_bounded(context):
    bound = context.state.persistence.bound
    evidence.record("universe stream length (largest seen)",
                    max(int(bound.burst.info_after.get("length", 0)), bound.length()), "entries",
                    note=f"MAXLEN {STREAM_MAXLEN} + slack {bound.slack} = {bound.limit}")
    no_problems(bound.bound_problems(), "the universe stream's bound")


@then("the stream still held the entry the returning instance had last seen")
def step_left_at_kept(context):
    kept = context.state.persistence.bound.left_at_still_on_stream()
    no_problems([] if kept else ["it was trimmed away"], "the returning instance's last entry")


# -- high-frequency updates without queue overflow ---------------------------------------------
@given("a TickStockApp instance reading the universe stream continuously")
def step_stream_follower(context):
    context.state.overflow.follow_stream()


@when("{producers:d} producer processes publish at least {wanted:d} universe updates as fast as they can")
def step_publish_burst(context, producers, wanted):
    overflow = context.state.overflow
    burst = overflow.publish(context.state.flow.producer, wanted, producers)
    evidence.record("universe updates published in the burst", burst.added, "messages",
                    note=f"{len(burst.runs)} producer processes, {burst.seconds:.1f} s",
                    higher_is_better=True)
    evidence.record("burst rate through the stream", burst.rate, "msg/s", higher_is_better=True)
    no_problems(overflow.burst_problems(wanted), "the burst of universe updates")


@then("the delivery checker finds every update the producers acknowledged delivered once, in each "
      "producer's order")
def step_burst_delivered(context):
    report = context.state.overflow.followed_delivery()
    evidence.record("burst delivery through the stream", report.received, "messages", note=report.summary())
    if report.latency():
        evidence.record_distribution("stream delivery latency during the burst", report.latencies_ms, "ms")
    no_problems(report.problems(), "the delivery through the stream")


@then("the delivery success rate is within the {target:Target}")
def step_success_rate(context, target):
    report = context.state.overflow.followed_delivery()
    ev = evidence.record("stream delivery success rate", report.success_rate, "%", target)
    no_problems([] if ev.passed else [f"{report.success_rate:.2f} % misses {target.describe()}"],
                "the delivery success rate")


@given("the test Redis cuts off pub-sub subscribers whose output buffer outgrows a small limit")
def step_limit_buffer(context):
    context.state.overflow.limit_pubsub_output_buffer()


@given("a TickStockApp instance that registered on the universe stream, subscribed to the universe "
       "notifications and stopped reading")
def step_slow_subscriber(context):
    context.state.overflow.subscribe_slowly()


@then("the server cut the slow subscriber off and the subscriber noticed")
def step_cut_off(context):
    overflow = context.state.overflow
    no_problems(overflow.cut_off_problems(), "the slow subscriber")
    evidence.record("slow subscriber cut off", 1, "events", note=overflow.slow.reported or "")


@then("the slow instance recovered every update the producers acknowledged from the stream, so nothing "
      "is missing")
def step_recovered(context):
    report = context.state.overflow.recover_from_stream()
    evidence.record("updates recovered from the stream", report.received, "messages", note=report.summary())
    no_problems(report.problems(), "the slow instance's recovery from the stream")
