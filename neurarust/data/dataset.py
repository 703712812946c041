"""Datasets, as ``torch.utils.data``: map-style and iterable-style, their combinations, splits."""

from __future__ import annotations

import bisect
import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from ..functions import random as _random
from ..functions.creation import from_numpy
from ..functions.random import Generator
from ..tensor import Tensor

__all__ = [
    "ChainDataset",
    "ConcatDataset",
    "Dataset",
    "IterableDataset",
    "Subset",
    "TensorDataset",
    "random_split",
]

T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")


class Dataset(Generic[T_co]):
    """A map-style data set: ``dataset[i]`` gives sample ``i``, as ``torch.utils.data.Dataset``.

    Subclasses implement ``__getitem__`` and, for the default samplers, ``__len__``. They may
    also implement ``__getitems__(indices) -> list`` to fetch a whole batch at once; the
    DataLoader then calls it instead of ``__getitem__`` once per index.
    """

    def __getitem__(self, index: Any) -> T_co:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other: Dataset[T_co]) -> ConcatDataset[T_co]:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co], Iterable[T_co]):
    """A stream of samples: ``iter(dataset)``, as ``torch.utils.data.IterableDataset``.

    With ``num_workers > 0`` every worker iterates its own copy of the data set; use
    :func:`~neurarust.data.get_worker_info` in ``__iter__`` to give each worker its own shard,
    or each sample comes once per worker.
    """

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other: Dataset[T_co]) -> ChainDataset[T_co]:  # type: ignore[override]
        return ChainDataset([self, other])


class TensorDataset(Dataset[tuple[Tensor, ...]]):
    """Samples are the rows of tensors sharing their first dimension: ``(t[i] for t in tensors)``.

    Args:
        *tensors: tensors with the same size of the first dimension.
    """

    tensors: tuple[Tensor, ...]

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = [t.shape[0] if t.ndim > 0 else None for t in tensors]
        if any(s is None for s in sizes) or len(set(sizes)) != 1:
            shapes = ", ".join(str(list(t.shape)) for t in tensors)
            raise ValueError(
                "TensorDataset: size mismatch between tensors: every tensor needs the same first "
                f"dimension, got shapes {shapes}"
            )
        self.tensors = tensors
        self._plain = not any(t.requires_grad for t in tensors)
        self._arrays = [np.asarray(t) for t in tensors]

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        if self._plain:
            # Data tensors: index the arrays directly (a view, as t[index]), skipping the op
            # dispatch that a gradient-tracking index needs; a loader calls this per sample.
            return tuple(from_numpy(a[index, ...]) for a in self._arrays)
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class ConcatDataset(Dataset[T_co]):
    """The concatenation of map-style data sets: indices run through each in turn.

    Args:
        datasets: the data sets, each with ``__len__``.
    """

    datasets: list[Dataset[T_co]]
    cumulative_sizes: list[int]

    @staticmethod
    def cumsum(sequence: Sequence[Any]) -> list[int]:
        return list(itertools.accumulate(len(d) for d in sequence))

    def __init__(self, datasets: Iterable[Dataset[T_co]]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError(
                    "ConcatDataset does not support IterableDataset; use ChainDataset "
                    "(or `a + b` on iterable data sets)"
                )
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> T_co:
        if idx < 0:
            if -idx > len(self):
                raise ValueError(
                    f"ConcatDataset: absolute value of index should not exceed dataset length "
                    f"{len(self)}, got {idx}"
                )
            idx = len(self) + idx
        dataset_idx = bisect.bisect_right(self.cumulative_sizes, idx)
        sample_idx = idx if dataset_idx == 0 else idx - self.cumulative_sizes[dataset_idx - 1]
        return self.datasets[dataset_idx][sample_idx]


class ChainDataset(IterableDataset[T_co]):
    """Iterable data sets chained one after the other (lazily)."""

    def __init__(self, datasets: Iterable[Dataset[T_co]]) -> None:
        self.datasets = list(datasets)

    def __iter__(self) -> Iterator[T_co]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(
                    f"ChainDataset only supports IterableDataset, got {type(d).__name__}"
                )
            yield from d

    def __len__(self) -> int:
        total = 0
        for d in self.datasets:
            total += len(d)  # type: ignore[arg-type]  # raises TypeError for unsized streams
        return total


class Subset(Dataset[T_co]):
    """The samples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset: the whole data set.
        indices: indices into ``dataset`` selected for the subset.
    """

    dataset: Dataset[T_co]
    indices: Sequence[int]

    def __init__(self, dataset: Dataset[T_co], indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx: Any) -> T_co:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list[T_co]:
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems([self.indices[i] for i in indices])  # type: ignore[no-any-return]
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(
    dataset: Dataset[T],
    lengths: Sequence[int | float],
    generator: Generator | None = None,
) -> list[Subset[T]]:
    """Split ``dataset`` at random into non-overlapping subsets of the given lengths.

    ``lengths`` are either counts summing to ``len(dataset)``, or fractions summing to 1: each
    subset then gets ``floor(frac * len(dataset))`` samples and the remainder is dealt out one
    by one, round-robin from the first subset (PyTorch's rule).

    Args:
        dataset: the data set to split.
        lengths: the subset lengths or fractions.
        generator: the generator of the permutation. Default: the global generator
            (``nr.manual_seed``).

    Example:
        >>> a, b = random_split(range(10), [0.7, 0.3], generator=nr.Generator(42))
        >>> len(a), len(b)
        (7, 3)
    """
    n = len(dataset)  # type: ignore[arg-type]
    lengths = list(lengths)
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        subset_lengths: list[int] = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1, got {frac}")
            subset_lengths.append(math.floor(n * frac))
        remainder = n - sum(subset_lengths)
        for i in range(remainder):
            subset_lengths[i % len(subset_lengths)] += 1
        for i, length in enumerate(subset_lengths):
            if length == 0:
                warnings.warn(
                    f"random_split: length of split at index {i} is 0; this subset is empty",
                    stacklevel=2,
                )
        counts = subset_lengths
    else:
        if any(not float(x).is_integer() or x < 0 for x in lengths):
            raise ValueError(
                "random_split: lengths must be non-negative integers summing to len(dataset), "
                f"or fractions summing to 1; got {lengths}"
            )
        counts = [int(x) for x in lengths]
    if sum(counts) != n:
        raise ValueError(
            f"random_split: sum of input lengths ({sum(counts)}) does not equal the length of "
            f"the input dataset ({n})"
        )
    gen = _random.default_generator if generator is None else generator
    indices = gen.numpy.permutation(n).tolist()  # the same stream as nr.randperm(n, generator=gen)
    return [
        Subset(dataset, indices[offset - length : offset])
        for offset, length in zip(itertools.accumulate(counts), counts)
    ]
