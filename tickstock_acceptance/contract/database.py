"""The Phase 3 database contract (``contract/database.toml``) and how a catalog is judged by it.

What the shared database must offer TickStockApp and TickStockPL - tables and columns with types,
defaults and keys, indexes with their key order and direction, functions with argument and result
types, roles and their grants - is stated in ``contract/database.toml``. This module loads it into
typed rules (``DATABASE_CONTRACT``) and compares a catalog with them
(``DatabaseContract.compare``), naming every difference in one line.

The comparison lives here, beside the rules, so that both judges use the same one: ENV-1's problem
finder (``checks/environment/database_contract.py``) and the external-mode preflight
(``infra/migrations.require_schema``), which sits below ``checks``. It reads nothing itself: it asks
the catalog it is handed (``infra/catalog.Catalog``, see ``CatalogView``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from tickstock_acceptance.config.paths import CONTRACT_DIR

DATABASE_FILE = CONTRACT_DIR / "database.toml"

TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
COLUMN_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "REFERENCES")  # grantable on single columns too
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT", "UPDATE")

_DIRECTION = re.compile(r"(\s+(ASC|DESC))?(\s+NULLS\s+(FIRST|LAST))?$")


# -- what the contract states, and the catalog reports, in the same terms ------------------------

@dataclass(frozen=True)
class Signature:
    """A function as its callers see it: name, input argument types, result type."""

    name: str
    arguments: tuple[str, ...]  # as format_type prints them: "text", "boolean", "jsonb"
    result: str                 # as pg_get_function_result prints it: "jsonb", "TABLE(theme text, ...)"

    @property
    def call(self) -> str:
        """Name and argument types: what identifies a function (and its overloads) in PostgreSQL."""
        return f"{self.name}({', '.join(self.arguments)})"

    def __str__(self) -> str:
        return f"{self.call} → {self.result}"


@dataclass(frozen=True)
class IndexShape:
    """What an index is, apart from its name: table, key columns in order with direction, kind."""

    table: str
    keys: tuple[str, ...]  # "universe_category", "last_universe_update DESC", "lower(name)"
    method: str = "btree"
    unique: bool = False
    predicate: str = ""    # the WHERE of a partial index, "" when none

    @property
    def columns(self) -> frozenset[str]:
        """The key columns without direction (what a primary or unique key is judged by)."""
        return frozenset(_DIRECTION.sub("", k) for k in self.keys)

    @property
    def definition(self) -> str:
        """The shape without the table, as CREATE INDEX writes it (``UNIQUE USING x (a, b DESC) WHERE p``)."""
        text = "UNIQUE " if self.unique else ""
        text += f"USING {self.method} " if self.method != "btree" else ""
        text += f"({', '.join(self.keys)})"
        return text + (f" WHERE {self.predicate}" if self.predicate else "")

    def __str__(self) -> str:
        return f"on {self.table} {self.definition}"


# -- the rules -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ColumnRule:
    type: str
    defaults: tuple[str, ...] | None = None  # accepted spellings; () = must have none; None = not judged
    not_null: bool | None = None             # None = not judged


@dataclass(frozen=True)
class TableRule:
    name: str
    columns: dict[str, ColumnRule]
    primary_key: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    phase3_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class FunctionRule:
    signature: Signature
    optional_arguments: int = 0  # trailing arguments that must have defaults (callers omit them)


@dataclass(frozen=True)
class Grants:
    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sequences: dict[str, tuple[str, ...]] = field(default_factory=dict)
    execute: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoleRule:
    name: str
    plays: str  # "TickStockApp" or "TickStockPL"
    must_have: Grants
    must_not_have: Grants

    def __str__(self) -> str:
        return f"role {self.name} ({self.plays})"


@dataclass
class Comparison:
    """What a catalog holds that the contract does not allow (differences) or does not mention
    but allows (notes), one line each."""

    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class CatalogView(Protocol):
    """What the comparison asks of a catalog (``infra/catalog.Catalog`` answers it).

    ``columns`` values have ``type``, ``default`` ("" when none) and ``not_null``;
    ``index_definitions`` maps every index name of the schema to an object with ``shape``
    (an ``IndexShape``), ``primary`` and ``valid``; ``function_overloads`` lists objects with
    ``signature`` (a ``Signature``), ``optional_arguments`` and ``oid``.
    """

    def tables(self) -> set[str]: ...
    def columns(self, table: str) -> Mapping[str, Any]: ...
    def index_definitions(self) -> Mapping[str, Any]: ...
    def function_overloads(self, name: str) -> list[Any]: ...
    def sequences(self) -> set[str]: ...
    def roles(self, names: Iterable[str]) -> set[str]: ...
    def table_privileges(self, role: str, table: str) -> set[str]: ...
    def column_privileges(self, role: str, table: str) -> set[str]: ...
    def sequence_privileges(self, role: str, sequence: str) -> set[str]: ...
    def can_execute(self, role: str, function_oid: int) -> bool: ...


@dataclass(frozen=True)
class DatabaseContract:
    tables: dict[str, TableRule]
    indexes: dict[str, IndexShape]
    functions: dict[str, FunctionRule]
    roles: dict[str, RoleRule]

    def role_playing(self, part: str) -> str:
        return next(r.name for r in self.roles.values() if r.plays == part)

    def compare(self, catalog: CatalogView, judged_as: Mapping[str, str] | None = None) -> Comparison:
        """Every difference between ``catalog`` and the contract, and notes on what it adds.

        ``judged_as`` maps a contract role (``app_readwrite``) to the database role that plays it in
        this deployment (e.g. the configured consumer identity), whose grants are then judged by
        that role's rules; by default each contract role is judged under its own name."""
        found = Comparison()
        tables = catalog.tables()
        indexes = catalog.index_definitions()
        for rule in self.tables.values():
            if rule.name not in tables:
                found.differences.append(f"missing table {rule.name}")
                continue
            found.differences += _column_differences(rule, catalog.columns(rule.name))
            found.differences += _key_differences(rule, indexes)
        self._compare_indexes(indexes, tables, found)
        overloads = {name: catalog.function_overloads(name) for name in self.functions}
        for name, rule in self.functions.items():
            found.differences += _function_differences(rule, overloads[name])
        for role in self._existing_roles(catalog, found, judged_as or {}):
            found.differences += self._grant_differences(role, catalog, tables, overloads)
        found.differences = list(dict.fromkeys(found.differences))  # a missing sequence, once
        return found

    # -- indexes ---------------------------------------------------------------------------------
    def _compare_indexes(self, indexes: Mapping[str, Any], tables: set[str], found: Comparison) -> None:
        for name, want in self.indexes.items():
            have = indexes.get(name)
            if have is None:
                if want.table in tables:
                    found.differences.append(f"missing index {name} {want}")
                continue
            if have.shape.table != want.table:
                found.differences.append(f"index {name} is on {have.shape.table}, "
                                         f"the contract puts it on {want.table}")
            elif have.shape != want:
                found.differences.append(f"index {name} on {want.table} is {have.shape.definition}, "
                                         f"the contract says {want.definition}")
            if not have.valid:
                found.differences.append(f"index {name} is not valid (queries cannot use it; a failed "
                                         "CREATE INDEX CONCURRENTLY leaves one)")
        for name, have in sorted(indexes.items()):
            table = self.tables.get(have.shape.table)
            if table is None or name in self.indexes or have.primary or _backs_unique_key(table, have):
                continue
            twins = [n for n, want in self.indexes.items() if want == have.shape]
            found.notes.append(f"index {name} {have.shape} is not in the contract (allowed)"
                               + (f"; it duplicates {', '.join(twins)}" if twins else ""))

    # -- roles and grants ------------------------------------------------------------------------
    def _existing_roles(self, catalog: CatalogView, found: Comparison,
                        judged_as: Mapping[str, str]) -> list[RoleRule]:
        judged = [replace(r, name=judged_as.get(r.name, r.name)) for r in self.roles.values()]
        existing = catalog.roles(r.name for r in judged)
        for role in judged:
            if role.name not in existing:
                found.differences.append(f"{role} does not exist")
        return [r for r in judged if r.name in existing]

    def needs(self, part: str) -> list[tuple[str, str, str]]:
        """(kind, object, privilege) the role playing ``part`` must have, functions named with their
        argument types (what ``has_*_privilege`` takes)."""
        rule = self.roles[self.role_playing(part)].must_have
        return ([("table", t, p) for t, ps in rule.tables.items() for p in ps]
                + [("sequence", s, p) for s, ps in rule.sequences.items() for p in ps]
                + [("function", self.functions[f].signature.call, "EXECUTE") for f in rule.execute])

    def _grant_differences(self, role: RoleRule, catalog: CatalogView, tables: set[str],
                           overloads: Mapping[str, list[Any]]) -> list[str]:
        out: list[str] = []
        sequences = catalog.sequences()
        for table, privileges in role.must_have.tables.items():
            if table in tables:
                have = catalog.table_privileges(role.name, table)
                out += [f"{role} lacks {p} on table {table}" for p in privileges if p not in have]
        for sequence, privileges in role.must_have.sequences.items():
            if sequence not in sequences:
                out.append(f"missing sequence {sequence}")
                continue
            have = catalog.sequence_privileges(role.name, sequence)
            out += [f"{role} lacks {p} on sequence {sequence}" for p in privileges if p not in have]
        for name in role.must_have.execute:
            wanted = self.functions[name].signature
            for fn in overloads[name]:
                if fn.signature.arguments == wanted.arguments and not catalog.can_execute(role.name, fn.oid):
                    out.append(f"{role} lacks EXECUTE on {fn.signature.call}")
        for table, privileges in role.must_not_have.tables.items():
            if table in tables:
                whole = catalog.table_privileges(role.name, table)
                some = catalog.column_privileges(role.name, table)
                for p in privileges:
                    if p in whole:
                        out.append(f"{role} has {p} on table {table}, which the contract forbids")
                    elif p in some:
                        out.append(f"{role} has {p} on columns of table {table}, which the contract forbids")
        for sequence, privileges in role.must_not_have.sequences.items():
            if sequence in sequences:
                have = catalog.sequence_privileges(role.name, sequence)
                out += [f"{role} has {p} on sequence {sequence}, which the contract forbids"
                        for p in privileges if p in have]
        for name in role.must_not_have.execute:
            out += [f"{role} may EXECUTE {fn.signature.call}, which the contract forbids"
                    for fn in overloads[name] if catalog.can_execute(role.name, fn.oid)]
        return out


