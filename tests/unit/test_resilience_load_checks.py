"""The RES-2 / RES-3 problem finders and helpers, on made-up results (no servers)."""

import resource

from tickstock_acceptance.checks.resilience import concurrency as C
from tickstock_acceptance.checks.resilience import stress as S
from tickstock_acceptance.config import targets as T
from tickstock_acceptance.sut.stress import (
    MB,
    Constraints,
    OperationResult,
    ProcessSample,
    Samples,
    _subcommand,
    published,
)


def op(kind, start, end, ok=True, error=""):
    """An operation that ran from ``start`` to ``end`` seconds after an epoch-like origin."""
    return OperationResult(kind, f"{kind} op", 1000.0 + start, 1000.0 + end, ok, error)


def test_peak_in_flight_is_swept_from_start_and_end_times():
    results = [op("a", 0.0, 1.0), op("b", 0.5, 2.0), op("c", 1.0, 1.5), op("d", 3.0, 4.0)]
    assert C.peak_in_flight(results) == 2  # an end before a start at the same instant
    assert C.peak_in_flight([op("a", 0.0, 1.0), op("b", 0.1, 1.0), op("c", 0.2, 1.0)]) == 3
    assert C.peak_in_flight([OperationResult("x", "never started")]) == 0


def test_in_flight_and_errors_and_mix():
    ten = [op("k", 0.0, 1.0 + i / 100) for i in range(10)]
    assert C.in_flight_problems(ten, 10) == []
    assert "at most 9" in C.in_flight_problems(ten[:9], 10)[0]
    failed = [*ten[:9], op("k", 0.0, 1.0, ok=False, error="HTTP 503: pool exhausted")]
    problems = C.error_problems(failed, 10)
    assert problems == ["k `k op`: HTTP 503: pool exhausted"]
    assert C.error_problems(ten[:9], 10) == ["9 of 10 operations ran"]
    assert C.mix_problems(ten, ["k", "other"]) == ["no other started with the others"]


def test_latencies_by_kind_include_all_operations():
    by_kind = C.latencies_by_kind([op("a", 0.0, 0.010), op("b", 0.0, 0.020), op("a", 1.0, 1.030)])
    assert [round(x) for x in by_kind["a"]] == [10, 30]
    assert len(by_kind[C.ALL_KINDS]) == 3


def test_success_rate_against_the_spec_minimum():
    results = [op("k", 0, 1)] * 7 + [op("k", 0, 1, ok=False, error="timeout")] * 3
    assert C.success_rate(results) == 70.0
    assert C.success_rate_problems(results, T.SUCCESS_RATE_UNDER_CONSTRAINTS) == []
    worse = results[1:] + [op("k", 0, 1, ok=False, error="timeout")]
    assert "60.0 % of 10 operations succeeded, below 70 %" in \
        C.success_rate_problems(worse, T.SUCCESS_RATE_UNDER_CONSTRAINTS)[0]
    assert C.success_rate_problems([], T.SUCCESS_RATE_UNDER_CONSTRAINTS) == ["no operation ran"]


def test_constraints_are_read_back_per_process():
    c = Constraints(19, 1, 1024, 1)
    ok = {10: {"nice": 19, "cores": [1], "address_space_mb": 1024, "label": "producer expand"}}
    assert C.constraint_problems(ok, c, {"cores": [1]}) == []
    wrong = {11: {"nice": 0, "cores": [0, 1], "address_space_mb": None, "label": "producer expand"}}
    problem = C.constraint_problems(wrong, c, {"cores": [0, 1]})
    assert "nice 0" in problem[0] and "cores [0, 1]" in problem[0] and "TickStockApp" in problem[1]
    assert "unproven" in C.constraint_problems({}, c, None)[0]


def test_the_trampoline_wraps_the_command_and_test_themes_are_valid_names():
    argv = Constraints(19, 0, 512, 1).wrap(["python", "-m", "tickstock_producer", "--json", "summary"])
    assert argv[1] == "-c" and argv[3:7] == ["19", "0", "512", "1"] and argv[-1] == "summary"
    assert "RLIMIT_AS" in argv[2] and hasattr(resource, "RLIMIT_FSIZE")
    assert [C.test_theme(i) for i in (0, 1, 25, 26)] == ["test_res_a", "test_res_b", "test_res_z",
                                                         "test_res_aa"]


def test_subcommand_and_published_count():
    base = ["/venv/python", "-m", "tickstock_producer"]
    assert _subcommand([*base, "--json", "expand", "--themes", "x"], base) == "expand"
    assert _subcommand(["/venv/python", "-m", "tickstock_app"], base) is None
    assert published({"published_count": 3}) == 3
    assert published({"published": ["a", "b"]}) == 2
    assert published({}) == 0


def samples(pid, label, rss_mb, t0=0.0, step=0.1):
    return [ProcessSample(t0 + i * step, label, pid, int(mb * MB), i * 0.01) for i, mb in enumerate(rss_mb)]


def test_growth_from_a_quiet_baseline_or_from_the_start():
    app = samples(1, "TickStockApp", [50, 50, 52, 51, 120, 80])
    g = S.growth_of("TickStockApp", app, 1, baseline_until=0.25)   # median of the first three: 50
    assert round(g.growth_mb) == 70 and round(g.final / MB) == 80
    proc = samples(2, "tick processor", [10, 40, 41, 42], t0=1.0)
    g2 = S.growth_of("tick processor", proc, 2, since=1.15)        # first sample from 1.2 s on: 41
    assert round(g2.baseline / MB) == 41 and round(g2.growth_mb) == 1
    assert S.growth_of("x", proc, 3) is None


def test_memory_problems_judge_less_than_100_mb_per_process():
    ok = S.Growth("TickStockApp", 1, 50 * MB, 149 * MB, 149 * MB, 10)
    leak = S.Growth("background expander", 2, 40 * MB, 140 * MB, 140 * MB, 10)
    assert S.memory_problems([ok], ["TickStockApp"], T.MEMORY_INCREASE) == []
    problems = S.memory_problems([ok, leak], ["TickStockApp", "background expander", "tick processor"],
                                 T.MEMORY_INCREASE)
    assert problems[0] == "tick processor: no resident memory samples to judge"
    assert "background expander grew by 100.0 MB, not less than 100 MB" in problems[1]


def test_cpu_is_normalised_to_the_machine():
    assert S.cpu_share(16.0, 10.0, 2) == 80.0
    assert S.cpu_problems(80.0, T.AVERAGE_CPU, 10.0) == []
    assert "81.0 % of the machine's CPU" in S.cpu_problems(81.0, T.AVERAGE_CPU, 10.0)[0]
    assert S.cpu_problems(0.0, T.AVERAGE_CPU, 0.0) != []


def test_sampling_and_short_lived_peaks_and_the_chart():
    data = Samples(samples(1, "TickStockApp", [50] * 10) + samples(7, "producer expand", [30, 44, 20]),
                   ticks=10)
    assert S.sampling_problems(data, 2.0, 0.1, 0.4) == []
    assert "need at least 16" in S.sampling_problems(data, 2.0, 0.1, 0.8)[0]
    assert S.peak_by_label(data.samples, {1}) == {"producer expand": (44 * MB, 1)}
    curves = S.rss_curves(data.samples, {1: "TickStockApp"}, 0.0)
    svg = S.rss_chart_svg(curves, "RSS <test>")
    assert svg.startswith("<svg") and "polyline" in svg and "RSS &lt;test&gt;" in svg
