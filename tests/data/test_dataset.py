"""Data sets and random_split, vs PyTorch where the rule is shared."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust.data import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    Subset,
    TensorDataset,
    random_split,
)

from ._helpers import Range, Squares

torch = pytest.importorskip("torch")


def test_tensor_dataset_rows_and_length() -> None:
    x = nr.from_numpy(np.arange(12, dtype=np.float32).reshape(4, 3))
    y = nr.from_numpy(np.array([3, 1, 2, 0]))
    ds = TensorDataset(x, y)
    assert len(ds) == 4
    row, label = ds[2]
    assert row.tolist() == [6.0, 7.0, 8.0] and row.dtype == nr.float32
    assert label.tolist() == 2 and label.shape == ()


def test_tensor_dataset_with_grad_keeps_the_graph() -> None:
    x = nr.ones(3, 2, requires_grad=True)
    (row,) = TensorDataset(x)[1]
    assert row.requires_grad


def test_tensor_dataset_size_mismatch() -> None:
    with pytest.raises(ValueError, match=r"size mismatch between tensors.*\[3, 2\], \[4\]"):
        TensorDataset(nr.zeros(3, 2), nr.zeros(4))


def test_concat_dataset_indexing_like_torch() -> None:
    parts = [Squares(3), Squares(0), Squares(4)]
    ours = ConcatDataset(parts)
    theirs = torch.utils.data.ConcatDataset(parts)
    assert len(ours) == len(theirs) == 7
    assert ours.cumulative_sizes == theirs.cumulative_sizes
    for i in list(range(7)) + [-1, -7]:
        assert ours[i][1] == theirs[i][1]
    with pytest.raises(ValueError, match="absolute value of index should not exceed"):
        _ = ours[-8]
    assert (Squares(2) + Squares(3))[4][1] == 2


def test_concat_dataset_errors() -> None:
    with pytest.raises(ValueError, match="should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(TypeError, match="does not support IterableDataset"):
        ConcatDataset([Range(0, 3)])


def test_chain_dataset() -> None:
    assert list(ChainDataset([Range(0, 2), Range(5, 7)])) == [0, 1, 5, 6]
    assert list(Range(0, 2) + Range(3, 4)) == [0, 1, 3]


def test_subset() -> None:
    sub = Subset(Squares(10), [9, 2, 5])
    assert len(sub) == 3
    assert [sub[i][1] for i in range(3)] == [9, 2, 5]
    assert [s[1] for s in sub.__getitems__([2, 0])] == [5, 9]


def test_base_dataset_must_be_implemented() -> None:
    with pytest.raises(NotImplementedError, match="must implement __getitem__"):
        Dataset()[0]


@pytest.mark.parametrize("n,fractions", [
    (10, [0.7, 0.3]), (11, [0.5, 0.5]), (7, [0.2, 0.3, 0.5]), (5000, [0.8, 0.2]),
    (3, [1 / 3] * 3), (10, [0.05, 0.95]),
])
def test_random_split_fraction_lengths_match_torch(n: int, fractions: list[float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = random_split(Squares(n), fractions, generator=nr.Generator(0))
        theirs = torch.utils.data.random_split(range(n), fractions)
    assert [len(s) for s in ours] == [len(s) for s in theirs]


def test_random_split_partitions_and_is_deterministic() -> None:
    a = random_split(Squares(20), [5, 15], generator=nr.Generator(3))
    b = random_split(Squares(20), [5, 15], generator=nr.Generator(3))
    c = random_split(Squares(20), [5, 15], generator=nr.Generator(4))
    assert [s.indices for s in a] == [s.indices for s in b]
    assert [s.indices for s in a] != [s.indices for s in c]
    assert sorted(a[0].indices + a[1].indices) == list(range(20))
    # The permutation is nr.randperm's stream for the same generator.
    assert a[0].indices + a[1].indices == nr.randperm(20, generator=nr.Generator(3)).tolist()


def test_random_split_uses_the_global_generator_by_default() -> None:
    nr.manual_seed(8)
    first = random_split(Squares(9), [4, 5])[0].indices
    nr.manual_seed(8)
    assert random_split(Squares(9), [4, 5])[0].indices == first


@pytest.mark.parametrize("lengths,message", [
    ([3, 3], r"sum of input lengths \(6\) does not equal the length of the input dataset \(7\)"),
    ([0.5, 0.6], (r"lengths must be non-negative integers summing to len\(dataset\), or "
                  r"fractions summing to 1; got \[0.5, 0.6\]")),
    ([1.5, -0.5], r"fraction at index 0 is not between 0 and 1, got 1.5"),
])
def test_random_split_errors(lengths: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        random_split(Squares(7), lengths)


def test_random_split_warns_on_empty_split() -> None:
    with pytest.warns(UserWarning, match="length of split at index 0 is 0"):
        random_split(Squares(3), [0.0, 1.0])
