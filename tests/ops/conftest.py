"""Helpers for the operations tests: the JSON log lines a test wrote, and table contents checked with the
tests' own SQL (never the archive code's checksum)."""

from __future__ import annotations

import psycopg
from psycopg import sql


def contents(url: str, tables: list[str] | None = None) -> dict[str, tuple[int, str]]:
    """Row count and md5 of the rows in text order, per plain table of the public schema (or `tables`)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        if tables is None:
            rows = conn.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
            ).fetchall()
            tables = [row[0] for row in rows]
        found: dict[str, tuple[int, str]] = {}
        for table in sorted(tables):
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
            )
            row = conn.execute(query.format(sql.Identifier(table))).fetchone()
            assert row is not None
            found[table] = (row[0], row[1])
    return found


def existing(url: str, names: list[str]) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname = ANY(%s)",
            (names,),
        ).fetchall()
    return {row[0] for row in rows}
