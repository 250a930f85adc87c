"""Environment validation: each rule, each message, exit codes, and secrets kept out of errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from raceday.core.config import Environment, LogLevel, SettingsError, load_settings, redact_url

ALL_VARIABLES = (
    "TRACKED_COUNTRIES",
    "TRACKED_CATEGORIES",
    "POLL_CONCURRENCY",
    "RETENTION_DAYS",
    "SIMULATOR_SEED",
    "SIMULATOR_SPEED",
    "NODE_ENV",
    "DATABASE_URL",
    "NZTAB_API_URL",
    "NZTAB_API_KEY",
    "NZTAB_FROM_EMAIL",
    "NZTAB_PARTNER_NAME",
    "PORT",
    "LOG_LEVEL",
    "UV_THREADPOOL_SIZE",
    "MAX_WORKER_THREADS",
    "DB_POOL_MAX",
    "RACEDAY_DATA_DIR",
    "ARCHIVE_DIR",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts from an empty environment and a directory with no `.env`."""
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_specs() -> None:
    settings = load_settings()
    assert settings.node_env is Environment.DEVELOPMENT
    assert settings.port == 3000
    assert settings.log_level is LogLevel.INFO
    assert settings.uv_threadpool_size == 8
    assert settings.max_worker_threads == 3
    assert settings.db_pool_max == 10
    assert settings.database_url is None
    assert settings.nztab_api_url is None


def test_valid_values_are_coerced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODE_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://raceday:s3cret@db:5432/raceday")
    monkeypatch.setenv("NZTAB_API_URL", "https://api.tab.co.nz")
    monkeypatch.setenv("NZTAB_API_KEY", "partner-123")
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("LOG_LEVEL", "warn")
    monkeypatch.setenv("UV_THREADPOOL_SIZE", "4")
    monkeypatch.setenv("MAX_WORKER_THREADS", "2")
    monkeypatch.setenv("DB_POOL_MAX", "20")
    settings = load_settings()
    assert settings.is_production
    assert settings.port == 8080
    assert settings.log_level is LogLevel.WARN
    assert (settings.uv_threadpool_size, settings.max_worker_threads, settings.db_pool_max) == (
        4,
        2,
        20,
    )
    assert str(settings.nztab_api_url) == "https://api.tab.co.nz/"
    assert settings.nztab_api_key is not None
    assert settings.nztab_api_key.get_secret_value() == "partner-123"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=4123\nLOG_LEVEL=debug\n")
    settings = load_settings()
    assert (settings.port, settings.log_level) == (4123, LogLevel.DEBUG)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("NODE_ENV", "staging", "NODE_ENV: invalid value"),
        ("DATABASE_URL", "not-a-url", "DATABASE_URL: invalid value"),
        ("DATABASE_URL", "mysql://u:p@host/db", "DATABASE_URL: invalid value"),
        ("NZTAB_API_URL", "api.tab.co.nz", "NZTAB_API_URL: invalid value"),
        ("PORT", "0", "PORT: invalid value"),
        ("PORT", "abc", "PORT: invalid value"),
        ("PORT", "3.5", "PORT: invalid value"),
        ("LOG_LEVEL", "verbose", "LOG_LEVEL: invalid value"),
        ("UV_THREADPOOL_SIZE", "-1", "UV_THREADPOOL_SIZE: invalid value"),
        ("MAX_WORKER_THREADS", "0", "MAX_WORKER_THREADS: invalid value"),
        ("DB_POOL_MAX", "1", "DB_POOL_MAX: invalid value"),
        ("DB_POOL_MAX", "ten", "DB_POOL_MAX: invalid value"),
    ],
)
def test_each_bad_value_is_named_with_what_is_expected(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert len(error.value.lines) == 1
    line = error.value.lines[0]
    assert line.startswith(expected)
    assert "expected " in line


def test_empty_values_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NZTAB_API_KEY", "")
    monkeypatch.setenv("PORT", "")
    settings = load_settings()
    assert (settings.nztab_api_key, settings.port) == (None, 3000)


def test_every_bad_variable_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "-3")
    monkeypatch.setenv("LOG_LEVEL", "loud")
    monkeypatch.setenv("NODE_ENV", "qa")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert sorted(line.split(":")[0] for line in error.value.lines) == [
        "LOG_LEVEL",
        "NODE_ENV",
        "PORT",
    ]


def test_production_requires_a_real_database_and_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODE_ENV", "production")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert error.value.lines == [
        "DATABASE_URL: missing; required when NODE_ENV=production",
        "NZTAB_API_URL: missing; required when NODE_ENV=production",
    ]


def test_secrets_never_appear_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://raceday:hunter2@db:notaport/raceday")
    monkeypatch.setenv("NZTAB_API_URL", "ftp://hunter2@tab")
    monkeypatch.setenv("PORT", "x-hunter2")
    try:
        load_settings()
    except SettingsError as error:
        text = str(error)
    else:
        pytest.fail("settings were accepted")
    assert "hunter2" not in text
    assert {line.split(":")[0] for line in text.splitlines()} == {
        "DATABASE_URL",
        "NZTAB_API_URL",
        "PORT",
    }


def test_settings_repr_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://raceday:hunter2@db/raceday")
    monkeypatch.setenv("NZTAB_API_KEY", "partner-secret")
    text = repr(load_settings())
    assert "hunter2" not in text
    assert "partner-secret" not in text


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("postgresql://raceday:hunter2@db:5432/raceday") == (
        "postgresql://raceday:***@db:5432/raceday"
    )
    assert redact_url("postgresql://postgres@127.0.0.1:5432/raceday") == (
        "postgresql://postgres@127.0.0.1:5432/raceday"
    )


def test_the_command_exits_non_zero_with_one_line_per_bad_variable(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ALL_VARIABLES} | {
        "PORT": "zero",
        "DATABASE_URL": "postgresql://u:hunter2@",
        "LOG_LEVEL": "shout",
    }
    result = subprocess.run(
        [sys.executable, "-m", "raceday", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3
    assert all(line.startswith("raceday: invalid environment: ") for line in lines)
    assert {line.split(": ")[2] for line in lines} == {"DATABASE_URL", "LOG_LEVEL", "PORT"}
    assert "hunter2" not in result.stderr + result.stdout


def test_env_example_lists_every_variable() -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    names = {
        line.split("=", 1)[0].lstrip("# ").strip() for line in example.read_text().splitlines() if "=" in line
    }
    assert set(ALL_VARIABLES) <= names


def test_archives_go_under_the_data_directory_unless_archive_dir_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().archive_path == Path(".data/archives")
    monkeypatch.setenv("RACEDAY_DATA_DIR", "/srv/raceday")
    assert load_settings().archive_path == Path("/srv/raceday/archives")
    monkeypatch.setenv("ARCHIVE_DIR", "/backups/raceday")
    assert load_settings().archive_path == Path("/backups/raceday")
