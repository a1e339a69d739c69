import pytest

from tickstock_acceptance.contract.messaging import REDIS_TEST_DBS
from tickstock_acceptance.core.errors import TargetRefused
from tickstock_acceptance.core.guard import require_test_database, require_test_redis_db


@pytest.mark.parametrize("name", ["tickstock_test", "x_test"])
def test_test_databases_pass(name):
    require_test_database(name, created_by_run=False)


@pytest.mark.parametrize("name", ["tickstock_live", "tickstock", "test_tickstock", "prod_test_x"])
def test_other_databases_are_refused_in_one_line(name):
    with pytest.raises(TargetRefused) as err:
        require_test_database(name, created_by_run=False)
    assert name in err.value.one_line() and "\n" not in err.value.one_line()
    assert err.value.exit_code != 0


def test_database_the_run_created_is_a_test_target():
    require_test_database("anything", created_by_run=True)


def test_override_lifts_the_guard():
    require_test_database("tickstock_live", created_by_run=False, override=True)


@pytest.mark.parametrize("db", [13, 14, 15])
def test_redis_test_dbs_pass(db):
    require_test_redis_db(db, REDIS_TEST_DBS)


@pytest.mark.parametrize("db", [0, 1, 12, 16])
def test_other_redis_dbs_refused(db):
    with pytest.raises(TargetRefused, match=f"database {db}"):
        require_test_redis_db(db, REDIS_TEST_DBS)
