"""DataLoader: batches from a data set, in the main process or in parallel workers.

The API, defaults and semantics are PyTorch's. With ``num_workers > 0`` batches are fetched and
collated in the background by worker processes (or threads, ``worker_method="thread"``) while
the main process trains; they come back in the sampler's order, so a loader yields the same
batches whatever ``num_workers`` is, as long as the data set itself draws no random numbers.
Random transforms draw from each worker's generator, seeded from ``base_seed + worker_id`` with
the base seed drawn from ``generator`` at each epoch: a fixed seed and configuration give the
same batches on every run (see docs/data.md).
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import multiprocessing.context
import os
import queue
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing.connection import wait
from typing import Any, Generic, TypeVar, cast

import numpy as np

from ..functions import random as _random
from ..functions.random import Generator
from . import _transport, _worker
from ._collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader"]

T_co = TypeVar("T_co", covariant=True)

WORKER_METHODS = ("multiprocessing", "thread")
DEFAULT_WORKER_METHOD = "multiprocessing"  # measured: docs/data.md, "Workers: processes or threads"
JOIN_TIMEOUT = 5.0  # seconds a worker gets to finish its batch at shutdown before it is killed


class _InfiniteConstantSampler(Sampler[None]):
    """``None`` forever: the 'indices' of an iterable data set (its workers know what's next)."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


def _default_context() -> multiprocessing.context.BaseContext:
    # fork is fast and needs nothing picklable; elsewhere use the platform default.
    if "fork" in multiprocessing.get_all_start_methods() and os.name == "posix" \
            and not _is_macos():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _is_macos() -> bool:
    return os.uname().sysname == "Darwin"


class DataLoader(Generic[T_co]):
    """Iterate over a data set in batches, as ``torch.utils.data.DataLoader``.

    Args:
        dataset: a map-style :class:`Dataset` (``__getitem__``/``__len__``) or an
            :class:`IterableDataset`.
        batch_size: samples per batch; None turns automatic batching off (each item is one
            sample, converted by ``collate_fn``). Default: 1.
        shuffle: visit the samples in a new random order at every epoch. Default: False.
        sampler: the order of the indices (any iterable of indices); excludes ``shuffle``.
        batch_sampler: yields whole lists of indices; excludes ``batch_size``, ``shuffle``,
            ``sampler`` and ``drop_last``.
        num_workers: how many workers load batches in the background; 0 loads in the main
            process. Default: 0.
        collate_fn: list of samples -> batch. Default: :func:`default_collate` (or
            :func:`default_convert` without automatic batching).
        pin_memory: accepted for compatibility; CPU tensors need no pinning, so it does nothing.
        drop_last: drop the last batch when it is smaller than ``batch_size``. Default: False.
        timeout: seconds to wait for a batch from the workers before raising (0: forever).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after seeding.
        multiprocessing_context: start method (``"fork"``, ``"spawn"``, ``"forkserver"``) or a
            context for worker processes. Default: fork where available (Linux), else the
            platform's default.
        generator: the generator for the shuffle order and the workers' base seed. Default:
            the global one (``nr.manual_seed``).
        prefetch_factor: batches each worker loads ahead. Default: 2 when ``num_workers > 0``.
        persistent_workers: keep the workers (and their state) alive between epochs.
        worker_method: ``"multiprocessing"`` (default) or ``"thread"``: worker processes, or
            threads of the main process. Processes were faster for numpy-heavy transforms
            of small images here (docs/data.md); threads avoid start-up and transfer costs.

    Example:
        >>> ds = TensorDataset(nr.arange(10.0), nr.arange(10))
        >>> [y.tolist() for _, y in DataLoader(ds, batch_size=4)]
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    """

    dataset: Dataset[T_co]
    batch_size: int | None
    drop_last: bool
    sampler: Sampler[Any] | Iterable[Any]
    batch_sampler: Sampler[Sequence[Any]] | Iterable[Sequence[Any]] | None
    generator: Generator | None

    def __init__(
        self,
        dataset: Dataset[T_co],
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler[Any] | Iterable[Any] | None = None,
        batch_sampler: Sampler[Sequence[Any]] | Iterable[Sequence[Any]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[Any], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: str | multiprocessing.context.BaseContext | None = None,
        generator: Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        worker_method: str = DEFAULT_WORKER_METHOD,
    ) -> None:
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(
                "num_workers option should be a non-negative integer; use num_workers=0 to "
                f"load in the main process, got num_workers={num_workers!r}"
            )
        if timeout < 0:
            raise ValueError(f"timeout option should be non-negative, got timeout={timeout}")
        if timeout > 0 and num_workers == 0:
            raise ValueError("timeout only applies to workers: set num_workers > 0 or timeout=0")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified with num_workers > 0; "
                "set prefetch_factor=None to load in the main process"
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (not isinstance(prefetch_factor, int)
                                            or prefetch_factor <= 0):
            raise ValueError(
                f"prefetch_factor option should be a positive integer, got {prefetch_factor!r}"
            )
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if worker_method not in WORKER_METHODS:
            raise ValueError(
                f"worker_method should be one of {WORKER_METHODS}, got {worker_method!r}"
            )
        if multiprocessing_context is not None:
            if num_workers == 0:
                raise ValueError(
                    "multiprocessing_context can only be used with multi-process loading "
                    f"(num_workers > 0), but got num_workers={num_workers}"
                )
            if worker_method == "thread":
                raise ValueError("multiprocessing_context does not apply to worker_method='thread'")
            if isinstance(multiprocessing_context, str):
                methods = multiprocessing.get_all_start_methods()
                if multiprocessing_context not in methods:
                    raise ValueError(
                        "multiprocessing_context option should specify a valid start method in "
                        f"{methods!r}, but got multiprocessing_context={multiprocessing_context!r}"
                    )
                multiprocessing_context = multiprocessing.get_context(multiprocessing_context)
            if not isinstance(multiprocessing_context, multiprocessing.context.BaseContext):
                raise TypeError(
                    "multiprocessing_context option should be a valid context object or a "
                    f"string naming a start method, got {multiprocessing_context!r}"
                )

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = _worker.ITERABLE
            if shuffle not in (False, None):
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle option, but "
                    f"got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified sampler option, but "
                    f"got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler "
                    f"option, but got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)
            self._dataset_kind = _worker.MAP

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                    "sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with "
                "drop_last"
            )

        if sampler is None:
            if self._dataset_kind == _worker.ITERABLE:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)  # type: ignore[arg-type]
            else:
                sampler = SequentialSampler(dataset)  # type: ignore[arg-type]
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(cast(Iterable[int], sampler), batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if batch_sampler is not None else default_convert)
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.worker_method = worker_method
        self._iterator: _MultiWorkerIter | None = None

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Iterable[Any]:
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if self.persistent_workers:
            if self._iterator is None or self._iterator._shutdown:
                self._iterator = _MultiWorkerIter(self)
            else:
                self._iterator._reset(self)
            return self._iterator
        return _MultiWorkerIter(self)

    def __len__(self) -> int:
        if self._dataset_kind == _worker.ITERABLE:
            length = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else \
                    -(-length // self.batch_size)
            return length
        return len(self._index_sampler)  # type: ignore[arg-type]


def _draw_base_seed(generator: Generator | None) -> int:
    gen = _random.default_generator if generator is None else generator
    return int(gen.numpy.integers(0, 2**63, dtype=np.int64))


class _BaseIter:
    def __init__(self, loader: DataLoader[Any]) -> None:
        self._dataset = loader.dataset
        self._dataset_kind = loader._dataset_kind
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._collate_fn = loader.collate_fn
        self._sampler_iter: Iterator[Any] = iter(self._index_sampler)
        # Drawn whether or not there are workers (as PyTorch), so that the shuffle order for a
        # given seed does not depend on num_workers.
        self._base_seed = _draw_base_seed(loader.generator)
        self._num_yielded = 0

    def __iter__(self) -> _BaseIter:
        return self

    def __next__(self) -> Any:
        data = self._next_data()
        self._num_yielded += 1
        return data

    def _next_data(self) -> Any:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._index_sampler)  # type: ignore[arg-type]

    def __getstate__(self) -> Any:
        raise TypeError(f"{type(self).__name__} cannot be pickled")


