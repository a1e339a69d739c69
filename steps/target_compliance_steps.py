"""Steps of features/70_target_compliance.feature: each sentence is one call into the checks."""

from behave import given, then, when

from tickstock_acceptance.checks.perf import advanced_delivery, concurrency
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib.expect import no_problems
from tickstock_acceptance.sut.producer import producer_for


# -- PERF-1: message delivery while the advanced features run ---------------------------------------
@given("a TickStockApp subscriber on every Phase 3 channel the advanced features publish on, and on a raw "
       "redis-py reference channel of the suite's own")
def step_advanced_subscriber(context):
    context.state.advanced_delivery.subscribe()


@given("ETF universe expansion repeats in a background producer process while the tick processor is fed by "
       "the tick feeder at {rate:TickRate} ticks per second")
def step_advanced_background(context, rate):
    state = context.state
    state.advanced_delivery.start_background(producer_for(state.system), rate)


@when("scenarios are loaded and searched by the pattern detector, one after another, until the producers "
      "have published at least {wanted:HighVolumeMessages} messages")
def step_advanced_run(context, wanted):
    """Runs until the volume arrived (bounded), stops every feature and judges; the volume and the
    rate seen go to the evidence before the verdict."""
    advanced = context.state.advanced_delivery
    problems = advanced.run_until(producer_for(context.state.system), wanted)
    seconds = advanced.seconds
    per_feature = "; ".join(f"{f}: {advanced.acknowledged_by_feature(f)}" for f in advanced_delivery.FEATURES)
    evidence.record("producer messages published while the advanced features ran",
                    advanced.judgement.acknowledged, "messages", higher_is_better=True,
                    note=f"acknowledged in the producers' reports, {seconds:.1f} s: {per_feature}; "
                         f"{len(advanced.loads)} scenario loads, {len(advanced.detections)} detector runs; "
                         f"spec: {wanted}+")
    evidence.record("producer message rate while the advanced features ran",
                    advanced.judgement.acknowledged / seconds if seconds else 0.0, "messages/s",
                    higher_is_better=True)
    if advanced.feeder is not None:
        evidence.record("tick feeder rate beside the advanced features", advanced.feeder.achieved_rate,
                        "ticks/s", higher_is_better=True,
                        note=f"asked {advanced.rate:.0f}/s; {advanced.feeder.sent} ticks sent")
    no_problems(problems, "the advanced features' messages")


@then("no producer's message arrived twice, out of its producer's order, or without its producer having "
      "acknowledged it")
def step_advanced_order(context):
    judged = context.state.advanced_delivery.judgement
    no_problems(advanced_delivery.order_problems(judged), "delivery while the advanced features ran")


@then("the share of each producer's acknowledged messages that arrived meets the {target:Target}")
def step_advanced_success(context, target):
    judged = context.state.advanced_delivery.judgement
    per_feature = "; ".join(
        f"{feature}: {sum(p.report.delivered for p in group)} of {sum(p.report.acknowledged for p in group)}"
        for feature, group in judged.by_feature().items())
    evidence.record("message success rate while the advanced features ran", judged.overall.success_rate, "%",
                    target, note=f"{judged.overall.summary()}; arrived of acknowledged: {per_feature}")
    no_problems(advanced_delivery.success_problems(judged, target), "message success rate")


@then("message delivery latency p99 across the producers is within the {target:Target}")
def step_advanced_latency(context, target):
    """Judged on the p99 of every producer message that arrived; each feature's distribution is in the
    evidence beside it."""
    judged = context.state.advanced_delivery.judgement
    if judged.overall.latencies_ms:
        evidence.record_distribution("message delivery latency while the advanced features ran",
                                     judged.overall.latencies_ms, "ms", target, judged_by="p99")
    for feature, group in judged.by_feature().items():
        samples = [ms for p in group for ms in p.report.latencies_ms]
        if samples:
            evidence.record_distribution(f"message delivery latency: {feature}", samples, "ms",
                                         judged_by="p99")
    no_problems(advanced_delivery.latency_problems(judged, target), "message delivery latency")


@then("raw redis-py pub-sub latency from the same run is in the evidence as the reference line, with the "
      "producers' p99 against it")
def step_advanced_reference(context):
    judged = context.state.advanced_delivery.judgement
    raw = judged.reference_ms
    no_problems(advanced_delivery.reference_problems(judged), "the raw redis-py reference")
    ref = evidence.record_distribution("raw redis-py pub-sub latency (reference, same run)", raw, "ms",
                                       judged_by="p99")
    mine = judged.producer_latency()
    evidence.record("message delivery p99 / raw redis-py p99 while the advanced features ran",
                    judged.p99_ratio(), "x",
                    note=f"producers: p50 {mine.p50:.2f} / p95 {mine.p95:.2f} / p99 {mine.p99:.2f} / max "
                         f"{mine.max:.2f} ms over {mine.count}; raw: p50 {ref.distribution['p50']:.2f} / p95 "
                         f"{ref.distribution['p95']:.2f} / p99 {ref.value:.2f} / max "
                         f"{ref.distribution['max']:.2f} ms over {len(raw)} of {judged.reference_sent} sent")


@then("at least {operations:ConcurrentOperations} queries were in flight at the same time")
def step_enough_in_flight(context, operations):
    load = context.state.load
    peak = load.result.peak_in_flight
    evidence.record("peak ETF universe queries in flight", peak, "queries",
                    note=f"from {len(load.result.samples)} samples' start/end times; {load.clients} clients "
                         f"started; spec: {operations}+ concurrent operations")
    no_problems(concurrency.in_flight_problems(load.result, operations),
                f"{operations} concurrent operations")


