import pytest

from tickstock_acceptance.config.settings import load_settings
from tickstock_acceptance.core.errors import SuiteError


def test_defaults_are_embedded_with_spec_names():
    s = load_settings({}, {})
    assert s.mode == "embedded"
    assert (s.db_name, s.db_user, s.db_port, s.redis_port) == ("tickstock_test", "app_readwrite", 5432, 6379)


def test_spec_variables_switch_to_external_mode():
    s = load_settings({"TEST_DB_HOST": "db.example", "TEST_DB_PORT": "6543"}, {})
    assert s.external and s.db_host == "db.example" and s.db_port == 6543


def test_behave_userdata_overrides_environment():
    s = load_settings({"TEST_DB_NAME": "a_test"}, {"db_name": "b_test"})
    assert s.db_name == "b_test" and s.external


def test_unknown_key_is_one_line_error_naming_the_fix():
    with pytest.raises(SuiteError) as err:
        load_settings({}, {"db_nmae": "x"})
    line = err.value.one_line()
    assert "db_nmae" in line and "db_name" in line and "\n" not in line


def test_bad_port_is_rejected():
    with pytest.raises(SuiteError, match="port"):
        load_settings({"TEST_DB_PORT": "fivefour"}, {})


def test_password_never_shown():
    s = load_settings({"TEST_DB_PASSWORD": "s3cr3t-pw", "TEST_DB_HOST": "h"}, {})
    assert s.db_password == "s3cr3t-pw"
    assert "s3cr3t-pw" not in repr(s) and "s3cr3t-pw" not in s.describe()


def test_unsafe_override_is_off_unless_named():
    assert not load_settings({}, {}).UNSAFE_allow_non_test_target
    assert load_settings({"TICKSTOCK_UNSAFE_ALLOW_NON_TEST_TARGET": "yes"}, {}).UNSAFE_allow_non_test_target


@pytest.mark.parametrize("key", ["db_password", "producer_db_password", "admin_db_password"])
def test_passwords_are_refused_on_the_command_line(key):
    with pytest.raises(SuiteError) as err:
        load_settings({}, {key: "hunter2"})
    assert "hunter2" not in err.value.one_line() and "environment" in err.value.one_line()


def test_db_name_alone_renames_the_embedded_database():
    s = load_settings({}, {"db_name": "other_test"})
    assert s.mode == "embedded" and s.db_name == "other_test"


def test_host_keys_switch_to_external_mode():
    assert load_settings({}, {"db_host": "10.0.0.5"}).external


def test_producer_and_admin_credentials_default_to_the_consumer():
    s = load_settings({"TEST_DB_USER": "app_readwrite", "TEST_DB_PASSWORD": "c"}, {})
    assert s.credentials("producer") == ("app_readwrite", "c") == s.credentials("admin")
    s = load_settings({"TEST_DB_USER": "app_readwrite", "TEST_DB_PRODUCER_USER": "tickstock_producer",
                       "TEST_DB_PRODUCER_PASSWORD": "p", "TEST_DB_ADMIN_USER": "postgres"}, {})
    assert s.credentials("producer") == ("tickstock_producer", "p")
    assert s.credentials("admin") == ("postgres", None)
    assert "='p'" not in repr(s)  # the producer's password is never in the settings' repr


def test_timeout_multiplier_scales_deadlines_and_bad_values_are_one_line():
    from tickstock_acceptance.config import measurement

    assert measurement.timeout_multiplier({}) == 1.0
    assert measurement.timeout_multiplier({"TICKSTOCK_TIMEOUT_MULTIPLIER": "2.5"}) == 2.5
    for bad in ("0", "-1", "fast", "1000"):
        with pytest.raises(SuiteError, match="TICKSTOCK_TIMEOUT_MULTIPLIER"):
            load_settings({"TICKSTOCK_TIMEOUT_MULTIPLIER": bad}, {})


def test_a_redis_cluster_is_external_and_gets_a_test_namespace():
    s = load_settings({"TEST_REDIS_HOST": "node-1", "TEST_REDIS_CLUSTER": "1"}, {})
    assert s.external and s.redis_cluster and s.redis_namespace == "test_acceptance:"
    assert "Redis Cluster node-1:6379 (namespace test_acceptance:)" in s.describe()
    own = load_settings({"TEST_REDIS_HOST": "node-1"},
                        {"redis_cluster": "yes", "redis_namespace": "test_ci."})
    assert own.redis_namespace == "test_ci."


def test_cluster_and_namespace_settings_alone_do_not_switch_to_external_mode():
    assert load_settings({"TEST_REDIS_NAMESPACE": "test_me:"}, {}).mode == "embedded"
    with pytest.raises(SuiteError, match="a Redis Cluster is judged in external mode"):
        load_settings({"TEST_REDIS_CLUSTER": "1"}, {})


@pytest.mark.parametrize("namespace", ["w1:", "test_w1", "TEST_w1:", "test_" + "x" * 27 + ":", "prod:"])
def test_a_namespace_must_be_test_prefixed_and_end_in_a_separator(namespace):
    with pytest.raises(SuiteError, match="namespace") as err:
        load_settings({"TEST_REDIS_HOST": "h"}, {"redis_namespace": namespace})
    assert "\n" not in err.value.one_line()


def test_a_yes_no_setting_refuses_other_words():
    with pytest.raises(SuiteError, match="redis_cluster must be yes or no"):
        load_settings({"TEST_REDIS_HOST": "h"}, {"redis_cluster": "cluster"})
