"""`make bench` reads its settings as `run` does: environment, then -D arguments (no services needed)."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tickstock_acceptance.cli.bench import bench_settings
from tickstock_acceptance.core.errors import SuiteError


def test_bench_takes_test_environment_variables_and_d_arguments():
    s = bench_settings(["-D", "db_name=bench_test", "-D", "redis_port=6390"],
                       environ={"TEST_DB_HOST": "db.example", "TEST_DB_PORT": "5433"})
    assert (s.mode, s.db_host, s.db_port, s.db_name, s.redis_port) == (
        "external", "db.example", 5433, "bench_test", 6390)
    assert bench_settings([], environ={}).mode == "embedded"


@pytest.mark.parametrize("argv", [["-D", "bogus=1"], ["-D", "db_port=x"], ["-D", "novalue"], ["--what"]])
def test_bench_refuses_bad_arguments_as_suite_errors(argv):
    with pytest.raises(SuiteError):
        bench_settings(argv, environ={})


@pytest.mark.parametrize("args, env, says", [
    (["-D", "bogus=1"], {}, "unknown setting -D bogus"),
    ([], {"TEST_DB_PORT": "abc"}, "db_port must be a port number"),
])
def test_bench_command_bad_setting_is_one_line_exit_2(args, env, says):
    bad = run_cli(*args, env=env, module="tickstock_acceptance.cli.bench")
    assert bad.returncode == 2, bad
    assert bad.stderr.startswith("ERROR: ") and says in bad.stderr and "— fix: " in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