def _column_differences(rule: TableRule, columns: Mapping[str, Any]) -> list[str]:
    out = []
    for name, want in rule.columns.items():
        where = f"{rule.name}.{name}"
        have = columns.get(name)
        if have is None:
            out.append(f"missing column {where} ({want.type})")
            continue
        if have.type != want.type:
            out.append(f"column {where} is {have.type}, the contract says {want.type}")
        judged = want.defaults is not None and (want.defaults or have.default)
        if judged and have.default not in want.defaults:
            said = " or ".join(f"DEFAULT {d}" for d in want.defaults) or "no default"
            has = f"has DEFAULT {have.default}" if have.default else "has no default"
            out.append(f"column {where} {has}, the contract says {said}")
        if want.not_null is not None and bool(have.not_null) != want.not_null:
            out.append(f"column {where} is {_nullness(have.not_null)}, "
                       f"the contract says {_nullness(want.not_null)}")
    return out


def _nullness(not_null: bool) -> str:
    return "NOT NULL" if not_null else "nullable"


def _key_differences(rule: TableRule, indexes: Mapping[str, Any]) -> list[str]:
    on_table = [i for i in indexes.values() if i.shape.table == rule.name]
    out = []
    if rule.primary_key:
        primary = next((i for i in on_table if i.primary), None)
        want = ", ".join(rule.primary_key)
        if primary is None:
            out.append(f"table {rule.name} has no primary key, the contract says PRIMARY KEY ({want})")
        elif primary.shape.columns != frozenset(rule.primary_key):
            out.append(f"table {rule.name} has PRIMARY KEY ({', '.join(primary.shape.keys)}), "
                       f"the contract says PRIMARY KEY ({want})")
    for key in rule.unique:
        if not any(_is_key_on(i, key) for i in on_table):
            out.append(f"table {rule.name} has no unique key on ({', '.join(key)}), "
                       "the contract requires one")
    return out


