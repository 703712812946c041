"""DataLoader: batching and order (vs PyTorch), seeding, workers, errors and shutdown."""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust.data import (
    BatchSampler,
    DataLoader,
    SequentialSampler,
    TensorDataset,
    get_worker_info,
)
from neurarust.data import transforms as T
from neurarust.data.dataloader import JOIN_TIMEOUT

from ._helpers import (
    ExitsAt,
    FailsAt,
    RandomValues,
    Range,
    Sleeps,
    Squares,
    StopsItself,
    Unpicklable,
    assert_no_workers,
    child_pids,
)

torch = pytest.importorskip("torch")

WORKERS = [
    pytest.param({}, id="main"),
    pytest.param({"num_workers": 2}, id="processes"),
    pytest.param({"num_workers": 2, "worker_method": "thread"}, id="threads"),
]
PARALLEL = WORKERS[1:]


def batches_np(loader: Any) -> list[Any]:
    """The loader's batches with tensors turned into numpy arrays (for comparisons)."""
    def conv(x: Any) -> Any:
        if isinstance(x, nr.Tensor):
            return x.numpy()
        if isinstance(x, torch.Tensor):
            return x.numpy()
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [conv(v) for v in x]
        return x
    return [conv(b) for b in loader]


def assert_same(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


@pytest.fixture
def no_leftovers() -> Any:
    before = child_pids()
    yield
    assert_no_workers(before)


# -- batching and order, vs PyTorch --------------------------------------------------------------
@pytest.mark.parametrize("kw", WORKERS)
@pytest.mark.parametrize("batch_size,drop_last", [(1, False), (3, False), (3, True), (10, False),
                                                  (16, True)])
def test_batches_match_torch_for_the_same_sampler_order(kw: Any, batch_size: int,
                                                        drop_last: bool, no_leftovers: Any) -> None:
    order = [7, 2, 9, 0, 4, 4, 1, 8, 3, 6, 5]
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = np.arange(10) % 3
    ours = DataLoader(TensorDataset(nr.from_numpy(x), nr.from_numpy(y)), batch_size=batch_size,
                      sampler=order, drop_last=drop_last, **kw)
    theirs = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        batch_size=batch_size, sampler=order, drop_last=drop_last)
    assert len(ours) == len(theirs)
    assert_same(batches_np(ours), batches_np(theirs))


@pytest.mark.parametrize("kw", WORKERS)
def test_nested_samples_collate_like_torch(kw: Any, no_leftovers: Any) -> None:
    class Nested(torch.utils.data.Dataset):  # type: ignore[misc]
        def __getitem__(self, i: int) -> Any:
            return {"x": np.full((2, 2), i, np.float32), "pair": (i, float(i) / 2),
                    "flag": i % 2 == 0}

        def __len__(self) -> int:
            return 7

    ours = DataLoader(Nested(), batch_size=3, **kw)  # type: ignore[arg-type]
    theirs = torch.utils.data.DataLoader(Nested(), batch_size=3)
    assert_same(batches_np(ours), batches_np(theirs))


def test_batch_size_none_converts_single_samples_like_torch() -> None:
    ds = Squares(4)
    ours = batches_np(DataLoader(ds, batch_size=None))
    theirs = batches_np(torch.utils.data.DataLoader(ds, batch_size=None))
    assert_same(ours, theirs)


def test_batch_sampler_argument() -> None:
    sampler = BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=False)
    got = [b[1].tolist() for b in DataLoader(Squares(7), batch_sampler=sampler)]
    assert got == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.parametrize("n,batch_size,drop_last,expected", [
    (10, 3, False, [3, 3, 3, 1]), (10, 3, True, [3, 3, 3]), (9, 3, True, [3, 3, 3]),
    (2, 3, True, []),
])
def test_drop_last(n: int, batch_size: int, drop_last: bool, expected: list[int]) -> None:
    loader = DataLoader(Squares(n), batch_size=batch_size, drop_last=drop_last)
    assert [len(b[1]) for b in loader] == expected
    assert len(loader) == len(expected)


# -- shuffling and seeding -----------------------------------------------------------------------
def order_of(loader: DataLoader[Any]) -> list[int]:
    return [i for b in loader for i in b[1].tolist()]


def test_shuffle_is_a_permutation_fixed_by_the_generator() -> None:
    ds = Squares(50)
    a = order_of(DataLoader(ds, batch_size=8, shuffle=True, generator=nr.Generator(5)))
    b = order_of(DataLoader(ds, batch_size=8, shuffle=True, generator=nr.Generator(5)))
    c = order_of(DataLoader(ds, batch_size=8, shuffle=True, generator=nr.Generator(6)))
    assert sorted(a) == list(range(50))
    assert a == b
    assert a != c


