"""``nr.set_default_device`` / ``nr.get_default_device``, as ``torch.set_default_device``:
creation functions without ``device=`` use the default device, ``*_like`` keep their input's
device, ``from_numpy`` stays on the CPU, and nn modules built afterwards hold their
parameters there. The cuda cases run on the emulator (``NEURARUST_CUDA_EMULATE=1``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import numpy as np
import pytest

import neurarust as nr
from neurarust.kernels.cuda import backend, driver
from neurarust.kernels.cuda.array import DeviceArray

CREATORS = {
    "tensor": lambda: nr.tensor([1.0, 2.0]),
    "as_tensor": lambda: nr.as_tensor([1.0, 2.0]),
    "as_tensor_ndarray": lambda: nr.as_tensor(np.arange(3.0)),
    "zeros": lambda: nr.zeros(2, 3),
    "ones": lambda: nr.ones(2),
    "empty": lambda: nr.empty(4),
    "full": lambda: nr.full((2,), 7.0),
    "rand": lambda: nr.rand(3),
    "randn": lambda: nr.randn(3),
    "randint": lambda: nr.randint(0, 5, (3,)),
    "randperm": lambda: nr.randperm(4),
    "arange": lambda: nr.arange(5),
    "linspace": lambda: nr.linspace(0.0, 1.0, 5),
    "eye": lambda: nr.eye(3),
}


@pytest.fixture(autouse=True)
def restore_default() -> Iterator[None]:
    previous = nr.get_default_device()
    yield
    nr.set_default_device(previous)


@pytest.fixture
def emulated(monkeypatch: pytest.MonkeyPatch,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The cuda device on the emulator (or the GPU a cuda run already uses)."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not on PATH (the emulator compiles kernels with it)")
    if os.environ.get("NEURARUST_DEVICE") == "cuda":  # the suite already runs on cuda
        yield
        return
    monkeypatch.setenv(driver.EMULATE_ENV, "1")
    monkeypatch.setattr(driver, "CACHE_DIR", tmp_path_factory.getbasetemp() / "nr-cuda-cache")
    backend.unload()
    backend.load()
    yield
    nr.set_default_device(None)
    backend.unload()


@pytest.mark.cpu_only("checks that the default device is the CPU")
def test_the_default_is_the_cpu() -> None:
    assert nr.get_default_device() == "cpu"
    assert all(make().device == "cpu" for make in CREATORS.values())


def test_set_and_get_normalise_and_none_restores_the_cpu() -> None:
    nr.set_default_device("cpu")
    assert nr.get_default_device() is nr.device("cpu")
    nr.set_default_device(nr.device("cpu"))
    assert nr.get_default_device() == "cpu"
    nr.set_default_device(None)
    assert nr.get_default_device() == "cpu"
    with pytest.raises(ValueError, match="unknown device type"):
        nr.set_default_device("tpu")
    with pytest.raises(TypeError, match="expected a device"):
        nr.set_default_device(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(CREATORS))
def test_creation_functions_use_the_default_device(emulated: None, name: str) -> None:
    nr.set_default_device("cuda")
    t = CREATORS[name]()
    assert t.device == "cuda" and isinstance(t._data, DeviceArray)
    nr.set_default_device("cpu")
    assert CREATORS[name]().device == "cpu"


def test_values_are_those_of_the_cpu(emulated: None) -> None:
    """The same seed draws the same numbers on either default device."""
    nr.set_default_device("cpu")
    nr.manual_seed(3)
    on_cpu = [nr.rand(4).tolist(), nr.randn(2, 2).tolist(), nr.arange(0, 1, 0.25).tolist()]
    nr.set_default_device("cuda")
    nr.manual_seed(3)
    on_cuda = [nr.rand(4).tolist(), nr.randn(2, 2).tolist(), nr.arange(0, 1, 0.25).tolist()]
    assert on_cpu == on_cuda


def test_explicit_device_wins_and_like_functions_keep_the_input_device(emulated: None) -> None:
    nr.set_default_device("cuda")
    assert nr.zeros(2, device="cpu").device == "cpu"
    host = nr.ones(3, device="cpu")
    for like in (nr.zeros_like, nr.ones_like, nr.empty_like, nr.rand_like, nr.randn_like):
        assert like(host).device == "cpu"
    assert nr.full_like(host, 2.0).device == "cpu"
    assert nr.randint_like(host, 0, 3).device == "cpu"
    nr.set_default_device("cpu")
    dev = nr.ones(3, device="cuda")
    assert nr.zeros_like(dev).device == "cuda" and nr.full_like(dev, 1.0).device == "cuda"
    assert nr.as_tensor([1.0], device="cuda").device == "cuda"
    assert nr.as_tensor(np.zeros(2), device="cuda").device == "cuda"


def test_from_numpy_stays_on_the_cpu_and_shares_memory(emulated: None) -> None:
    nr.set_default_device("cuda")
    a = np.arange(3.0)
    t = nr.from_numpy(a)
    assert t.device == "cpu" and t._data is a
    assert nr.as_tensor(a).device == "cuda"  # as torch.as_tensor under a default device


def test_nn_modules_built_after_set_hold_parameters_there(emulated: None) -> None:
    nr.set_default_device("cuda")
    nr.manual_seed(0)
    net = nr.nn.Sequential(nr.nn.Linear(3, 4), nr.nn.BatchNorm1d(4), nr.nn.ReLU(),
                           nr.nn.Linear(4, 2))
    assert all(p.device == "cuda" for p in net.parameters())
    assert all(b.device == "cuda" for b in net.buffers())
    nr.set_default_device("cpu")
    nr.manual_seed(0)
    ref = nr.nn.Sequential(nr.nn.Linear(3, 4), nr.nn.BatchNorm1d(4), nr.nn.ReLU(),
                           nr.nn.Linear(4, 2))
    for p, q in zip(net.parameters(), ref.parameters()):  # nn.init draws the same values
        assert p.cpu().tolist() == q.tolist()
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    out = net(nr.tensor(x, device="cuda"))
    out.sum().backward()
    expected = ref(nr.tensor(x))
    expected.sum().backward()
    assert out.device == "cuda"
    np.testing.assert_allclose(out.cpu().detach().numpy(), expected.detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    for p, q in zip(net.parameters(), ref.parameters()):
        assert p.grad is not None and q.grad is not None and p.grad.device == "cuda"
        np.testing.assert_allclose(p.grad.cpu().numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_device_numpy_raises_outside_the_test_harness(emulated: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Only tests/conftest.py's cuda mode turns numpy() of a device tensor into a copy."""
    from neurarust.tensor import HOST_NUMPY_ENV

    monkeypatch.delenv(HOST_NUMPY_ENV, raising=False)
    t = nr.ones(2, device="cuda")
    with pytest.raises(TypeError, match=r"tensor.cpu\(\)"):
        t.numpy()
    with pytest.raises(TypeError, match=r"tensor.cpu\(\)"):
        np.asarray(t)
    monkeypatch.setenv(HOST_NUMPY_ENV, "1")
    copy = t.numpy()
    assert isinstance(copy, np.ndarray) and copy.tolist() == [1.0, 1.0]
    np.testing.assert_array_equal(np.asarray(t), [1.0, 1.0])


def test_device_views_do_not_alias_gradients(emulated: None) -> None:
    """A reshape of a device array is a view (flags.owndata False), so autograd copies it
    before keeping it as a leaf's grad: two leaves fed the same gradient get two buffers."""
    a = nr.zeros(2, 3, device="cuda", requires_grad=True)
    b = nr.zeros(6, device="cuda", requires_grad=True)
    g = nr.arange(6.0, device="cuda")
    (a.reshape(6) * g + b * g).sum().backward()
    assert a.grad is not None and b.grad is not None
    assert a.grad._data.buffer is not b.grad._data.buffer
    (a.reshape(6) * g + b * g).sum().backward()
    assert a.grad.cpu().reshape(6).tolist() == [2.0 * v for v in range(6)]
    assert b.grad.cpu().tolist() == [2.0 * v for v in range(6)]