def _is_key_on(index: Any, columns: tuple[str, ...]) -> bool:
    shape = index.shape
    return shape.unique and not shape.predicate and index.valid and shape.columns == frozenset(columns)


def _backs_unique_key(rule: TableRule, index: Any) -> bool:
    return any(_is_key_on(index, key) for key in rule.unique)


def _function_differences(rule: FunctionRule, overloads: list[Any]) -> list[str]:
    want = rule.signature
    out = []
    ours = next((fn for fn in overloads if fn.signature.arguments == want.arguments), None)
    if ours is None:
        out.append(f"missing function {want}")
    else:
        have = ours.signature
        if have.result != want.result:
            out.append(f"function {want.call} returns {have.result}, the contract says {want.result}")
        if ours.optional_arguments < rule.optional_arguments:
            out.append(f"function {want.call} lets callers omit {ours.optional_arguments} trailing "
                       f"argument(s), the contract says {rule.optional_arguments} (they need defaults)")
    out += [f"extra overload {fn.signature} beside the contract's {want}"
            for fn in overloads if fn is not ours]
    return out


# -- loading contract/database.toml ---------------------------------------------------------------

class ContractFileError(ValueError):
    """contract/database.toml says something this module cannot judge (a typo must not go unjudged)."""


def _check_keys(where: str, data: Mapping, allowed: set[str]) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise ContractFileError(f"{DATABASE_FILE.name}: {where}: unknown key(s) {sorted(unknown)}")


