"""What runs inside a DataLoader worker (a process or a thread), and how it talks to the loader.

A worker receives tasks ``(task_idx, indices)`` in order, fetches and collates each batch, and
sends back ``(task_idx, batch)`` in the same order. Each worker is seeded from the loader's base
seed as PyTorch does: ``seed = base_seed + worker_id`` for Python's ``random`` and the project
generator (``nr.manual_seed``), and numpy's global generator from PyTorch's hash of
``(base_seed, worker_id)``. Thread workers cannot reseed process-wide generators, so they get
private ones instead (``get_worker_info().generator``, used by :mod:`~neurarust.data.transforms`
through :func:`current_generator`).
"""

from __future__ import annotations

import os
import pickle
import queue
import random
import socket
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Final

import numpy as np

from ..functions import random as _random
from ..functions.random import Generator
from . import _transport

__all__ = ["WorkerInfo", "WorkerRNG", "current_generator", "get_worker_info"]

MAP: Final = "map"
ITERABLE: Final = "iterable"
POLL_INTERVAL: Final = 0.5  # seconds between checks that the loader is still there


@dataclass(frozen=True)
class WorkerRNG:
    """The private generators of a thread worker (process workers reseed the global ones)."""

    random_generator: random.Random
    generator: Generator
    numpy_generator: np.random.Generator


