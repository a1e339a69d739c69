import re

from tickstock_acceptance.infra.migrations import migrations


def test_migrations_are_numbered_in_order_without_gaps():
    found = migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert len(found) >= 4


def test_migrations_hold_no_secrets_or_psql_meta_commands():
    for m in migrations():
        text = m.sql()
        assert not re.search(r"PASSWORD\s+'", text, re.I), f"{m.path.name} sets a password"
        assert not any(line.lstrip().startswith("\\") for line in text.splitlines())