def _privileges(where: str, names: Iterable[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    names = tuple(names)
    wrong = [n for n in names if n not in allowed]
    if wrong:
        raise ContractFileError(f"{DATABASE_FILE.name}: {where}: unknown privilege(s) {wrong}")
    return names


def _column(where: str, data: Mapping) -> ColumnRule:
    _check_keys(where, data, {"type", "default", "not_null", "chosen"})
    default = data.get("default")
    defaults = None if default is None else (tuple(default) if isinstance(default, list) else
                                             (() if default == "" else (default,)))
    return ColumnRule(data["type"], defaults, data.get("not_null"))


def _table(name: str, data: Mapping) -> TableRule:
    _check_keys(f"tables.{name}", data, {"columns", "primary_key", "unique", "phase3_columns", "chosen"})
    columns = {c: _column(f"tables.{name}.columns.{c}", d) for c, d in data["columns"].items()}
    rule = TableRule(name, columns, tuple(data.get("primary_key", ())),
                     tuple(tuple(k) for k in data.get("unique", ())), tuple(data.get("phase3_columns", ())))
    named = set(rule.primary_key).union(*rule.unique, rule.phase3_columns)
    if named - set(columns):
        raise ContractFileError(f"{DATABASE_FILE.name}: tables.{name}: keys name columns it does not "
                                f"state: {sorted(named - set(columns))}")
    return rule


def _grants(where: str, data: Mapping, contract: DatabaseContract) -> Grants:
    _check_keys(where, data, {"tables", "sequences", "execute"})
    tables = {t: _privileges(f"{where}.tables.{t}", p, TABLE_PRIVILEGES)
              for t, p in data.get("tables", {}).items()}
    sequences = {s: _privileges(f"{where}.sequences.{s}", p, SEQUENCE_PRIVILEGES)
                 for s, p in data.get("sequences", {}).items()}
    execute = tuple(data.get("execute", ()))
    strangers = ([t for t in tables if t not in contract.tables]
                 + [f for f in execute if f not in contract.functions])
    if strangers:
        raise ContractFileError(f"{DATABASE_FILE.name}: {where}: names no table or function of the contract: "
                                f"{strangers}")
    return Grants(tables, sequences, execute)


def load(data: Mapping) -> DatabaseContract:
    """The contract from the parsed TOML document (strict: an unknown key is an error)."""
    _check_keys("top level", data, {"tables", "indexes", "functions", "roles"})
    tables = {n: _table(n, d) for n, d in data["tables"].items()}
    indexes = {}
    for name, d in data["indexes"].items():
        _check_keys(f"indexes.{name}", d, {"table", "keys", "method", "unique", "predicate", "chosen"})
        if d["table"] not in tables:
            raise ContractFileError(f"{DATABASE_FILE.name}: indexes.{name}: "
                                    f"table {d['table']} is not in the contract")
        indexes[name] = IndexShape(d["table"], tuple(d["keys"]), d.get("method", "btree"),
                                   d.get("unique", False), d.get("predicate", ""))
    functions = {}
    for name, d in data["functions"].items():
        _check_keys(f"functions.{name}", d, {"arguments", "optional_arguments", "result", "chosen"})
        functions[name] = FunctionRule(Signature(name, tuple(d["arguments"]), d["result"]),
                                       d.get("optional_arguments", 0))
    contract = DatabaseContract(tables, indexes, functions, {})
    for name, d in data["roles"].items():
        _check_keys(f"roles.{name}", d, {"plays", "must_have", "must_not_have", "chosen"})
        contract.roles[name] = RoleRule(name, d["plays"],
                                        _grants(f"roles.{name}.must_have", d.get("must_have", {}), contract),
                                        _grants(f"roles.{name}.must_not_have", d.get("must_not_have", {}),
                                                contract))
    return contract


DATABASE_CONTRACT = load(tomllib.loads(DATABASE_FILE.read_text()))

# Names other modules use (derived from the file, so there is one statement of each).
REQUIRED_TABLES = tuple(DATABASE_CONTRACT.tables)
REQUIRED_SCHEMA_COLUMNS = DATABASE_CONTRACT.tables["cache_entries"].phase3_columns
REQUIRED_INDEXES = tuple(DATABASE_CONTRACT.indexes)
REQUIRED_DATABASE_FUNCTIONS = tuple(DATABASE_CONTRACT.functions)

# The columns cache_entries had before Phase 3 (legacy readers and writers name only these).
LEGACY_CACHE_COLUMNS = tuple(c for c in DATABASE_CONTRACT.tables["cache_entries"].columns
                             if c not in REQUIRED_SCHEMA_COLUMNS)

CONSUMER_ROLE = DATABASE_CONTRACT.role_playing("TickStockApp")      # app_readwrite
PRODUCER_ROLE = DATABASE_CONTRACT.role_playing("TickStockPL")       # tickstock_producer

SUMMARY_SAMPLE_SIZE = 5  # get_etf_universes_summary's symbols_sample: the first members, sorted
