"""The migrated schema is the Epic 1 spec's: columns, types, defaults, constraints, indexes, triggers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

NZ = ZoneInfo("Pacific/Auckland")

# (column, data type, nullable, default) exactly as the spec's CREATE TABLE statements give them.
SPEC_COLUMNS: dict[str, list[tuple[str, str, bool, str | None]]] = {
    "meetings": [
        ("meeting_id", "text", False, None),
        ("meeting_name", "text", False, None),
        ("country", "text", False, None),
        ("race_type", "text", False, None),
        ("date", "date", False, None),
        ("status", "text", False, None),
        ("created_at", "timestamp with time zone", True, "now()"),
        ("updated_at", "timestamp with time zone", True, "now()"),
    ],
    "races": [
        ("race_id", "text", False, None),
        ("name", "text", False, None),
        ("race_number", "integer", False, None),
        ("start_time", "timestamp with time zone", False, None),
        ("status", "text", False, None),
        ("actual_start", "timestamp with time zone", True, None),
        ("meeting_id", "text", False, None),
        ("created_at", "timestamp with time zone", True, "now()"),
        ("updated_at", "timestamp with time zone", True, "now()"),
    ],
    "entrants": [
        ("entrant_id", "text", False, None),
        ("name", "text", False, None),
        ("runner_number", "integer", False, None),
        ("win_odds", "numeric(10,2)", True, None),
        ("place_odds", "numeric(10,2)", True, None),
        ("hold_percentage", "numeric(5,2)", True, None),
        ("is_scratched", "boolean", True, "false"),
        ("race_id", "text", False, None),
        ("created_at", "timestamp with time zone", True, "now()"),
        ("updated_at", "timestamp with time zone", True, "now()"),
    ],
    "race_pools": [
        ("race_id", "text", False, None),
        ("win_pool_total", "numeric(12,2)", True, None),
        ("place_pool_total", "numeric(12,2)", True, None),
        ("quinella_pool_total", "numeric(12,2)", True, None),
        ("trifecta_pool_total", "numeric(12,2)", True, None),
        ("last_updated", "timestamp with time zone", True, "now()"),
    ],
    "money_flow_history": [
        ("id", "bigint", False, "nextval('money_flow_history_id_seq'::regclass)"),
        ("entrant_id", "text", False, None),
        ("race_id", "text", False, None),
        ("hold_percentage", "numeric(5,2)", True, None),
        ("bet_percentage", "numeric(5,2)", True, None),
        ("type", "text", True, None),
        ("time_to_start", "integer", True, None),
        ("time_interval", "integer", True, None),
        ("interval_type", "text", True, None),
        ("event_timestamp", "timestamp with time zone", False, None),
        ("polling_timestamp", "timestamp with time zone", False, None),
        ("win_pool_amount", "bigint", True, None),
        ("place_pool_amount", "bigint", True, None),
        ("win_pool_percentage", "numeric(5,2)", True, None),
        ("place_pool_percentage", "numeric(5,2)", True, None),
        ("incremental_amount", "bigint", True, None),
        ("incremental_win_amount", "bigint", True, None),
        ("incremental_place_amount", "bigint", True, None),
        ("pool_type", "text", True, None),
        ("is_consolidated", "boolean", True, None),
        ("created_at", "timestamp with time zone", True, "now()"),
    ],
    "odds_history": [
        ("id", "bigint", False, "nextval('odds_history_id_seq'::regclass)"),
        ("entrant_id", "text", False, None),
        ("odds", "numeric(10,2)", True, None),
        ("type", "text", True, None),
        ("event_timestamp", "timestamp with time zone", False, None),
        ("created_at", "timestamp with time zone", True, "now()"),
    ],
}

SPEC_INDEXES = {
    "idx_meetings_date_type": (
        "meetings",
        "(date, race_type) WHERE (status = 'active'::text)",
    ),
    "idx_races_start_time": (
        "races",
        "(start_time) WHERE (status = ANY (ARRAY['open'::text, 'closed'::text, 'interim'::text]))",
    ),
    "idx_races_meeting": ("races", "(meeting_id)"),
    "idx_entrants_race": ("entrants", "(race_id)"),
    "idx_active_entrants": ("entrants", "(race_id) WHERE (is_scratched = false)"),
    "idx_money_flow_entrant_time": ("money_flow_history", "(entrant_id, event_timestamp DESC)"),
    "idx_odds_entrant_time": ("odds_history", "(entrant_id, event_timestamp DESC)"),
}


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def _columns(conn: psycopg.Connection, table: str) -> list[tuple[str, str, bool, str | None]]:
    rows = conn.execute(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        (table,),
    ).fetchall()
    return [(name, kind, nullable, default) for name, kind, nullable, default in rows]


def _seed(conn: psycopg.Connection, suffix: str = "1") -> tuple[str, str, str]:
    meeting, race, entrant = f"m-{suffix}", f"r-{suffix}", f"e-{suffix}"
    conn.execute(
        "INSERT INTO meetings (meeting_id, meeting_name, country, race_type, date, status)"
        " VALUES (%s, 'Ellerslie', 'NZ', 'thoroughbred', '2025-10-05', 'active')",
        (meeting,),
    )
    conn.execute(
        "INSERT INTO races (race_id, name, race_number, start_time, status, meeting_id)"
        " VALUES (%s, 'Race 1', 1, now(), 'open', %s)",
        (race, meeting),
    )
    conn.execute(
        "INSERT INTO entrants (entrant_id, name, runner_number, race_id) VALUES (%s, 'Ruji', 4, %s)",
        (entrant, race),
    )
    return meeting, race, entrant


@pytest.mark.parametrize("table", sorted(SPEC_COLUMNS))
def test_spec_columns_exist_with_their_types_nullability_and_defaults(database_url: str, table: str) -> None:
    with _connect(database_url) as conn:
        actual = _columns(conn, table)
    spec = SPEC_COLUMNS[table]
    assert actual[: len(spec)] == spec


def test_primary_keys_are_the_spec_ids(database_url: str) -> None:
    with _connect(database_url) as conn:
        rows = conn.execute(
            """
            SELECT c.conrelid::regclass::text, pg_get_constraintdef(c.oid)
            FROM pg_constraint c WHERE c.contype = 'p'
              AND c.conrelid::regclass::text IN ('meetings', 'races', 'entrants', 'race_pools')
            """
        ).fetchall()
    assert dict(rows) == {
        "meetings": "PRIMARY KEY (meeting_id)",
        "races": "PRIMARY KEY (race_id)",
        "entrants": "PRIMARY KEY (entrant_id)",
        "race_pools": "PRIMARY KEY (race_id)",
    }


def test_foreign_keys_and_their_delete_rules(database_url: str) -> None:
    with _connect(database_url) as conn:
        rows = conn.execute(
            r"""
            SELECT c.conrelid::regclass::text, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.contype = 'f' AND c.conparentid = 0
              AND c.conrelid::regclass::text NOT LIKE 'procrastinate\_%'  -- the job queue's own
            ORDER BY 1
            """
        ).fetchall()
    assert rows == [
        ("entrants", "FOREIGN KEY (race_id) REFERENCES races(race_id) ON DELETE CASCADE"),
        ("money_flow_history", "FOREIGN KEY (entrant_id) REFERENCES entrants(entrant_id)"),
        ("odds_history", "FOREIGN KEY (entrant_id) REFERENCES entrants(entrant_id)"),
        ("race_polls", "FOREIGN KEY (worker_id) REFERENCES poll_workers(id) ON DELETE SET NULL"),
        ("race_pools", "FOREIGN KEY (race_id) REFERENCES races(race_id) ON DELETE CASCADE"),
        ("race_results", "FOREIGN KEY (race_id) REFERENCES races(race_id) ON DELETE CASCADE"),
        ("race_snapshots", "FOREIGN KEY (race_id) REFERENCES races(race_id) ON DELETE CASCADE"),
        ("races", "FOREIGN KEY (meeting_id) REFERENCES meetings(meeting_id) ON DELETE CASCADE"),
    ]


@pytest.mark.parametrize("name", sorted(SPEC_INDEXES))
def test_spec_indexes_with_their_predicates(database_url: str, name: str) -> None:
    table, definition = SPEC_INDEXES[name]
    with _connect(database_url) as conn:
        row = conn.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE indexname = %s", (name,)
        ).fetchone()
    assert row is not None, f"index {name} is missing"
    assert row[0] == table
    assert row[1].endswith(definition)


def test_history_tables_are_range_partitioned_by_time(database_url: str) -> None:
    with _connect(database_url) as conn:
        rows = conn.execute(
            """
            SELECT c.relname, pg_get_partkeydef(c.oid) FROM pg_class c
            WHERE c.relkind = 'p' ORDER BY 1
            """
        ).fetchall()
    assert rows == [
        ("money_flow_history", "RANGE (event_timestamp)"),
        ("odds_history", "RANGE (event_timestamp)"),
        ("raw_responses", "RANGE (generated_time)"),
    ]


def test_todays_nz_partitions_exist_with_nz_day_bounds(database_url: str) -> None:
    today = datetime.now(NZ).date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=NZ)
    with _connect(database_url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for parent in ("money_flow_history", "odds_history", "raw_responses"):
            name = f"{parent}_{today:%Y_%m_%d}"
            row = conn.execute(
                "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = %s", (name,)
            ).fetchone()
            assert row is not None, f"{name} is missing"
            lower = midnight.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")
            upper = (midnight + timedelta(days=1)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")
            assert row[0] == f"FOR VALUES FROM ('{lower}') TO ('{upper}')"


def test_updated_at_triggers_on_the_core_tables(database_url: str) -> None:
    with _connect(database_url) as conn:
        rows = conn.execute(
            r"""
            SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid)
            FROM pg_trigger WHERE NOT tgisinternal
              AND tgrelid::regclass::text NOT LIKE 'procrastinate\_%'  -- the job queue's own
            ORDER BY 1
            """
        ).fetchall()
    assert [(table, name) for table, name, _ in rows] == [
        ("entrants", "update_entrants_updated_at"),
        ("meetings", "update_meetings_updated_at"),
        ("race_results", "update_race_results_updated_at"),
        ("races", "update_races_updated_at"),
        ("user_alert_configs", "update_user_alert_configs_updated_at"),
    ]
    for _, _, definition in rows:
        assert "BEFORE UPDATE" in definition
        assert "FOR EACH ROW EXECUTE FUNCTION update_updated_at_column()" in definition


def test_updated_at_moves_on_update_and_created_at_does_not(database_url: str) -> None:
    with _connect(database_url) as conn:
        meeting, race, entrant = _seed(conn)
        for table, key, value in (
            ("meetings", "meeting_id", meeting),
            ("races", "race_id", race),
            ("entrants", "entrant_id", entrant),
        ):
            before = conn.execute(
                f"SELECT created_at, updated_at FROM {table} WHERE {key} = %s", (value,)
            ).fetchone()
            assert before is not None
            # Each statement in autocommit is its own transaction, so now() moves on.
            conn.execute(f"UPDATE {table} SET {key} = {key} WHERE {key} = %s", (value,))
            after = conn.execute(
                f"SELECT created_at, updated_at FROM {table} WHERE {key} = %s", (value,)
            ).fetchone()
            assert after is not None
            assert after[0] == before[0]
            assert after[1] > before[1]


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        (
            "INSERT INTO meetings (meeting_id, meeting_name, country, race_type, date, status)"
            " VALUES ('m-x', 'X', 'NZ', 'camel', '2025-10-05', 'active')",
            "meetings_race_type_check",
        ),
        (
            "INSERT INTO meetings (meeting_id, meeting_name, country, race_type, date, status)"
            " VALUES ('m-x', 'X', 'NZ', 'harness', '2025-10-05', 'postponed')",
            "meetings_status_check",
        ),
        (
            "INSERT INTO races (race_id, name, race_number, start_time, status, meeting_id)"
            " VALUES ('r-x', 'X', 1, now(), 'Open', 'm-1')",
            "races_status_check",
        ),
    ],
)
def test_check_constraints_reject_bad_values(database_url: str, statement: str, constraint: str) -> None:
    with _connect(database_url) as conn:
        _seed(conn)
        with pytest.raises(psycopg.errors.CheckViolation) as error:
            conn.execute(statement)
    assert error.value.diag.constraint_name == constraint


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO races (race_id, name, race_number, start_time, status, meeting_id)"
        " VALUES ('r-x', 'X', 1, now(), 'open', 'no-such-meeting')",
        "INSERT INTO entrants (entrant_id, name, runner_number, race_id)"
        " VALUES ('e-x', 'X', 1, 'no-such-race')",
        "INSERT INTO race_pools (race_id) VALUES ('no-such-race')",
        "INSERT INTO money_flow_history (entrant_id, race_id, event_timestamp, polling_timestamp)"
        " VALUES ('no-such-entrant', 'r-1', now(), now())",
        "INSERT INTO odds_history (entrant_id, odds, type, event_timestamp)"
        " VALUES ('no-such-entrant', 2.5, 'fixed_win', now())",
    ],
)
def test_foreign_keys_reject_orphans(database_url: str, statement: str) -> None:
    with _connect(database_url) as conn:
        _seed(conn)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(statement)


def test_deleting_a_meeting_cascades_to_races_entrants_and_pools(database_url: str) -> None:
    with _connect(database_url) as conn:
        meeting, race, _ = _seed(conn)
        conn.execute("INSERT INTO race_pools (race_id, win_pool_total) VALUES (%s, 9151.38)", (race,))
        conn.execute("DELETE FROM meetings WHERE meeting_id = %s", (meeting,))
        counts = [
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            for table in ("races", "entrants", "race_pools")
        ]
    assert counts == [(0,), (0,), (0,)]


def test_a_history_row_lands_in_its_nz_days_partition(database_url: str) -> None:
    today = datetime.now(NZ).date()
    # 00:30 NZ time is still the previous day in UTC: the NZ-day bounds must route it to today.
    early = datetime(today.year, today.month, today.day, 0, 30, tzinfo=NZ)
    with _connect(database_url) as conn:
        _, race, entrant = _seed(conn)
        conn.execute(
            "INSERT INTO money_flow_history (entrant_id, race_id, event_timestamp, polling_timestamp)"
            " VALUES (%s, %s, %s, %s)",
            (entrant, race, early, early),
        )
        conn.execute(
            "INSERT INTO odds_history (entrant_id, odds, type, event_timestamp)"
            " VALUES (%s, 4.4, 'pool_win', %s)",
            (entrant, early),
        )
        routed = [
            conn.execute(f"SELECT tableoid::regclass::text FROM {parent}").fetchone()
            for parent in ("money_flow_history", "odds_history")
        ]
    assert routed == [
        (f"money_flow_history_{today:%Y_%m_%d}",),
        (f"odds_history_{today:%Y_%m_%d}",),
    ]


def test_a_row_for_a_day_without_partition_is_rejected_until_it_is_created(
    database_url: str,
) -> None:
    day = date(2030, 1, 15)
    instant = datetime(2030, 1, 15, 12, 0, tzinfo=NZ)
    insert = (
        "INSERT INTO odds_history (entrant_id, odds, type, event_timestamp) VALUES (%s, 4.4, 'pool_win', %s)"
    )
    with _connect(database_url) as conn:
        _, _, entrant = _seed(conn)
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(insert, (entrant, instant))
        created = conn.execute("SELECT ensure_daily_partition('odds_history', %s)", (day,))
        assert created.fetchone() == ("odds_history_2030_01_15",)
        conn.execute(insert, (entrant, instant))
        again = conn.execute("SELECT ensure_daily_partition('odds_history', %s)", (day,))
        assert again.fetchone() == ("odds_history_2030_01_15",)
        row = conn.execute("SELECT tableoid::regclass::text FROM odds_history").fetchone()
    assert row == ("odds_history_2030_01_15",)


def test_partitions_ahead_and_retention(database_url: str) -> None:
    today = datetime.now(NZ).date()
    with _connect(database_url) as conn:
        made = [r[0] for r in conn.execute("SELECT ensure_partitions_ahead(2)").fetchall()]
        old = today - timedelta(days=31)
        kept = today - timedelta(days=30)
        for day in (old, kept):
            conn.execute("SELECT ensure_daily_partition('money_flow_history', %s)", (day,))
        detached = [r[0] for r in conn.execute("SELECT detach_old_partitions(30)").fetchall()]
        attached = {
            r[0]
            for r in conn.execute(
                "SELECT inhrelid::regclass::text FROM pg_inherits"
                " WHERE inhparent = 'money_flow_history'::regclass"
            ).fetchall()
        }
        still_exists = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (f"money_flow_history_{old:%Y_%m_%d}",)
        ).fetchone()
    expected_ahead = [
        f"{parent}_{today + timedelta(days=n):%Y_%m_%d}"
        for parent in ("money_flow_history", "odds_history", "raw_responses")
        for n in range(3)
    ]
    assert made == expected_ahead
    assert detached == [f"money_flow_history_{old:%Y_%m_%d}"]
    assert f"money_flow_history_{kept:%Y_%m_%d}" in attached
    assert still_exists == (True,)