def test_shuffle_without_generator_follows_manual_seed() -> None:
    ds = Squares(30)
    loader = DataLoader(ds, batch_size=4, shuffle=True)
    nr.manual_seed(123)
    first, second = order_of(loader), order_of(loader)
    nr.manual_seed(123)
    assert order_of(loader) == first
    assert first != second  # a new order at each epoch


def test_each_epoch_reshuffles_with_one_generator() -> None:
    loader = DataLoader(Squares(30), batch_size=4, shuffle=True, generator=nr.Generator(0))
    epochs = [order_of(loader) for _ in range(3)]
    assert len({tuple(e) for e in epochs}) == 3
    again = DataLoader(Squares(30), batch_size=4, shuffle=True, generator=nr.Generator(0))
    assert [order_of(again) for _ in range(3)] == epochs


@pytest.mark.parametrize("kw", PARALLEL)
def test_workers_give_the_same_batches_as_the_main_process(kw: Any, no_leftovers: Any) -> None:
    ds = TensorDataset(nr.from_numpy(np.random.default_rng(0).standard_normal((37, 3, 4))),
                       nr.arange(37))
    main = batches_np(DataLoader(ds, batch_size=5, shuffle=True, generator=nr.Generator(9)))
    workers = batches_np(DataLoader(ds, batch_size=5, shuffle=True, generator=nr.Generator(9),
                                    **kw))
    assert_same(workers, main)


@pytest.mark.parametrize("kw", PARALLEL)
def test_random_transforms_are_reproducible_with_workers(kw: Any, no_leftovers: Any) -> None:
    images = np.random.default_rng(1).integers(0, 256, (24, 8, 8, 3), dtype=np.uint8)
    aug = T.Compose([T.ToTensor(), T.RandomCrop(6, padding=1), T.RandomHorizontalFlip()])

    class Augmented(nr.data.Dataset[Any]):
        def __getitem__(self, i: int) -> Any:
            return aug(images[i])

        def __len__(self) -> int:
            return len(images)

    def run(seed: int) -> list[Any]:
        return batches_np(DataLoader(Augmented(), batch_size=4, shuffle=True,
                                     generator=nr.Generator(seed), **kw))

    first = run(3)
    assert_same(run(3), first)
    differs = run(4)
    assert any(not np.array_equal(a, b) for a, b in zip(first, differs))


def test_worker_processes_are_seeded_from_the_base_seed(no_leftovers: Any) -> None:
    batches = list(DataLoader(RandomValues(8), batch_size=2, num_workers=2,
                              generator=nr.Generator(11)))
    workers = [int(b["worker"].tolist()[0]) for b in batches]
    assert workers == [0, 1, 0, 1]  # tasks go round-robin
    seeds = {int(b["worker"].tolist()[0]): int(b["seed"].tolist()[0]) for b in batches}
    assert seeds[1] == seeds[0] + 1
    base = seeds[0]
    # Worker 0's first batch is what a generator seeded with base_seed + 0 draws first, for the
    # project generator; Python's random is seeded with the same number.
    g = nr.Generator(base)
    expected = np.stack([nr.rand(2, generator=g).numpy() for _ in range(2)])
    np.testing.assert_array_equal(batches[0]["nr"].numpy(), expected)
    import random
    r = random.Random(base + 1)
    np.testing.assert_array_equal(batches[1]["py"].numpy(), [r.random(), r.random()])
    # numpy's global generator differs between workers
    assert not np.array_equal(batches[0]["np"].numpy(), batches[1]["np"].numpy())


def test_thread_workers_have_private_generators(no_leftovers: Any) -> None:
    seen: list[Any] = []

    def init(worker_id: int) -> None:
        info = get_worker_info()
        assert info is not None and info.worker_method == "thread"
        seen.append((worker_id, info.seed, info.generator is not nr.functions.default_generator))

    loader = DataLoader(Squares(6), batch_size=2, num_workers=2, worker_method="thread",
                        worker_init_fn=init, generator=nr.Generator(2))
    list(loader)
    assert sorted(s[0] for s in seen) == [0, 1]
    assert all(private for _, _, private in seen)
    assert get_worker_info() is None


def test_numpy_seed_hash_matches_torch() -> None:
    from torch.utils.data._utils.worker import _generate_state

    from neurarust.data._worker import generate_numpy_seed
    for base, wid in [(0, 0), (12345, 1), (2**62 + 7, 3), (2**63 - 1, 15)]:
        assert generate_numpy_seed(base, wid) == _generate_state(base, wid)


