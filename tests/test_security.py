"""Tried as an attacker on the same machine, and as an operator: the embedded database accepts only its owner,
secrets never show, one raceday owns a data directory, an orphaned server is taken over, a busy port is
refused before anything starts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from raceday.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from tests.test_runtime import _start, _stop, _wait_healthy

SECRET_KEY = "partner-SECRET-9f1c77"


def _connect_as(user: str, socket_path: Path) -> subprocess.CompletedProcess[str]:
    """Open the server's socket as `user`, with the system Python (the project's is root's alone)."""
    code = f"import socket; socket.socket(socket.AF_UNIX).connect({str(socket_path)!r}); print('connected')"
    return subprocess.run(
        ["/usr/bin/python3", "-c", code], user=user, capture_output=True, text=True, check=False, timeout=30
    )


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie nobody reaped."""
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" not in status.read_text()


def test_the_embedded_server_listens_only_on_its_owners_socket(pg_base_dir: Path) -> None:
    server = EmbeddedPostgres(pg_base_dir, fast=True)
    server.start()
    try:
        assert (server.socket_dir.stat().st_mode & 0o777) == 0o700
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", server.port)) != 0  # nothing on TCP
        if os.geteuid() == 0:
            # Another OS user cannot even reach the socket, let alone connect as the superuser.
            refused = _connect_as("nobody", server.socket_dir / f".s.PGSQL.{server.port}")
            assert refused.returncode != 0
            assert "Permission denied" in refused.stderr
    finally:
        server.stop()


def test_tcp_is_only_there_when_asked_for_and_then_needs_the_password(pg_base_dir: Path) -> None:
    server = EmbeddedPostgres(pg_base_dir, fast=True, tcp=True)
    server.start()
    try:
        assert (server.password_file.stat().st_mode & 0o777) == 0o600
        with psycopg.connect(server.tcp_url_for("raceday")) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"postgresql://postgres:wrong@127.0.0.1:{server.port}/raceday").close()
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{server.port}/raceday").close()
    finally:
        server.stop()


def test_a_second_owner_is_refused_naming_the_first(pg_base_dir: Path) -> None:
    first = EmbeddedPostgres(pg_base_dir, fast=True)
    first.start()
    try:
        with pytest.raises(EmbeddedPostgresError, match=rf"in use by another raceday \(pid {os.getpid()}\)"):
            EmbeddedPostgres(pg_base_dir, fast=True).start()
        with psycopg.connect(first.url) as conn:  # the first one's server was left alone
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        first.stop()


def test_a_server_orphaned_by_a_killed_owner_is_taken_over_and_stopped(pg_base_dir: Path) -> None:
    killed = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from raceday.db.embedded import EmbeddedPostgres
        EmbeddedPostgres(Path({str(pg_base_dir)!r}), fast=True).start()
        os.kill(os.getpid(), 9)
        """
    )
    subprocess.run([sys.executable, "-c", killed], check=False, timeout=60)
    pid_file = pg_base_dir / "pgdata" / "postmaster.pid"
    orphan = int(pid_file.read_text().splitlines()[0])
    assert _alive(orphan)  # still running: nobody will stop it
    server = EmbeddedPostgres(pg_base_dir, fast=True)
    server.start()
    try:
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert int(pid_file.read_text().splitlines()[0]) != orphan
    finally:
        server.stop()
    assert not _alive(orphan)
    assert not pid_file.exists()


def test_a_busy_port_stops_start_up_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data_dir = tmp_path / "never-created"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "NZTAB_"))}
        env |= {"PORT": str(port), "NODE_ENV": "test", "RACEDAY_DATA_DIR": str(data_dir)}
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
    [line] = [json.loads(text) for text in result.stdout.splitlines() if text.startswith("{")]
    assert line["msg"] == "cannot start"
    assert f"PORT {port} on HOST 127.0.0.1 is not available" in line["error"]
    assert not data_dir.exists()


def test_secrets_never_appear_in_logs_pages_errors_or_process_titles(
    tmp_path: Path, pg_base_dir: Path
) -> None:
    database = EmbeddedPostgres(pg_base_dir, fast=True, tcp=True)
    database.start()
    password = database.password_file.read_text().strip()
    try:
        process, port = _start(
            {"DATABASE_URL": database.tcp_url_for("raceday"), "NZTAB_API_KEY": SECRET_KEY}, tmp_path
        )
        assert _wait_healthy(process, port).status_code == 200
        base = f"http://127.0.0.1:{port}"
        paths = ("/health", "/docs", "/openapi.json", "/api/races/nope")
        pages = [httpx.get(f"{base}{path}", timeout=10).text for path in paths]
        titles = []
        for pid in _process_tree(process.pid):
            titles.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
        database.stop()  # the database goes away: the errors that follow must not carry it either
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            health = httpx.get(f"{base}/health", timeout=10)
            if health.status_code == 503:
                break
        pages.append(health.text)
        _, lines = _stop(process, signal.SIGTERM)
    finally:
        database.stop()
    assert health.status_code == 503
    assert len(titles) > 3  # raceday and its worker processes
    text = "\n".join([*pages, *titles, *(json.dumps(line) for line in lines)])
    assert len(lines) > 20
    for secret in (SECRET_KEY, password):
        assert secret not in text


def _process_tree(root: int) -> list[int]:
    found = [root]
    for pid in found:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            found += [int(child) for child in children.read_text().split()]
    return found