class _SingleProcessIter(_BaseIter):
    def __init__(self, loader: DataLoader[Any]) -> None:
        super().__init__(loader)
        self._fetcher = _worker.create_fetcher(self._dataset_kind, self._dataset,
                                               self._auto_collation, self._collate_fn,
                                               self._drop_last)

    def _next_data(self) -> Any:
        index = next(self._sampler_iter)  # StopIteration ends the epoch
        return self._fetcher.fetch(index)  # an iterable data set's StopIteration too


class _WorkerDied(Exception):
    pass


class _LoaderError(Exception):
    """Carries an error (not yet raised) out of the iterator's frames; see ``__next__``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _ProcessWorker:
    """A worker process, its task pipe and its result socket (:mod:`._transport`)."""

    def __init__(self, ctx: multiprocessing.context.BaseContext, config: _worker.WorkerConfig,
                 worker_id: int, done_event: Any) -> None:
        task_reader, self.task_writer = ctx.Pipe(duplex=False)
        self.result_sock, result_sock_child = socket.socketpair()
        self.process = ctx.Process(  # type: ignore[attr-defined]
            target=_worker.process_worker_main,
            args=(config, worker_id, task_reader, result_sock_child, done_event, os.getpid()),
            name=f"nr-data-worker-{worker_id}",
            daemon=True,
        )
        try:
            self.process.start()
        finally:
            task_reader.close()  # the child holds its own copies now
            result_sock_child.close()

    def put(self, task: Any) -> None:
        try:
            self.task_writer.send(task)
        except OSError as e:
            raise _WorkerDied(self._died()) from e

    def get(self, timeout: float | None) -> tuple[bool, Any]:
        ready = wait([self.result_sock, self.process.sentinel], timeout)
        if not ready:
            return False, None
        if self.result_sock in ready or wait([self.result_sock], 0):
            try:
                return True, _transport.recv(self.result_sock)
            except (EOFError, ConnectionError):
                pass
        self.process.join(0.1)
        raise _WorkerDied(self._died())

    def _died(self) -> str:
        return (f"DataLoader worker (pid {self.process.pid}) exited unexpectedly with exit "
                f"code {self.process.exitcode}")

    def stop(self) -> None:
        try:
            self.task_writer.send(None)
        except OSError:
            pass

    def join(self, timeout: float) -> None:
        """Wait ``timeout`` s for the worker to exit, then terminate it, then kill it (a
        stopped or hung process ignores SIGTERM until it runs again); always reaped."""
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(min(timeout, 1.0))
        if self.process.is_alive():
            self.kill()
        self.task_writer.close()
        self.result_sock.close()
        self.process.close()

    def kill(self) -> None:
        """SIGKILL the worker (works on a stopped process too) and reap it."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