@then("every ETF universe query finished within the {target:Target}")
def step_every_query_within(context, target):
    """All queries, as the sentence says: judged by the slowest (p50/p95/p99 stay in the evidence)."""
    load = context.state.load
    samples = load.result.latencies_ms
    values = [ms / 1000.0 for ms in samples] if target.unit == "s" else samples
    evidence.record("queries per second", len(samples) / load.result.elapsed_s, "q/s", higher_is_better=True)
    evidence.assert_within(f"ETF universe query latency ({load.clients} clients)", values, target.unit,
                           target, judged_by="max")


# -- PERF-3: real-time processing beside scenario generation and loading ---------------------------
@given("the tick processor is running and the tick feeder replays its tape at {rate:TickRate} ticks per "
       "second")
def step_realtime_running(context, rate):
    state = context.state
    state.realtime.start(producer_for(state.system), rate)


@when("the feeder runs before any scenario is loaded until its ticks have produced enough events for a p99")
def step_realtime_before(context):
    no_problems(context.state.realtime.wait_before(), "the measurement before any scenario load")


@when("every scenario is generated and loaded while the feeder keeps running, again until the ticks sent "
      "meanwhile have produced enough events for a p99")
def step_realtime_during(context):
    realtime = context.state.realtime
    problems = realtime.load_during(producer_for(context.state.system))
    loads = realtime.loads
    if loads:
        rows = sorted({r.report.get("rows") for r in loads}, key=str)
        evidence.record_distribution("full scenario load beside the tick feeder (process, end to end)",
                                     [r.wall_s for r in loads], "s", judged_by="max")
        evidence.record("full scenario loads while the feeder ran", len(loads), "loads",
                        note=f"back to back until the window held enough events; rows per load {rows}; "
                             f"window {realtime.feeder.window_seconds('during'):.1f} s")
    no_problems(problems, "the measurement during the scenario loads")


@then("tick-to-event latency p99 during the scenario loads is within the {target:Target}")
def step_realtime_latency(context, target):
    """Both windows' distributions and their p99 ratio go to the evidence; the p99 during the loads is
    judged (with p99 of at least REALTIME_MIN_EVENTS_PER_WINDOW samples, one late event is not the p99)."""
    realtime = context.state.realtime
    judged = realtime.finish()
    before, during = judged.latencies_ms.get("before", []), judged.latencies_ms.get("during", [])
    no_problems(realtime.settle_problems if not (before and during) else [], "the tick-to-event measurement")
    no_problems([] if before and during else [f"{len(before)} events before and {len(during)} during the "
                                              "loads arrived: nothing to measure"], "tick-to-event latency")
    quiet = evidence.record_distribution("tick-to-event latency before the scenario loads", before, "ms",
                                         judged_by="p99")
    busy = evidence.record_distribution("tick-to-event latency during the scenario loads", during, "ms",
                                        target, judged_by="p99")
    evidence.record("tick-to-event p99 ratio during/before the scenario loads", busy.value / quiet.value, "x",
                    note=f"p99 {busy.value:.1f} ms during / {quiet.value:.1f} ms before")
    missed = f"p99 {busy.value:.1f} ms misses {target.describe()} ({len(during)} events; before the loads: " \
             f"p99 {quiet.value:.1f} ms)"
    no_problems([] if busy.passed else [missed], "tick-to-event latency during the scenario loads")


@then("no tick was lost: every tick of a closed minute is counted in exactly one bar that matches the tape, "
      "and every threshold crossing on the tape arrived exactly once")
def step_realtime_no_loss(context):
    realtime = context.state.realtime
    judged = realtime.finish()
    evidence.record("ticks of closed minutes counted in exactly one bar", judged.counted_once, "ticks",
                    note=f"{realtime.feeder.sent} ticks sent, {judged.closed_ticks} in closed minutes; "
                         f"{judged.expected_bars} bars and {judged.expected_crossings} threshold crossings "
                         f"expected, {judged.received} events received")
    no_problems(realtime.settle_problems + judged.loss, "real-time processing beside the scenario loads")


@then("the ticks processed and the tick-to-event p99 before and during the scenario loads, and their ratio, "
      "are in the evidence")
def step_realtime_evidence(context):
    realtime = context.state.realtime
    judged = realtime.finish()
    for window in ("before", "during"):
        seconds = realtime.feeder.window_seconds(window)
        processed = judged.processed.get(window, 0)
        evidence.record(f"ticks processed {window} the scenario loads", processed, "ticks",
                        note=f"{judged.sent.get(window, 0)} sent in {seconds:.1f} s; "
                             "counted in exactly one bar")
        evidence.record(f"tick processing rate {window} the scenario loads",
                        processed / seconds if seconds else 0.0, "ticks/s", higher_is_better=True)
    evidence.record("tick feeder rate", realtime.feeder.achieved_rate, "ticks/s", higher_is_better=True,
                    note=f"asked {realtime.rate:.0f}/s; {realtime.feeder.sent} ticks in "
                         f"{realtime.feeder.batches} batches (largest {realtime.feeder.largest_batch})")
    report = realtime.processor_run.report if realtime.processor_run else {}
    evidence.record("ticks the processor reported processed", float(report.get("ticks_processed", 0)),
                    "ticks",
                    note=f"its report: {_brief(report)}")
    problems = realtime.processor_problems()
    problems += [f"no tick sent {w} the scenario loads was processed" for w in ("before", "during")
                 if not judged.processed.get(w)]
    no_problems(problems, "the evidence of real-time processing")


def _brief(report: dict) -> str:
    keys = ("ticks_processed", "published_count", "bars_published", "thresholds_published", "open_bars",
            "last_seq")
    return ", ".join(f"{k} {report[k]}" for k in keys if k in report) or "none"
