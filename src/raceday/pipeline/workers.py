"""A small pool of worker processes for the CPU work of a poll, replaced when a worker crashes.

`ProcessPoolExecutor` breaks as a whole when one worker dies: every pending task fails with
BrokenProcessPool. We then start a fresh executor and run the failed task again (up to 3 more
times); until a task succeeds on the new pool, the pool reports itself unhealthy. A worker found dead
makes it unhealthy at once, before any task notices.

Workers die with the process that started them (Linux's parent-death signal), so a service killed
with SIGKILL leaves no workers behind to outlive it.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from raceday.core.log import get_logger

log = get_logger(__name__)

R = TypeVar("R")


class Transformer(Protocol):
    """Where a poll's CPU work runs: a pool of worker processes, or the calling process itself."""

    async def run(self, fn: Callable[..., R], *args: Any) -> R: ...


class InProcess:
    """For a process that is itself one of many poll workers (`raceday worker`): handing the payload
    to yet another process would only add a copy each way."""

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        return fn(*args)


class WorkerCrashed(RuntimeError):
    """A task crashed its worker on every try."""


class WorkerPool:
    def __init__(self, size: int, *, max_retries: int = 3) -> None:
        self.size = size
        self.max_retries = max_retries
        self._context = multiprocessing.get_context("spawn")
        self._executor = self._new_executor()
        self._healthy = True
        self.restarts = 0

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.size,
            mp_context=self._context,
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        )

    @property
    def healthy(self) -> bool:
        """False from the moment a worker is dead until a task succeeds on a fresh pool."""
        # ProcessPoolExecutor keeps its worker processes here; it notices a death only when it next waits.
        processes = getattr(self._executor, "_processes", None) or {}
        return self._healthy and all(process.is_alive() for process in processes.values())

    @property
    def pids(self) -> list[int]:
        processes = getattr(self._executor, "_processes", None) or {}
        return sorted(pid for pid in processes if pid is not None)

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        """`fn(*args)` in a worker process; retried on a fresh pool if a worker dies under it."""
        loop = asyncio.get_running_loop()
        for attempt in range(self.max_retries + 1):
            executor = self._executor
            try:
                result = await loop.run_in_executor(executor, fn, *args)
            except BrokenProcessPool:
                self._healthy = False
                self._replace(executor)
                log.warning(
                    "worker crashed; pool replaced",
                    task=getattr(fn, "__name__", "task"),
                    attempt=attempt + 1,
                    restarts=self.restarts,
                )
                continue
            self._healthy = True
            return result
        name = getattr(fn, "__name__", "task")
        raise WorkerCrashed(f"{name} crashed its worker {self.max_retries + 1} times")

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Swap in a fresh executor once, however many tasks saw the same one break."""
        if self._executor is broken:
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            self.restarts += 1

    async def warm_up(self) -> None:
        """Start every worker now, so the first polls don't pay for process start-up."""
        await asyncio.gather(*(self.run(_ready) for _ in range(self.size)))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """In a worker: be killed when the parent dies (or exit now if it already has)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def _ready() -> bool:
    import raceday.domain.transform  # noqa: F401 - imports the transform's modules in the worker

    return True