# -- workers: iterable data sets, init, persistence ----------------------------------------------
@pytest.mark.parametrize("kw", WORKERS)
def test_iterable_dataset_order_matches_torch(kw: Any, no_leftovers: Any) -> None:
    class TorchRange(torch.utils.data.IterableDataset):  # type: ignore[misc]
        def __iter__(self) -> Any:
            info = torch.utils.data.get_worker_info()
            if info is None:
                return iter(range(11))
            per_worker = -(-11 // info.num_workers)
            return iter(range(info.id * per_worker, min((info.id + 1) * per_worker, 11)))

    ours = [b.tolist() for b in DataLoader(Range(0, 11), batch_size=2, **kw)]
    theirs = [b.tolist() for b in torch.utils.data.DataLoader(
        TorchRange(), batch_size=2, num_workers=kw.get("num_workers", 0),
        multiprocessing_context="fork" if kw else None)]
    assert ours == theirs


def test_worker_init_fn_runs_in_every_worker(no_leftovers: Any) -> None:
    class WhoAmI(nr.data.Dataset[Any]):
        def __getitem__(self, i: int) -> Any:
            info = get_worker_info()
            assert info is not None
            return info.dataset.tag

        def __len__(self) -> int:
            return 4

    def init(worker_id: int) -> None:
        info = get_worker_info()
        assert info is not None and info.id == worker_id and info.num_workers == 2
        info.dataset.tag = f"w{worker_id}"

    got = [b for batch in DataLoader(WhoAmI(), batch_size=1, num_workers=2,
                                     worker_init_fn=init) for b in batch]
    assert got == ["w0", "w1", "w0", "w1"]


@pytest.mark.parametrize("method", ["multiprocessing", "thread"])
def test_persistent_workers_survive_epochs_and_stop_with_the_loader(method: str) -> None:
    before = child_pids()
    loader = DataLoader(Squares(9), batch_size=2, num_workers=2, persistent_workers=True,
                        worker_method=method)
    first = order_of(loader)
    workers = child_pids() - before
    it = iter(loader)
    next(it)  # leave an epoch half done: the next one starts cleanly
    second = order_of(loader)
    assert first == second == list(range(9))
    assert child_pids() - before == workers  # the same processes served every epoch
    if method == "multiprocessing":
        assert len(workers) == 2
    del loader, it
    assert_no_workers(before)


def test_spawn_context_works(no_leftovers: Any) -> None:
    loader = DataLoader(Squares(5), batch_size=2, num_workers=1, multiprocessing_context="spawn")
    assert order_of(loader) == [0, 1, 2, 3, 4]


# -- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", WORKERS)
def test_dataset_errors_are_reraised_with_the_worker_traceback(kw: Any,
                                                               no_leftovers: Any) -> None:
    loader = DataLoader(FailsAt(10, 5, ValueError("sample 5 is corrupt")), batch_size=2, **kw)
    with pytest.raises(ValueError) as info:
        list(loader)
    message = str(info.value)
    assert "sample 5 is corrupt" in message
    if kw:
        kind = "thread" if kw.get("worker_method") == "thread" else "process"
        assert re.search(rf"Caught ValueError in DataLoader worker {kind} [01]\.", message)
        assert "Original Traceback (most recent call last):" in message
        assert "in __getitem__" in message and "raise self.exc" in message


def test_key_error_message_stays_readable(no_leftovers: Any) -> None:
    loader = DataLoader(FailsAt(4, 1, KeyError("label")), batch_size=1, num_workers=2)
    with pytest.raises(KeyError) as info:
        list(loader)
    assert "Caught KeyError in DataLoader worker process 1.\nOriginal Traceback" in str(info.value)


def test_exception_types_that_cannot_travel_become_runtime_errors(no_leftovers: Any) -> None:
    class Local(Exception):  # defined in a function: pickling it by reference fails
        pass

    loader = DataLoader(FailsAt(4, 0, Local("nope")), batch_size=1, num_workers=1)
    with pytest.raises(RuntimeError, match=r"(?s)Caught Local in DataLoader worker.*nope"):
        list(loader)


def test_worker_keeps_serving_after_an_error(no_leftovers: Any) -> None:
    it = iter(DataLoader(FailsAt(6, 1, ValueError("bad")), batch_size=1, num_workers=2))
    assert next(it).tolist() == [0.0]
    with pytest.raises(ValueError, match="bad"):
        next(it)
    assert [b.tolist() for b in it] == [[2.0], [3.0], [4.0], [5.0]]


def test_unpicklable_batch_is_an_error_not_a_hang(no_leftovers: Any) -> None:
    loader = DataLoader(Unpicklable(), batch_size=1, num_workers=1, collate_fn=lambda b: b[0])
    with pytest.raises(TypeError, match="could not be sent to the main process"):
        list(loader)


def test_dead_worker_is_reported(no_leftovers: Any) -> None:
    loader = DataLoader(ExitsAt(), batch_size=1, num_workers=2)
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+\) exited unexpectedly "
                                           r"with exit code 3"):
        list(loader)


