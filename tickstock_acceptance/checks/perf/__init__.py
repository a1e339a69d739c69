"""Target compliance (PERF-1..4): the spec's performance targets under concurrent load."""
