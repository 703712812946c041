"""Tensor storage, views, strides, interop with numpy / DLPack / PyTorch, creation, repr."""

from __future__ import annotations

import numpy as np
import pytest

import neurarust as nr
from tests.reference import HAS_TORCH

needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch (test oracle) not installed")


@pytest.mark.cpu_only("strided views: device arrays are C-contiguous with no offset, so transposes, slices and splits are copies")
def test_views_share_storage_and_report_strides() -> None:
    x = nr.arange(24, dtype=nr.float32).reshape(2, 3, 4)
    assert x.stride() == (12, 4, 1) and x.is_contiguous()
    t = x.transpose(0, 2)
    assert t.shape == (4, 3, 2) and t.stride() == (1, 4, 12) and not t.is_contiguous()
    p = x.permute(2, 0, 1)
    assert p.shape == (4, 2, 3) and p.stride() == (1, 12, 4)
    e = nr.ones(3, 1).expand(3, 5)
    assert e.stride() == (1, 0)
    u = x.unsqueeze(1)
    assert u.shape == (2, 1, 3, 4)
    assert u.squeeze(1).shape == (2, 3, 4) and u.squeeze().shape == (2, 3, 4)
    f = x.flatten(1)
    assert f.shape == (2, 12)
    for v in (t, p, u, f, x.view(6, 4), x.reshape(-1)):
        assert v._storage is x._storage
        assert np.shares_memory(v.numpy(), x.numpy())
    t.mul_(2.0)  # writes through the view
    assert x.numpy()[1, 2, 3] == 2 * 23


def test_storage_offset_of_a_view() -> None:
    x = nr.arange(10, dtype=nr.float32)
    v = x.view(2, 5).transpose(0, 1)
    assert v.storage_offset() == 0
    assert x.view(2, 5).t().contiguous().is_contiguous()


@pytest.mark.cpu_only("strided views: device arrays are C-contiguous with no offset, so transposes, slices and splits are copies")
def test_view_of_non_contiguous_is_an_error_reshape_copies() -> None:
    t = nr.arange(6.0).reshape(2, 3).t()
    with pytest.raises(RuntimeError, match="view: size \\[6\\] is not compatible.*use .reshape"):
        t.view(6)
    r = t.reshape(6)
    np.testing.assert_array_equal(r.numpy(), [0, 3, 1, 4, 2, 5])


def test_reshape_errors_name_op_shapes_and_fix() -> None:
    x = nr.zeros(2, 3, 4)
    with pytest.raises(nr.ShapeError) as err:
        x.reshape(5, -1)
    msg = str(err.value)
    assert msg.startswith("reshape: number of elements must be divisible by the known sizes")
    assert "input: f32[2, 3, 4]" in msg and "shape [5, -1] is invalid for input of size 24" in msg
    with pytest.raises(nr.ShapeError, match="only one dimension can be inferred"):
        x.reshape(-1, -1)
    with pytest.raises(nr.ShapeError, match="expand: the expanded size must match"):
        nr.zeros(3, 2).expand(3, 4)


def test_shape_error_is_raised_before_the_kernel_runs() -> None:
    op = nr.ops.get("reshape")
    calls: list[int] = []
    backend = nr.zeros(1).device.backend  # the default device's kernel (cuda in a cuda run)
    original = op.kernels[backend]
    op.kernels[backend] = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        with pytest.raises(nr.ShapeError):
            nr.zeros(2, 3).reshape(4, 2)
        assert calls == []
        nr.zeros(2, 3).reshape(3, 2)
        assert calls == [1]
    finally:
        op.kernels[backend] = original


def test_from_numpy_is_zero_copy_and_numpy_shares() -> None:
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = nr.from_numpy(a)
    assert t.dtype is nr.float64
    a[0, 0] = 42.0
    assert t[0, 0].item() == 42.0 if hasattr(nr, "getitem") else t.numpy()[0, 0] == 42.0
    assert t.numpy() is a
    assert np.asarray(t) is a
    with pytest.raises(TypeError, match="unsupported numpy dtype"):
        nr.from_numpy(np.zeros(2, dtype=np.complex64))


def test_numpy_of_tensor_requiring_grad_is_refused() -> None:
    with pytest.raises(RuntimeError, match="detach\\(\\).numpy\\(\\)"):
        nr.ones(2, requires_grad=True).numpy()


def test_item_tolist_len_bool() -> None:
    t = nr.tensor([[1, 2], [3, 4]])
    assert t.dtype is nr.int64 and t.tolist() == [[1, 2], [3, 4]] and len(t) == 2
    assert nr.tensor(2.5).item() == 2.5
    with pytest.raises(RuntimeError, match="a Tensor with 4 elements cannot be converted"):
        t.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)


def test_creation_dtypes_follow_pytorch() -> None:
    assert nr.tensor([1.0]).dtype is nr.float32
    assert nr.tensor([1]).dtype is nr.int64
    assert nr.tensor([True]).dtype is nr.bool_
    assert nr.arange(5).dtype is nr.int64 and nr.arange(0, 1, 0.25).dtype is nr.float32
    np.testing.assert_allclose(nr.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    assert nr.full((2,), 3).dtype is nr.int64 and nr.full((2,), 3.0).dtype is nr.float32
    assert nr.zeros(2, 3).shape == (2, 3) and nr.zeros((2, 3)).shape == (2, 3)
    assert nr.eye(3).numpy().trace() == 3
    np.testing.assert_allclose(nr.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    assert nr.zeros_like(nr.ones(2, dtype=nr.float64)).dtype is nr.float64


def test_manual_seed_is_reproducible() -> None:
    nr.manual_seed(123)
    a = nr.randn(5)
    b = nr.rand(3)
    nr.manual_seed(123)
    np.testing.assert_array_equal(a.numpy(), nr.randn(5).numpy())
    np.testing.assert_array_equal(b.numpy(), nr.rand(3).numpy())
    g = nr.Generator(7)
    r = nr.randint(0, 10, (100,), generator=g)
    assert r.dtype is nr.int64 and 0 <= r.numpy().min() and r.numpy().max() < 10


@pytest.mark.cpu_only("the CPU repr (a cuda tensor's repr names its device, as in PyTorch)")
def test_repr() -> None:
    assert repr(nr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "dtype=neurarust.float64" in repr(nr.tensor([1.0], dtype=nr.float64))
    assert repr(nr.ones(1, requires_grad=True)).endswith("requires_grad=True)")


def test_mixing_devices_names_both() -> None:
    if nr.cuda.is_available():  # a GPU, or the emulator: tests/cuda/test_emulator.py
        pytest.skip("a CUDA device is available")
    with pytest.raises(RuntimeError, match=r"device 'cuda' is not available.*neurarust\[cuda\]"):
        nr.device("cuda")
    assert nr.device("cpu") == "cpu"


@needs_torch
def test_dlpack_round_trip_with_torch_without_copies() -> None:
    import torch

    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    n = nr.from_dlpack(t)
    assert n.shape == (2, 3) and n.dtype is nr.float32
    t[0, 0] = 7.0
    assert n.numpy()[0, 0] == 7.0  # shared memory
    back = torch.from_dlpack(n)
    n.numpy()[1, 2] = -1.0
    assert back[1, 2].item() == -1.0
