"""Where a poll's CPU work runs, and how a worker process dies with the process that started it
(Linux's parent-death signal), so a service killed with SIGKILL leaves no worker behind to outlive it."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

R = TypeVar("R")


class Transformer(Protocol):
    """Where a poll's CPU work runs."""

    async def run(self, fn: Callable[..., R], *args: Any) -> R: ...


class InProcess:
    """In the poll worker process itself: it is one of many, so handing the payload to yet another
    process would only add a copy each way."""

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        return fn(*args)


PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """In a worker: be killed when the parent dies (or exit now if it already has)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)
