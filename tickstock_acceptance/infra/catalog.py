"""The one reader of PostgreSQL's catalog: what the connected schema really holds.

Every check of tables, columns, indexes and functions reads them here (pg_catalog through the
connection it is given), never from the migration files.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    type: str       # as format_type prints it, e.g. "character varying(50)"
    default: str    # the default expression, "" when none
    position: int   # attnum: the order columns were added in


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

    def columns(self, table: str) -> dict[str, Column]:
        """Column name → type, default and position, in the order the columns were added."""
        rows = self._rows("""SELECT a.attname, format_type(a.atttypid, a.atttypmod),
                                    pg_get_expr(d.adbin, d.adrelid), a.attnum
                             FROM pg_attribute a
                             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                             WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
                             ORDER BY a.attnum""", (table,))
        return {r[0]: Column(r[1], r[2] or "", r[3]) for r in rows}

    def indexes(self, table: str) -> dict[str, str]:
        """Index name → its definition (``CREATE INDEX ... (column DESC)``)."""
        return dict(self._rows("""SELECT indexname, indexdef FROM pg_indexes
                                  WHERE schemaname = current_schema() AND tablename = %s""", (table,)))

    def functions(self) -> set[str]:
        return {r[0] for r in self._rows("""SELECT p.proname FROM pg_proc p
                                            JOIN pg_namespace n ON n.oid = p.pronamespace
                                            WHERE n.nspname = current_schema()""")}