def test_timeout(no_leftovers: Any) -> None:
    loader = DataLoader(Sleeps(), batch_size=1, num_workers=1, timeout=0.05)
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.05 seconds"):
        list(loader)


def test_timeout_kills_a_stopped_worker_at_once(no_leftovers: Any) -> None:
    loader = DataLoader(StopsItself(), batch_size=1, num_workers=1, timeout=1)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 1 seconds \(worker 0 "
                                           r"sent no batch; it was killed\)"):
        list(loader)
    # raised at the timeout, not after the shutdown's join timeouts (was 1 + 2 * 5 s), and
    # the stopped worker is killed and reaped (checked by no_leftovers)
    assert time.monotonic() - start < 1 + JOIN_TIMEOUT


def test_worker_init_errors_are_reraised(no_leftovers: Any) -> None:
    def init(worker_id: int) -> None:
        raise OSError(f"cannot open shard {worker_id}")

    with pytest.raises(OSError, match="cannot open shard 0"):
        list(DataLoader(Squares(4), num_workers=1, worker_init_fn=init))


@pytest.mark.parametrize("kwargs,message", [
    ({"num_workers": -1}, "num_workers option should be a non-negative integer"),
    ({"timeout": -1}, "timeout option should be non-negative"),
    ({"prefetch_factor": 2}, "prefetch_factor option could only be specified with num_workers"),
    ({"num_workers": 1, "prefetch_factor": 0}, "prefetch_factor option should be a positive"),
    ({"persistent_workers": True}, "persistent_workers option needs num_workers > 0"),
    ({"shuffle": True, "sampler": [0, 1]}, "sampler option is mutually exclusive with shuffle"),
    ({"batch_sampler": [[0]], "batch_size": 2}, "batch_sampler option is mutually exclusive"),
    ({"batch_size": None, "drop_last": True}, "mutually exclusive with drop_last"),
    ({"num_workers": 1, "worker_method": "fiber"}, "worker_method should be one of"),
    ({"num_workers": 1, "multiprocessing_context": "teleport"}, "valid start method"),
])
def test_argument_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        DataLoader(Squares(4), **kwargs)


def test_iterable_dataset_rejects_shuffle() -> None:
    with pytest.raises(ValueError, match="IterableDataset: expected unspecified shuffle option"):
        DataLoader(Range(0, 4), shuffle=True)


# -- clean shutdown --------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", PARALLEL)
def test_shutdown_after_break(kw: Any, no_leftovers: Any) -> None:
    loader = DataLoader(Squares(40), batch_size=2, **kw)
    for i, _ in enumerate(loader):
        if i == 2:
            break


@pytest.mark.parametrize("kw", PARALLEL)
def test_shutdown_on_del_and_on_an_error_in_the_loop(kw: Any, no_leftovers: Any) -> None:
    it = iter(DataLoader(Squares(40), batch_size=2, **kw))
    next(it)
    del it
    with pytest.raises(ZeroDivisionError):
        for _ in DataLoader(Squares(40), batch_size=2, **kw):
            _ = 1 / 0


# -- transport -----------------------------------------------------------------------------------
def _owner(array: np.ndarray) -> Any:  # type: ignore[type-arg]
    """The object at the end of an array's chain of bases."""
    obj: Any = array
    while True:
        nxt = obj.base if isinstance(obj, np.ndarray) else getattr(obj, "obj", None)
        if nxt is None:
            return obj
        obj = nxt


def test_large_batches_come_through_shared_memory(no_leftovers: Any) -> None:
    import mmap

    from neurarust.data import _transport

    images = nr.from_numpy(np.random.default_rng(3).standard_normal((12, 3, 32, 32))
                           .astype(np.float32))  # 12 KiB per sample, 48 KiB per batch
    ds = TensorDataset(images, nr.arange(12))
    main = batches_np(DataLoader(ds, batch_size=4))
    batches = list(DataLoader(ds, batch_size=4, num_workers=2))
    assert_same(batches_np(batches), main)
    x = batches[0][0].numpy()
    assert x.flags.writeable and x.flags.aligned and x.flags.c_contiguous
    if _transport.SHARED_MEMORY:
        assert isinstance(_owner(x), mmap.mmap)
        assert not isinstance(_owner(batches[0][1].numpy()), mmap.mmap)  # small: in band
