"""The one reader of PostgreSQL's catalog: what the connected schema really holds.

Every check of tables, columns, keys, indexes, functions and privileges reads them here
(pg_catalog through the connection it is given, for the connection's current schema), never from
the migration files. It answers what ``contract.database.CatalogView`` asks, so the database
contract can be compared with it; it judges nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tickstock_acceptance.contract.database import (
    COLUMN_PRIVILEGES,
    SEQUENCE_PRIVILEGES,
    TABLE_PRIVILEGES,
    IndexShape,
    Signature,
)

# A relation of the current schema by its plain name (not whatever the search path finds first).
_IN_SCHEMA = "to_regclass(quote_ident(current_schema()) || '.' || quote_ident(%s))"


@dataclass(frozen=True)
class Column:
    type: str       # as format_type prints it, e.g. "character varying(50)"
    default: str    # the default expression, "" when none
    position: int   # attnum: the order columns were added in
    not_null: bool = False


@dataclass(frozen=True)
class Index:
    name: str
    shape: IndexShape  # table, key columns in order with direction, method, unique, predicate
    primary: bool      # it backs the table's primary key
    valid: bool        # false after a failed CREATE INDEX CONCURRENTLY: queries cannot use it


@dataclass(frozen=True)
class Function:
    signature: Signature     # name, input argument types, result type
    optional_arguments: int  # how many trailing arguments have defaults
    oid: int


def _key(column: str, option: int) -> str:
    """A key column with its direction as CREATE INDEX writes it (indoption: 1 = DESC, 2 = NULLS FIRST)."""
    desc, nulls_first = bool(option & 1), bool(option & 2)
    text = column + (" DESC" if desc else "")
    if nulls_first != desc:  # only a non-default NULLS placement is written out
        text += " NULLS FIRST" if nulls_first else " NULLS LAST"
    return text


class Catalog:
    """Catalog queries over one open connection, for the connection's current schema."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def _rows(self, query: str, args=()) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall()

    def tables(self) -> set[str]:
        return {r[0] for r in self._rows("""SELECT c.relname FROM pg_class c
                                            JOIN pg_namespace n ON n.oid = c.relnamespace
                                            WHERE n.nspname = current_schema()
                                              AND c.relkind IN ('r', 'p')""")}

    def sequences(self) -> set[str]:
        return {r[0] for r in self._rows("""SELECT c.relname FROM pg_class c
                                            JOIN pg_namespace n ON n.oid = c.relnamespace
                                            WHERE n.nspname = current_schema() AND c.relkind = 'S'""")}

    def columns(self, table: str) -> dict[str, Column]:
        """Column name → type, default, position and NOT NULL, in the order the columns were added."""
        rows = self._rows(f"""SELECT a.attname, format_type(a.atttypid, a.atttypmod),
                                     pg_get_expr(d.adbin, d.adrelid), a.attnum, a.attnotnull
                              FROM pg_attribute a
                              LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                              WHERE a.attrelid = {_IN_SCHEMA} AND a.attnum > 0 AND NOT a.attisdropped
                              ORDER BY a.attnum""", (table,))
        return {r[0]: Column(r[1], r[2] or "", r[3], r[4]) for r in rows}

    def indexes(self, table: str) -> dict[str, str]:
        """Index name → its definition (``CREATE INDEX ... (column DESC)``)."""
        return dict(self._rows("""SELECT indexname, indexdef FROM pg_indexes
                                  WHERE schemaname = current_schema() AND tablename = %s""", (table,)))

    def index_definitions(self) -> dict[str, Index]:
        """Every index of the current schema by name: table, key columns in order with direction
        (pg_index.indoption), method, uniqueness, predicate, primary, valid. Included (non-key)
        columns and operator classes are not part of the shape."""
        rows = self._rows("""
            SELECT i.relname, t.relname, am.amname, x.indisunique, x.indisprimary, x.indisvalid,
                   COALESCE(pg_get_expr(x.indpred, x.indrelid, true), ''),
                   ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)
                         FROM generate_series(1, x.indnkeyatts) AS k ORDER BY k),
                   ARRAY(SELECT x.indoption[k - 1] FROM generate_series(1, x.indnkeyatts) AS k ORDER BY k)
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_am am ON am.oid = i.relam
            JOIN pg_namespace n ON n.oid = i.relnamespace
            WHERE n.nspname = current_schema()
            ORDER BY i.relname""")
        return {name: Index(name, IndexShape(table, tuple(map(_key, cols, opts)), method, unique, predicate),
                            primary, valid)
                for name, table, method, unique, primary, valid, predicate, cols, opts in rows}

    def function_overloads(self, name: str) -> list[Function]:
        """Every function (and procedure) of the current schema called ``name``, with its input
        argument types and result type, ordered by argument types."""
        rows = self._rows("""
            SELECT ARRAY(SELECT format_type(a.t, NULL)
                         FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i) ORDER BY a.i),
                   COALESCE(pg_get_function_result(p.oid), '(procedure)'), p.pronargdefaults, p.oid
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = current_schema() AND p.proname = %s
            ORDER BY oidvectortypes(p.proargtypes)""", (name,))
        return [Function(Signature(name, tuple(args), result), defaults, oid)
                for args, result, defaults, oid in rows]

    # -- privileges: effective rights (through PUBLIC and role membership), as the server checks them
    def roles(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` exist as roles."""
        return {r[0] for r in self._rows("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
                                         (list(names),))}

    def table_privileges(self, role: str, table: str) -> set[str]:
        """The privileges ``role`` has on the whole of ``table``."""
        return {r[0] for r in self._rows(f"""SELECT p FROM unnest(%s::text[]) AS p
                                             WHERE has_table_privilege(%s, {_IN_SCHEMA}, p)""",
                                         (list(TABLE_PRIVILEGES), role, table))}

    def column_privileges(self, role: str, table: str) -> set[str]:
        """The privileges ``role`` has on at least one column of ``table`` (column-level grants
        included: UPDATE on one column is a write)."""
        return {r[0] for r in self._rows(f"""SELECT p FROM unnest(%s::text[]) AS p
                                             WHERE has_any_column_privilege(%s, {_IN_SCHEMA}, p)""",
                                         (list(COLUMN_PRIVILEGES), role, table))}

    def sequence_privileges(self, role: str, sequence: str) -> set[str]:
        return {r[0] for r in self._rows(f"""SELECT p FROM unnest(%s::text[]) AS p
                                             WHERE has_sequence_privilege(%s, {_IN_SCHEMA}, p)""",
                                         (list(SEQUENCE_PRIVILEGES), role, sequence))}

    def can_execute(self, role: str, function_oid: int) -> bool:
        return self._rows("SELECT has_function_privilege(%s, %s::oid, 'EXECUTE')", (role, function_oid))[0][0]
