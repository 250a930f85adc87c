"""Everything that speaks SQL: the embedded server, the pool, migrations, writers and queries."""
