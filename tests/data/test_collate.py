"""default_collate / default_convert vs PyTorch's."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust.data import default_collate, default_convert

torch = pytest.importorskip("torch")
from torch.utils.data import default_collate as torch_collate
from torch.utils.data import default_convert as torch_convert

Point = collections.namedtuple("Point", ["x", "y"])


def same(ours: Any, theirs: Any) -> None:
    """Same structure, and tensors with the same values, shapes and dtypes."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, nr.Tensor), type(ours)
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and ours.keys() == theirs.keys()
        for k in theirs:
            same(ours[k], theirs[k])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            same(a, b)
    else:
        assert ours == theirs


def to_torch(sample: Any) -> Any:
    if isinstance(sample, nr.Tensor):
        return torch.from_numpy(sample.numpy().copy())
    if isinstance(sample, dict):
        return {k: to_torch(v) for k, v in sample.items()}
    if isinstance(sample, Point):
        return Point(*(to_torch(v) for v in sample))
    if isinstance(sample, (list, tuple)):
        return type(sample)(to_torch(v) for v in sample)
    return sample


BATCHES = {
    "tensors": [nr.tensor([1.0, 2.0]), nr.tensor([3.0, 4.0])],
    "int tensors": [nr.tensor([[1, 2]]), nr.tensor([[3, 4]])],
    "arrays": [np.ones((2, 3), np.uint8), np.zeros((2, 3), np.uint8)],
    "float64 arrays": [np.array([0.5]), np.array([1.5])],
    "floats": [0.5, 1.25, -2.0],
    "ints": [1, 2, 3],
    "bools": [True, False],
    "numpy scalars": [np.float32(1.5), np.float32(2.5)],
    "numpy ints": [np.int16(1), np.int16(-2)],
    "strings": ["a", "bc"],
    "tuples": [(np.zeros(2, np.float32), 1), (np.ones(2, np.float32), 0)],
    "lists": [[1, 2.0], [3, 4.0]],
    "dicts": [{"a": 1, "b": np.float64(2)}, {"a": 3, "b": np.float64(4)}],
    "namedtuples": [Point(1, 2.0), Point(3, 4.0)],
    "nested": [{"img": nr.zeros(1, 2), "meta": ("id0", [1, 2])},
               {"img": nr.ones(1, 2), "meta": ("id1", [3, 4])}],
}


@pytest.mark.parametrize("name", list(BATCHES))
def test_default_collate_matches_torch(name: str) -> None:
    batch = BATCHES[name]
    same(default_collate(batch), torch_collate([to_torch(s) for s in batch]))


@pytest.mark.parametrize("sample", [np.arange(3), np.float64(2.0), {"a": np.ones(2)},
                                    (np.zeros(1), "s"), [np.int32(4)], Point(np.zeros(1), 1), 7])
def test_default_convert_matches_torch(sample: Any) -> None:
    same(default_convert(sample), torch_convert(sample))


def test_collate_stacks_into_a_contiguous_new_tensor() -> None:
    a, b = nr.zeros(2, 2), nr.ones(2, 2)
    out = default_collate([a, b])
    assert out.shape == (2, 2, 2) and out.is_contiguous()
    out.numpy()[0, 0, 0] = 5.0
    assert a.numpy()[0, 0] == 0.0


def test_collate_errors() -> None:
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size, but got "
                                           r"\[2\] at entry 0 and \[3\] at entry 1"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="batch must contain tensors, numpy arrays, numbers, dicts "
                                        "or lists; found <class 'object'>"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])
