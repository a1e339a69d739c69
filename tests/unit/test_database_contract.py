"""The database contract file and its comparison, without a server.

A fake catalog is built from the contract itself (it matches by construction); each test changes
one thing and expects exactly the one line that names it. The real catalog is exercised in
tests/integration/test_database_contract.py.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field, replace

import pytest

from tickstock_acceptance.contract import database as D
from tickstock_acceptance.contract.database import (
    DATABASE_CONTRACT,
    DATABASE_FILE,
    ContractFileError,
    IndexShape,
    Signature,
    load,
)


@dataclass(frozen=True)
class FakeColumn:
    type: str
    default: str = ""
    not_null: bool = False


@dataclass(frozen=True)
class FakeIndex:
    shape: IndexShape
    primary: bool = False
    valid: bool = True


@dataclass(frozen=True)
class FakeFunction:
    signature: Signature
    optional_arguments: int
    oid: int


@dataclass
class FakeCatalog:
    """Answers what ``CatalogView`` asks from plain dicts."""

    columns_of: dict[str, dict[str, FakeColumn]] = field(default_factory=dict)
    index_map: dict[str, FakeIndex] = field(default_factory=dict)
    overloads: dict[str, list[FakeFunction]] = field(default_factory=dict)
    sequence_names: set[str] = field(default_factory=set)
    role_names: set[str] = field(default_factory=set)
    grants: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (role, table): whole table
    column_grants: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # some columns
    sequence_grants: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    executable: set[tuple[str, int]] = field(default_factory=set)                 # (role, oid)

    def tables(self):
        return set(self.columns_of)

    def columns(self, table):
        return self.columns_of.get(table, {})

    def index_definitions(self):
        return self.index_map

    def function_overloads(self, name):
        return self.overloads.get(name, [])

    def sequences(self):
        return self.sequence_names

    def roles(self, names):
        return self.role_names & set(names)

    def table_privileges(self, role, table):
        return self.grants.get((role, table), set())

    def column_privileges(self, role, table):
        return self.column_grants.get((role, table), set()) | (
            self.table_privileges(role, table) & set(D.COLUMN_PRIVILEGES))

    def sequence_privileges(self, role, sequence):
        return self.sequence_grants.get((role, sequence), set())

    def can_execute(self, role, oid):
        return (role, oid) in self.executable


def matching_catalog() -> FakeCatalog:
    c = DATABASE_CONTRACT
    cat = FakeCatalog()
    for t in c.tables.values():
        cat.columns_of[t.name] = {n: FakeColumn(r.type, r.defaults[0] if r.defaults else "",
                                                bool(r.not_null))
                                  for n, r in t.columns.items()}
        cat.index_map[f"{t.name}_pkey"] = FakeIndex(IndexShape(t.name, t.primary_key, unique=True),
                                                    primary=True)
        for i, key in enumerate(t.unique):
            cat.index_map[f"{t.name}_key{i}"] = FakeIndex(IndexShape(t.name, key, unique=True))
    cat.index_map.update({name: FakeIndex(shape) for name, shape in c.indexes.items()})
    for oid, (name, rule) in enumerate(c.functions.items(), start=100):
        cat.overloads[name] = [FakeFunction(rule.signature, rule.optional_arguments, oid)]
    cat.sequence_names = {s for r in c.roles.values()
                          for s in [*r.must_have.sequences, *r.must_not_have.sequences]}
    cat.role_names = set(c.roles)
    for role in c.roles.values():
        for table, privileges in role.must_have.tables.items():
            cat.grants[(role.name, table)] = set(privileges)
        for sequence, privileges in role.must_have.sequences.items():
            cat.sequence_grants[(role.name, sequence)] = set(privileges)
        cat.executable |= {(role.name, cat.overloads[f][0].oid) for f in role.must_have.execute}
    return cat


def differences(cat: FakeCatalog) -> list[str]:
    return DATABASE_CONTRACT.compare(cat).differences


# -- the file ------------------------------------------------------------------------------------

def test_the_contract_states_what_the_spec_names():
    assert D.REQUIRED_TABLES == ("symbols", "cache_entries", "ohlcv_daily", "cache_sync_runs",
                                 "cache_sync_changes")
    assert D.REQUIRED_SCHEMA_COLUMNS == ("universe_category", "liquidity_filter", "universe_metadata",
                                         "last_universe_update")
    assert D.LEGACY_CACHE_COLUMNS == ("id", "type", "name", "key", "value", "environment", "created_at",
                                      "updated_at")
    assert D.REQUIRED_INDEXES == ("idx_cache_entries_category", "idx_cache_entries_updated",
                                  "idx_cache_sync_changes_run")
    assert DATABASE_CONTRACT.indexes["idx_cache_entries_updated"].keys == ("last_universe_update DESC",)
    assert [str(f.signature) for f in DATABASE_CONTRACT.functions.values()][:2] == [
        "get_etf_universe(text, boolean) → jsonb", "update_etf_universe(text, jsonb, jsonb) → jsonb"]
    assert (D.CONSUMER_ROLE, D.PRODUCER_ROLE) == ("app_readwrite", "tickstock_producer")
    consumer = DATABASE_CONTRACT.roles["app_readwrite"]
    assert "update_etf_universe" in consumer.must_not_have.execute
    assert {"INSERT", "UPDATE", "DELETE"} <= set(consumer.must_not_have.tables["cache_entries"])


def test_a_typo_in_the_contract_file_is_refused_not_left_unjudged():
    data = tomllib.loads(DATABASE_FILE.read_text())
    bad = copy.deepcopy(data)
    bad["tables"]["cache_entries"]["columns"]["universe_category"]["not_nul"] = False
    with pytest.raises(ContractFileError, match="not_nul"):
        load(bad)
    bad = copy.deepcopy(data)
    bad["roles"]["app_readwrite"]["must_not_have"]["tables"]["cache_entries"].append("WRITE")
    with pytest.raises(ContractFileError, match="WRITE"):
        load(bad)
    bad = copy.deepcopy(data)
    bad["roles"]["app_readwrite"]["must_not_have"]["execute"] = ["update_etf_universes"]
    with pytest.raises(ContractFileError, match="update_etf_universes"):
        load(bad)


# -- the comparison, one change at a time ---------------------------------------------------------

def test_a_matching_catalog_has_no_difference_and_no_note():
    found = DATABASE_CONTRACT.compare(matching_catalog())
    assert (found.differences, found.notes) == ([], [])


def test_missing_column_changed_type_default_and_nullness():
    cat = matching_catalog()
    cols = cat.columns_of["cache_entries"]
    del cols["liquidity_filter"]
    cols["universe_category"] = FakeColumn("text")
    cols["last_universe_update"] = FakeColumn("timestamp without time zone", "'2000-01-01'", True)
    cols["universe_metadata"] = FakeColumn("jsonb", "'{}'::jsonb")
    assert differences(cat) == [
        "column cache_entries.universe_category is text, the contract says character varying(50)",
        "missing column cache_entries.liquidity_filter (jsonb)",
        "column cache_entries.universe_metadata has DEFAULT '{}'::jsonb, the contract says no default",
        "column cache_entries.last_universe_update has DEFAULT '2000-01-01', "
        "the contract says DEFAULT CURRENT_TIMESTAMP or DEFAULT now()",
        "column cache_entries.last_universe_update is NOT NULL, the contract says nullable",
    ]


def test_an_equivalent_default_spelling_is_accepted():
    cat = matching_catalog()
    cat.columns_of["cache_entries"]["last_universe_update"] = FakeColumn("timestamp without time zone",
                                                                         "now()")
    assert differences(cat) == []


def test_keys_are_judged_by_their_columns_not_their_names():
    cat = matching_catalog()
    del cat.index_map["cache_entries_key0"]
    cat.index_map["renamed_unique"] = FakeIndex(
        IndexShape("cache_entries", ("environment", "key", "name", "type"), unique=True))
    assert differences(cat) == []
    del cat.index_map["renamed_unique"]
    cat.index_map["ohlcv_daily_pkey"] = FakeIndex(IndexShape("ohlcv_daily", ("symbol",), unique=True),
                                                  primary=True)
    assert differences(cat) == [
        "table cache_entries has no unique key on (type, name, key, environment), the contract requires one",
        "table ohlcv_daily has PRIMARY KEY (symbol), the contract says PRIMARY KEY (symbol, date)",
    ]


def test_index_direction_table_validity_and_absence():
    cat = matching_catalog()
    cat.index_map["idx_cache_entries_updated"] = FakeIndex(
        IndexShape("cache_entries", ("last_universe_update DESC NULLS LAST",)), valid=False)
    cat.index_map["idx_cache_entries_category"] = FakeIndex(IndexShape("symbols", ("sector",)))
    assert differences(cat) == [
        "index idx_cache_entries_category is on symbols, the contract puts it on cache_entries",
        "index idx_cache_entries_updated on cache_entries is (last_universe_update DESC NULLS LAST), "
        "the contract says (last_universe_update DESC)",
        "index idx_cache_entries_updated is not valid (queries cannot use it; a failed CREATE INDEX "
        "CONCURRENTLY leaves one)",
    ]
    del cat.index_map["idx_cache_entries_updated"]
    assert ("missing index idx_cache_entries_updated on cache_entries (last_universe_update DESC)"
            in differences(cat))


def test_an_index_of_its_own_is_a_note_not_a_difference():
    cat = matching_catalog()
    cat.index_map["idx_own"] = FakeIndex(IndexShape("cache_entries", ("key", "universe_category")))
    cat.index_map["idx_elsewhere"] = FakeIndex(IndexShape("not_in_the_contract", ("x",)))
    found = DATABASE_CONTRACT.compare(cat)
    assert found.differences == []
    assert found.notes == [
        "index idx_own on cache_entries (key, universe_category) is not in the contract (allowed)"]


def test_function_missing_result_defaults_and_overloads():
    cat = matching_catalog()
    get, update = cat.overloads["get_etf_universe"][0], cat.overloads["update_etf_universe"][0]
    cat.overloads["get_etf_universe"] = [
        replace(get, signature=replace(get.signature, result="json")),
        FakeFunction(Signature("get_etf_universe", ("text",), "jsonb"), 0, 900)]
    cat.overloads["update_etf_universe"] = [replace(update, optional_arguments=0)]
    del cat.overloads["validate_etf_universe_symbols"]
    assert differences(cat) == [
        "function get_etf_universe(text, boolean) returns json, the contract says jsonb",
        "extra overload get_etf_universe(text) → jsonb "
        "beside the contract's get_etf_universe(text, boolean) → jsonb",
        "function update_etf_universe(text, jsonb, jsonb) lets callers omit 0 trailing argument(s), "
        "the contract says 1 (they need defaults)",
        "missing function validate_etf_universe_symbols() → TABLE(universe_key text, symbol text, "
        "exists_in_symbols boolean, symbol_type text, active_status boolean)",
    ]


def test_grants_a_role_lacks_or_must_not_have():
    cat = matching_catalog()
    cat.grants[("tickstock_producer", "ohlcv_daily")] = {"SELECT", "INSERT"}
    cat.grants[("app_readwrite", "cache_entries")] = {"SELECT", "TRUNCATE"}
    cat.column_grants[("app_readwrite", "symbols")] = {"UPDATE"}
    cat.sequence_grants[("app_readwrite", "cache_entries_id_seq")] = {"USAGE"}
    cat.executable.add(("app_readwrite", cat.overloads["update_etf_universe"][0].oid))
    consumer, forbidden = "role app_readwrite (TickStockApp)", "which the contract forbids"
    assert differences(cat) == [
        f"{consumer} has UPDATE on columns of table symbols, {forbidden}",
        f"{consumer} has TRUNCATE on table cache_entries, {forbidden}",
        f"{consumer} has USAGE on sequence cache_entries_id_seq, {forbidden}",
        f"{consumer} may EXECUTE update_etf_universe(text, jsonb, jsonb), {forbidden}",
        "role tickstock_producer (TickStockPL) lacks UPDATE on table ohlcv_daily",
        "role tickstock_producer (TickStockPL) lacks DELETE on table ohlcv_daily",
    ]


def test_a_missing_role_is_named_once():
    cat = matching_catalog()
    cat.role_names.discard("tickstock_producer")
    assert differences(cat) == ["role tickstock_producer (TickStockPL) does not exist"]
