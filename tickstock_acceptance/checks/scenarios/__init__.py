"""Test Scenario Integration (SCN-1..5) and the scenario parts of DB-3 and SVC-3: the generated
rows against the contract (``ohlcv``), TA-Lib's recognition of the planted patterns and the
detector's pattern events (``recognition``), production untouched and out of reach (``isolation``),
nothing published or written outside the synthetic schema (``separation``), the loader CLI
(``loader_cli``) and the generation/loading times (``timing``). ``flow`` drives the producer and
records what each step observed. The oracle is ``contract/reference/scenarios.json``."""
