"""The embedded server as root: binaries copied where the server's own user can run them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from raceday.db.embedded import SYSTEM_USER, EmbeddedPostgres, copy_install

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the copy is only made when running as root")


def test_copied_binaries_find_their_libraries_and_run_as_the_server_user(
    pg_server: EmbeddedPostgres, pg_base_dir: Path
) -> None:
    copied = copy_install(pg_server.bin_dir, pg_base_dir)
    assert copied.is_relative_to(pg_base_dir)
    assert copied != pg_server.bin_dir
    for tool in ("initdb", "postgres", "pg_ctl"):
        result = subprocess.run(
            [str(copied / tool), "--version"], user=SYSTEM_USER, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
        assert " 18." in result.stdout
    marker = copied / "postgres"
    before = marker.stat().st_mtime_ns
    assert copy_install(pg_server.bin_dir, pg_base_dir) == copied
    assert marker.stat().st_mtime_ns == before
