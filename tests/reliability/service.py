"""`python -m raceday run` as an operator starts it, for the tests that stop it the hard ways or soak it."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from tests.test_runtime import _free_port, spawn_run


class Service:
    """`python -m raceday run` on the simulator at 20x, its JSON log lines collected as they come."""

    def __init__(self, data_dir: Path, cwd: Path) -> None:
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "NZTAB_"))}
        env |= {
            "PORT": str(self.port),
            "NODE_ENV": "test",
            "RACEDAY_DATA_DIR": str(data_dir),
            "SIMULATOR_SPEED": "20",
            "LOG_LEVEL": "info",
        }
        self.process = spawn_run(env, cwd)
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for text in self.process.stdout:
            if text.startswith("{"):
                self.lines.append(json.loads(text))

    def wait_for(self, message: str, within_s: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            found = [line for line in self.lines if line["msg"] == message]
            if found:
                return found[0]
            assert self.process.poll() is None, f"raceday exited: {self.lines[-5:]}"
            time.sleep(0.05)
        raise AssertionError(f"no {message!r} within {within_s} s")

    def children(self) -> list[int]:
        pid = self.process.pid
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def wait_for_slow_poll(self, within_s: float = 60) -> None:
        """Until a poll has taken over a second to fetch: the workers are feeding on slow answers."""
        deadline = time.monotonic() + within_s
        while not any(line["msg"] == "race poll" and line["fetch_ms"] > 900 for line in self.lines):
            assert time.monotonic() < deadline, "no slow poll"
            time.sleep(0.05)

    def stop(self, sig: signal.Signals) -> tuple[int, float]:
        sent = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self._reader.join(timeout=5)
        return code, time.monotonic() - sent
