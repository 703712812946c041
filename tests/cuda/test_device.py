"""CPU use never needs pycuda; without it or a GPU, CUDA reports unavailable clearly."""

from __future__ import annotations

import subprocess
import sys

import pytest

import neurarust as nr
from neurarust.kernels import cuda as kcuda


def test_is_available_false_without_pycuda_or_gpu() -> None:
    if kcuda.is_available():  # pragma: no cover - GPU machine
        pytest.skip("a usable CUDA device is present")
    assert nr.cuda.is_available() is False
    assert nr.cuda.device_count() == 0


def test_device_cuda_gives_clear_error_without_gpu_or_emulator() -> None:
    if kcuda.is_available():  # pragma: no cover - GPU machine or emulator
        pytest.skip("a usable CUDA device (or the emulator) is present")
    with pytest.raises(RuntimeError, match=r"device 'cuda' is not available.*neurarust\[cuda\]"):
        nr.device("cuda")


def test_importing_neurarust_imports_neither_pycuda_nor_z3() -> None:
    code = ("import sys, neurarust as nr; nr.cuda.is_available(); "
            "print('pycuda' in sys.modules, 'z3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_require_pycuda_names_the_extra() -> None:
    if kcuda.is_available():  # pragma: no cover - GPU machine
        pytest.skip("a usable CUDA device is present")
    with pytest.raises(RuntimeError, match=r"pip install neurarust\[cuda\]"):
        kcuda.require_pycuda()


def test_sources_ship_as_package_data() -> None:
    names = {p.name for p in kcuda.sources()}
    assert {"elementwise.cu", "gather.cu", "rowsum.cu", "softmax.cu", "unary.cu"} <= names
    contract_sources = {c.source for c in __import__(
        "neurarust.kernels.cuda.contracts", fromlist=["CONTRACTS"]).CONTRACTS}
    assert contract_sources == names  # every source has a contract, every contract a source