class _ThreadWorker:
    """A worker thread of this process and its two queues."""

    def __init__(self, config: _worker.WorkerConfig, worker_id: int,
                 done_event: threading.Event) -> None:
        self.tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.results: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(
            target=_worker.thread_worker_main,
            args=(config, worker_id, self.tasks, self.results, done_event),
            name=f"nr-data-worker-{worker_id}",
            daemon=True,
        )
        self.thread.start()

    def put(self, task: Any) -> None:
        self.tasks.put(task)

    def get(self, timeout: float | None) -> tuple[bool, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait_s = _worker.POLL_INTERVAL if deadline is None else \
                min(_worker.POLL_INTERVAL, max(0.0, deadline - time.monotonic()))
            try:
                return True, self.results.get(timeout=wait_s)
            except queue.Empty:
                if not self.thread.is_alive():
                    raise _WorkerDied(f"DataLoader worker thread {self.thread.name} exited "
                                      "unexpectedly") from None
                if deadline is not None and time.monotonic() >= deadline:
                    return False, None

    def stop(self) -> None:
        self.tasks.put(None)

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)  # a thread stuck in user code stays behind (daemon)

    def kill(self) -> None:
        """Threads can't be killed: one stuck in user code stays behind (a daemon)."""


_live_iterators: weakref.WeakSet[_MultiWorkerIter] = weakref.WeakSet()


@atexit.register
def _shutdown_live_iterators() -> None:
    for it in list(_live_iterators):
        it._shutdown_workers()


