"""Shared by the data tests: tiny data sets (module level, so spawn workers can import them)
and checks that no worker process or thread is left behind."""

from __future__ import annotations

import glob
import multiprocessing
import os
import threading
import time
from typing import Any

import numpy as np

import neurarust as nr
from neurarust.data import Dataset, IterableDataset, get_worker_info


def child_pids() -> set[int]:
    """Live child processes of this process (Linux /proc; empty elsewhere)."""
    pids: set[int] = set()
    for path in glob.glob(f"/proc/{os.getpid()}/task/*/children"):
        try:
            with open(path) as f:
                pids.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return {p for p in pids if _alive(p) and not _mp_helper(p)}


def _mp_helper(pid: int) -> bool:
    """multiprocessing's own long-lived helpers (resource tracker, fork server), not workers."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    return b"resource_tracker" in cmdline or b"forkserver" in cmdline


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("nr-data-worker")]


def assert_no_workers(before: set[int], timeout: float = 5.0) -> None:
    """No worker process (beyond those alive in ``before``) and no worker thread is left."""
    deadline = time.monotonic() + timeout
    while True:
        multiprocessing.active_children()  # reaps finished children
        left = child_pids() - before
        threads = worker_threads()
        if not left and not threads:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left behind: processes {left}, threads {threads}")
        time.sleep(0.02)


class Squares(Dataset[tuple[Any, int]]):
    """``i -> (float32 array [i, i*i], i)``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, i: int) -> tuple[Any, int]:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.array([i, i * i], dtype=np.float32), i

    def __len__(self) -> int:
        return self.n


class RandomValues(Dataset[Any]):
    """Each sample draws from the project generator, numpy's and Python's global ones, and
    records which worker made it."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, i: int) -> Any:
        import random

        info = get_worker_info()
        return {
            "nr": nr.rand(2).numpy(),
            "np": np.random.rand(2),
            "py": random.random(),
            "worker": -1 if info is None else info.id,
            "seed": -1 if info is None else info.seed,
        }

    def __len__(self) -> int:
        return self.n


class FailsAt(Dataset[Any]):
    def __init__(self, n: int, bad: int, exc: BaseException) -> None:
        self.n, self.bad, self.exc = n, bad, exc

    def __getitem__(self, i: int) -> Any:
        if i == self.bad:
            raise self.exc
        return np.float32(i)

    def __len__(self) -> int:
        return self.n


class ExitsAt(Dataset[Any]):
    """Kills its worker process at one index (to test worker death)."""

    def __getitem__(self, i: int) -> Any:
        if i == 3:
            os._exit(3)
        return i

    def __len__(self) -> int:
        return 8


class Sleeps(Dataset[Any]):
    def __getitem__(self, i: int) -> Any:
        time.sleep(0.5)
        return i

    def __len__(self) -> int:
        return 4


class Unpicklable(Dataset[Any]):
    def __getitem__(self, i: int) -> Any:
        return lambda: i

    def __len__(self) -> int:
        return 4


class Range(IterableDataset[int]):
    """``start..end-1``, split between workers in contiguous shards (PyTorch's doc example)."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end

    def __iter__(self) -> Any:
        info = get_worker_info()
        if info is None:
            return iter(range(self.start, self.end))
        per_worker = -(-(self.end - self.start) // info.num_workers)
        lo = self.start + info.id * per_worker
        return iter(range(lo, min(lo + per_worker, self.end)))

    def __len__(self) -> int:
        return self.end - self.start


class LocalError(Exception):
    """Not picklable by reference when defined inside a function; see the test."""


class StopsItself(Dataset[Any]):
    """Item 0 stops its worker process with SIGSTOP (as a debugger or ``kill -STOP`` would):
    the worker neither answers nor exits, and ignores SIGTERM until continued."""

    def __getitem__(self, i: int) -> Any:
        import signal
        if i == 0:
            os.kill(os.getpid(), signal.SIGSTOP)
        return i

    def __len__(self) -> int:
        return 4
