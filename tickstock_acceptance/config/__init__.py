"""Configuration: settings, paths, the checklist (``checklist.toml``), the spec's targets
(``targets``, only the spec's numbers) and the measurement design (``measurement``: sample sizes,
deadlines scaled by one timeout multiplier, bench aims, baseline thresholds).

May import: ``core`` (one-line errors, the guard's override names).
"""