@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` returns inside a worker.

    Attributes:
        id: this worker's index, ``0 .. num_workers - 1``.
        num_workers: how many workers the loader runs.
        seed: this worker's seed, ``base_seed + id`` (the base seed is drawn from the loader's
            ``generator``, or the global one, each time workers start).
        dataset: this worker's copy of the data set (the same object for thread workers).
        worker_method: ``"multiprocessing"`` or ``"thread"``.
        generator: the project generator random transforms draw from in this worker.
        rng: thread workers only: their private ``random``, project and numpy generators.
    """

    id: int
    num_workers: int
    seed: int
    dataset: Any
    worker_method: str = "multiprocessing"
    generator: Generator = field(default_factory=lambda: _random.default_generator)
    rng: WorkerRNG | None = None


_worker_info: WorkerInfo | None = None  # set in a worker process
_thread_state = threading.local()  # .info is set in a worker thread


def get_worker_info() -> WorkerInfo | None:
    """Information about the current DataLoader worker, or None in the main process.

    Use it in a data set's ``__iter__`` to shard an :class:`IterableDataset` across workers,
    or in ``worker_init_fn`` to configure each worker.
    """
    info: WorkerInfo | None = getattr(_thread_state, "info", None)
    return info if info is not None else _worker_info


def current_generator() -> Generator:
    """The project generator random transforms should draw from: the global one
    (``nr.manual_seed``; reseeded per worker process), or a thread worker's private one."""
    info: WorkerInfo | None = getattr(_thread_state, "info", None)
    return info.generator if info is not None else _random.default_generator


def generate_numpy_seed(base_seed: int, worker_id: int) -> list[int]:
    """PyTorch's hash of ``(base_seed, worker_id)`` into a 128-bit numpy seed, so that numpy's
    global generator differs between workers even where ``base_seed + id`` would collide."""
    init_a, mult_a, init_b, mult_b = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
    mix_mult_l, mix_mult_r, xshift, mask32 = 0xCA01F9DD, 0x4973F715, 16, 0xFFFFFFFF
    entropy = [worker_id, base_seed & mask32, base_seed >> 32, 0]
    hash_const_a = init_a

    def hash_(value: int) -> int:
        nonlocal hash_const_a
        value = (value ^ hash_const_a) & mask32
        hash_const_a = (hash_const_a * mult_a) & mask32
        value = (value * hash_const_a) & mask32
        return (value ^ (value >> xshift)) & mask32

    def mix(x: int, y: int) -> int:
        result = ((mix_mult_l * x) & mask32) - ((mix_mult_r * y) & mask32)
        result &= mask32
        return (result ^ (result >> xshift)) & mask32

    pool = [hash_(e) for e in entropy]
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hash_(pool[i_src]))
    hash_const_b = init_b
    state = []
    for value in pool:
        value = (value ^ hash_const_b) & mask32
        hash_const_b = (hash_const_b * mult_b) & mask32
        value = (value * hash_const_b) & mask32
        state.append((value ^ (value >> xshift)) & mask32)
    return state


# -- messages ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResumeIteration:
    """Sent to persistent workers at each new epoch; echoed back once earlier tasks are done."""


@dataclass(frozen=True)
class IterableStop:
    """A worker's iterable data set is exhausted (no more batches from it this epoch)."""

    worker_id: int


class KeyErrorMessage(str):
    """A str whose repr is itself, so a re-raised KeyError prints its traceback readably."""

    def __repr__(self) -> str:
        return str(self)


class ExceptionWrapper:
    """An exception caught in a worker: its type and formatted traceback, re-raised in the
    main process by :meth:`reraise` with the worker's traceback text in the message."""

    def __init__(self, exc: BaseException, where: str) -> None:
        exc_type: type[BaseException] | None = type(exc)
        try:  # the type must travel back to the main process; its text always does
            pickle.dumps(exc_type)
        except Exception:
            exc_type = None
        self.exc_type = exc_type
        self.type_name = type(exc).__name__
        self.exc_msg = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.where = where

    def reraise(self) -> None:
        msg = f"Caught {self.type_name} {self.where}.\nOriginal {self.exc_msg}"
        exc_type = self.exc_type
        if exc_type is None:
            raise RuntimeError(msg)
        if exc_type is KeyError:
            raise KeyError(KeyErrorMessage(msg))
        try:
            exception = exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exception


# -- fetching ------------------------------------------------------------------------------------
class MapFetcher:
    """Fetch a batch ``[dataset[i] for i in indices]`` (or ``dataset[index]``) and collate it."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable[[Any], Any],
                 drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        getitems = getattr(dataset, "__getitems__", None)
        self.getitems = getitems if callable(getitems) else None

    def fetch(self, index: Any) -> Any:
        if self.auto_collation:
            if self.getitems is not None:
                data = self.getitems(index)
            else:
                data = [self.dataset[i] for i in index]
        else:
            data = self.dataset[index]
        return self.collate_fn(data)


class IterableFetcher:
    """Take the next ``len(index)`` samples of the data set's iterator and collate them."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable[[Any], Any],
                 drop_last: bool) -> None:
        self.dataset_iter: Iterator[Any] = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, index: Any) -> Any:
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.dataset_iter))
        data = []
        for _ in index:
            try:
                data.append(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                break
        if not data or (self.drop_last and len(data) < len(index)):
            raise StopIteration
        return self.collate_fn(data)


def create_fetcher(kind: str, dataset: Any, auto_collation: bool,
                   collate_fn: Callable[[Any], Any], drop_last: bool) -> MapFetcher | IterableFetcher:
    fetcher = MapFetcher if kind == MAP else IterableFetcher
    return fetcher(dataset, auto_collation, collate_fn, drop_last)


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs, the same for every worker of one loader iterator."""

    dataset_kind: str
    dataset: Any
    auto_collation: bool
    collate_fn: Callable[[Any], Any]
    drop_last: bool
    base_seed: int
    init_fn: Callable[[int], None] | None
    num_workers: int


def worker_loop(config: WorkerConfig, worker_id: int, get_task: Callable[[], Any],
                put_result: Callable[[Any], None], done: Callable[[], bool], where: str) -> None:
    """Serve tasks until the sentinel ``None`` (or the loader is gone: ``get_task`` -> None).

    Runs in a worker after seeding. Every task gets exactly one reply, in order, except tasks
    that arrive after the loader stopped (``done()``) or after the iterable data set ended.
    """
    init_exception: ExceptionWrapper | None = None
    fetcher: MapFetcher | IterableFetcher | None = None
    try:
        if config.init_fn is not None:
            config.init_fn(worker_id)
        fetcher = create_fetcher(config.dataset_kind, config.dataset, config.auto_collation,
                                 config.collate_fn, config.drop_last)
    except Exception as e:
        init_exception = ExceptionWrapper(e, where)
    iteration_end = False
    while True:
        task = get_task()
        if task is None:
            return
        if isinstance(task, ResumeIteration):
            iteration_end = False
            try:
                fetcher = create_fetcher(config.dataset_kind, config.dataset,
                                         config.auto_collation, config.collate_fn,
                                         config.drop_last)
            except Exception as e:
                init_exception = ExceptionWrapper(e, where)
            put_result((task, None))
            continue
        if done() or iteration_end:
            continue
        idx, index = task
        data: Any
        if init_exception is not None:
            data, init_exception = init_exception, None
        else:
            try:
                assert fetcher is not None
                data = fetcher.fetch(index)
            except StopIteration:
                if config.dataset_kind != ITERABLE:
                    data = ExceptionWrapper(RuntimeError("StopIteration raised while fetching "
                                                         f"batch {index}"), where)
                else:
                    data = IterableStop(worker_id)
                    iteration_end = True
            except Exception as e:
                data = ExceptionWrapper(e, where)
        put_result((idx, data))
        del data, task


def _seed_process(base_seed: int, worker_id: int) -> int:
    seed = base_seed + worker_id
    random.seed(seed)
    _random.manual_seed(seed)
    np.random.seed(generate_numpy_seed(base_seed, worker_id))
    return seed


def process_worker_main(config: WorkerConfig, worker_id: int, task_reader: Connection,
                        result_sock: socket.socket, done_event: Any, parent_pid: int) -> None:
    """Entry point of a worker process: seed, then serve tasks from the loader's pipe.

    Results are pickled here (so an unpicklable batch becomes an error the loader re-raises,
    not a silent hang) and sent by a feeder thread (:mod:`._transport`: big arrays through
    shared memory), so the next batch is computed while the previous one waits for the
    loader to read it.
    """
    global _worker_info
    where = f"in DataLoader worker process {worker_id}"
    try:
        seed = _seed_process(config.base_seed, worker_id)
        _worker_info = WorkerInfo(worker_id, config.num_workers, seed, config.dataset)
        outbox: queue.SimpleQueue[_transport.Encoded | None] = queue.SimpleQueue()

        def feed() -> None:
            while (encoded := outbox.get()) is not None:
                try:
                    _transport.send(result_sock, encoded)
                except OSError:  # the loader closed its end: nobody reads any more
                    return

        threading.Thread(target=feed, name="nr-data-feeder", daemon=True).start()

        def get_task() -> Any:
            try:
                while not task_reader.poll(POLL_INTERVAL):
                    if os.getppid() != parent_pid:  # the loader's process died: stop
                        return None
                return task_reader.recv()
            except (EOFError, OSError):  # the loader closed the pipe: stop
                return None

        def put_result(message: Any) -> None:
            try:
                encoded = _transport.encode(message)
            except Exception as e:
                error = TypeError(f"the batch could not be sent to the main process: {e}")
                encoded = _transport.encode((message[0], ExceptionWrapper(error, where)))
            outbox.put(encoded)

        worker_loop(config, worker_id, get_task, put_result, done_event.is_set, where)
        outbox.put(None)
    except KeyboardInterrupt:
        pass  # the main process gets it too and shuts the workers down


def thread_worker_main(config: WorkerConfig, worker_id: int, tasks: queue.SimpleQueue[Any],
                       results: queue.SimpleQueue[Any], done_event: threading.Event) -> None:
    """Entry point of a worker thread: private generators, then serve tasks from ``tasks``."""
    seed = config.base_seed + worker_id
    rng = WorkerRNG(
        random.Random(seed),
        Generator(seed),
        np.random.Generator(np.random.PCG64(generate_numpy_seed(config.base_seed, worker_id))),
    )
    _thread_state.info = WorkerInfo(worker_id, config.num_workers, seed, config.dataset,
                                    "thread", rng.generator, rng)
    worker_loop(config, worker_id, tasks.get, results.put, done_event.is_set,
                f"in DataLoader worker thread {worker_id}")
