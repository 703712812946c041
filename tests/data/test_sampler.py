"""Samplers: orders, lengths, determinism, distributions, errors."""

from __future__ import annotations

import numpy as np
import pytest

import neurarust as nr
from neurarust.data import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

torch = pytest.importorskip("torch")


def test_sequential() -> None:
    s = SequentialSampler(range(5))
    assert list(s) == [0, 1, 2, 3, 4] and len(s) == 5


def test_random_sampler_permutation_and_generator() -> None:
    a = list(RandomSampler(range(20), generator=nr.Generator(1)))
    b = list(RandomSampler(range(20), generator=nr.Generator(1)))
    assert sorted(a) == list(range(20)) and a == b
    assert a == nr.randperm(20, generator=nr.Generator(1)).tolist()


def test_random_sampler_num_samples_without_replacement_repeats_permutations() -> None:
    s = RandomSampler(range(4), num_samples=10, generator=nr.Generator(0))
    got = list(s)
    assert len(s) == len(got) == 10
    assert sorted(got[:4]) == sorted(got[4:8]) == [0, 1, 2, 3]
    assert len(set(got[8:])) == 2


def test_random_sampler_with_replacement_is_uniform() -> None:
    got = np.array(list(RandomSampler(range(5), replacement=True, num_samples=20000,
                                      generator=nr.Generator(2))))
    counts = np.bincount(got, minlength=5)
    assert counts.sum() == 20000
    # chi-square with 4 degrees of freedom: 18.5 is the 0.999 quantile
    chi2 = ((counts - 4000) ** 2 / 4000).sum()
    assert chi2 < 18.5


def test_random_sampler_without_generator_follows_manual_seed() -> None:
    s = RandomSampler(range(10))
    nr.manual_seed(4)
    first, second = list(s), list(s)
    nr.manual_seed(4)
    assert list(s) == first and first != second


@pytest.mark.parametrize("kwargs,error,message", [
    ({"replacement": 1}, TypeError, "replacement should be a boolean value"),
    ({"num_samples": 0}, ValueError, "num_samples should be a positive integer value"),
])
def test_random_sampler_errors(kwargs: dict[str, object], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        RandomSampler(range(3), **kwargs)  # type: ignore[arg-type]


def test_subset_random_sampler() -> None:
    idx = [10, 20, 30, 40]
    got = list(SubsetRandomSampler(idx, generator=nr.Generator(3)))
    assert sorted(got) == idx and len(SubsetRandomSampler(idx)) == 4
    assert got == list(SubsetRandomSampler(idx, generator=nr.Generator(3)))


def test_weighted_sampler_distribution() -> None:
    w = [0.1, 0.0, 0.4, 1.5]
    got = np.array(list(WeightedRandomSampler(w, 40000, generator=nr.Generator(5))))
    counts = np.bincount(got, minlength=4)
    expected = np.array(w) / sum(w) * 40000
    assert counts[1] == 0
    nonzero = expected > 0
    chi2 = ((counts[nonzero] - expected[nonzero]) ** 2 / expected[nonzero]).sum()
    assert chi2 < 16.3  # 3 degrees of freedom, 0.999 quantile


def test_weighted_sampler_without_replacement() -> None:
    got = list(WeightedRandomSampler([1, 1, 5, 0, 2], 4, replacement=False,
                                     generator=nr.Generator(0)))
    assert sorted(got) == [0, 1, 2, 4]
    with pytest.raises(ValueError, match="cannot draw num_samples=5 without replacement from 4"):
        WeightedRandomSampler([1, 1, 5, 0, 2], 5, replacement=False)


@pytest.mark.parametrize("weights,message", [
    ([[1.0, 2.0]], "weights should be a 1d sequence"),
    ([1.0, -1.0], "weights must be finite, non-negative and not all zero"),
    ([0.0, 0.0], "weights must be finite, non-negative and not all zero"),
    ([1.0, float("nan")], "weights must be finite"),
])
def test_weighted_sampler_errors(weights: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WeightedRandomSampler(weights, 2)  # type: ignore[arg-type]


@pytest.mark.parametrize("n,batch_size,drop_last", [(10, 3, False), (10, 3, True), (9, 3, True),
                                                    (2, 5, False), (2, 5, True), (0, 2, False)])
def test_batch_sampler_matches_torch(n: int, batch_size: int, drop_last: bool) -> None:
    ours = BatchSampler(SequentialSampler(range(n)), batch_size, drop_last)
    theirs = torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(range(n)),
                                           batch_size, drop_last)
    assert list(ours) == list(theirs)
    assert len(ours) == len(theirs)


def test_batch_sampler_errors() -> None:
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        BatchSampler(range(3), 2, 1)  # type: ignore[arg-type]