class _MultiWorkerIter(_BaseIter):
    """Hands batch tasks round-robin to the workers and yields results in task order.

    Each worker serves its tasks in order, so the next batch always comes from a known
    worker: the loader reads that worker's channel and no reordering buffer is needed.
    At most ``prefetch_factor * num_workers`` tasks are outstanding.
    """

    def __init__(self, loader: DataLoader[Any]) -> None:
        super().__init__(loader)
        assert loader.prefetch_factor is not None
        self._owner_pid = os.getpid()
        self._shutdown = True  # until the workers exist
        self._num_workers = loader.num_workers
        self._prefetch_factor = loader.prefetch_factor
        self._persistent_workers = loader.persistent_workers
        self._timeout = loader.timeout
        self._workers: list[_ProcessWorker | _ThreadWorker] = []
        config = _worker.WorkerConfig(
            self._dataset_kind, self._dataset, self._auto_collation, self._collate_fn,
            self._drop_last, self._base_seed, loader.worker_init_fn, self._num_workers,
        )
        self._done_event: Any
        if loader.worker_method == "thread":
            self._done_event = threading.Event()
            for i in range(self._num_workers):
                self._workers.append(_ThreadWorker(config, i, self._done_event))
        else:
            ctx = loader.multiprocessing_context
            if not isinstance(ctx, multiprocessing.context.BaseContext):
                ctx = _default_context()
            self._done_event = ctx.Event()
            self._shutdown = False  # so that a failed start still stops the started ones
            try:
                for i in range(self._num_workers):
                    self._workers.append(_ProcessWorker(ctx, config, i, self._done_event))
            except BaseException:
                self._shutdown_workers()
                raise
        self._shutdown = False
        _live_iterators.add(self)
        self._reset(loader, first_iter=True)

    def _reset(self, loader: DataLoader[Any], first_iter: bool = False) -> None:
        """Start an epoch: new sampler pass, persistent workers resynchronised, prefetch."""
        error: BaseException | None = None
        try:
            self._start_epoch(first_iter)
        except _LoaderError as e:
            error = e.error
        if error is not None:
            raise error

    def _start_epoch(self, first_iter: bool) -> None:
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._send_idx = 0  # index of the next task to send
        self._rcvd_idx = 0  # index of the next task to yield
        self._task_worker: dict[int, int] = {}  # task index -> worker, for tasks not yielded
        self._tasks_outstanding = 0
        self._workers_active = [True] * self._num_workers
        self._next_worker = 0
        if not first_iter:
            # Persistent workers: each echoes ResumeIteration after finishing (and sending)
            # what it had from the last epoch; drop those stale results.
            for wid, w in enumerate(self._workers):
                try:
                    w.put(_worker.ResumeIteration())
                except _WorkerDied as e:
                    self._shutdown_workers()
                    raise _LoaderError(RuntimeError(str(e))) from None
            for wid in range(self._num_workers):
                while True:
                    _, message = self._get(wid)
                    if isinstance(message[0], _worker.ResumeIteration):
                        break
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _try_put_index(self) -> None:
        if self._tasks_outstanding >= self._prefetch_factor * self._num_workers:
            return
        if not any(self._workers_active):
            return
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        while not self._workers_active[self._next_worker]:
            self._next_worker = (self._next_worker + 1) % self._num_workers
        wid = self._next_worker
        self._next_worker = (wid + 1) % self._num_workers
        try:
            self._workers[wid].put((self._send_idx, index))
        except _WorkerDied as e:
            self._shutdown_workers()
            raise _LoaderError(RuntimeError(str(e))) from None
        self._task_worker[self._send_idx] = wid
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _get(self, wid: int) -> tuple[bool, Any]:
        """The next message from worker ``wid``; RuntimeError if it died or timed out."""
        timeout = self._timeout if self._timeout > 0 else None
        try:
            ok, message = self._workers[wid].get(timeout)
        except _WorkerDied as e:
            self._shutdown_workers()
            raise _LoaderError(RuntimeError(str(e))) from None
        if not ok:
            # As torch: the hung (or stopped) worker is killed at once, the others are shut
            # down, and the error is raised now, not after the workers' join timeouts.
            self._workers[wid].kill()
            self._shutdown_workers()
            raise _LoaderError(RuntimeError(
                f"DataLoader timed out after {self._timeout} seconds (worker {wid} sent no "
                "batch; it was killed)"))
        return ok, message

    def __next__(self) -> Any:
        # Errors are raised from here after `del self`: a traceback keeps its frames' locals
        # alive, and one that reached the iterator would keep its workers running for as long
        # as the caller holds the exception (e.g. `pytest.raises`, or an exception logged and
        # kept). Without it the iterator dies, and its workers stop, as the error propagates.
        error: BaseException | None = None
        try:
            data = self._next_data()
        except _LoaderError as e:
            error = e.error
        if error is not None:
            del self
            raise error
        self._num_yielded += 1
        if isinstance(data, _worker.ExceptionWrapper):
            del self
            data.reraise()
        return data

    def _next_data(self) -> Any:
        while True:
            # Skip tasks of workers whose iterable data set has ended.
            while self._rcvd_idx < self._send_idx:
                wid = self._task_worker.get(self._rcvd_idx)
                if wid is not None and self._workers_active[wid]:
                    break
                self._task_worker.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if self._shutdown:
                raise _LoaderError(RuntimeError(
                    "DataLoader iterator used after its workers were shut down"))
            wid = self._task_worker[self._rcvd_idx]
            _, (idx, data) = self._get(wid)
            self._tasks_outstanding -= 1
            if isinstance(data, _worker.IterableStop):
                self._workers_active[wid] = False
                if not self._persistent_workers:
                    self._workers[wid].stop()
                self._try_put_index()
                continue
            assert idx == self._rcvd_idx, f"worker {wid} answered task {idx}, not {self._rcvd_idx}"
            del self._task_worker[idx]
            self._rcvd_idx += 1
            self._try_put_index()
            return data  # an ExceptionWrapper is raised by __next__

    def _shutdown_workers(self) -> None:
        """Stop and join every worker (killing one that does not finish in time). Idempotent."""
        if self._shutdown or os.getpid() != self._owner_pid:  # a forked copy owns nothing
            return
        self._shutdown = True
        _live_iterators.discard(self)
        self._done_event.set()
        for w in self._workers:
            w.stop()
        for w in self._workers:
            with contextlib.suppress(Exception):  # best effort at interpreter exit
                w.join(JOIN_TIMEOUT)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # the interpreter may be shutting down
            self._shutdown_workers()
