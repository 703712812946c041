"""Requests no array can hold, or no machine can give, fail as PyTorch's do (RuntimeError)
with words naming the op, the dtype and shape, and the size asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import neurarust as nr
from neurarust import _sizes

torch = pytest.importorskip("torch")

EB = r"\(73\.8 EB\)"


@pytest.mark.parametrize("make,torch_make,message", [
    (lambda: nr.zeros(2**32, 2**32), lambda: torch.zeros(2**32, 2**32),
     rf"^zeros: cannot allocate f32\[4294967296, 4294967296\] {EB}"),
    (lambda: nr.ones((2**32, 2**32)), lambda: torch.ones((2**32, 2**32)),
     rf"^ones: cannot allocate f32\[4294967296, 4294967296\] {EB}"),
    (lambda: nr.empty(2**32, 2**32), lambda: torch.empty(2**32, 2**32),
     rf"^empty: cannot allocate f32\[4294967296, 4294967296\] {EB}"),
    (lambda: nr.full((2**32, 2**32), 1.5), lambda: torch.full((2**32, 2**32), 1.5),
     rf"^full: cannot allocate f32\[4294967296, 4294967296\] {EB}"),
    (lambda: nr.randn(2**32, 2**32), lambda: torch.randn(2**32, 2**32),
     rf"^randn: cannot allocate f32\[4294967296, 4294967296\] {EB}"),
    (lambda: nr.rand(2**32, 2**32, dtype=nr.float64), lambda: torch.rand(2**32, 2**32),
     r"^rand: cannot allocate f64\[4294967296, 4294967296\] \(147\.6 EB\)"),
    (lambda: nr.zeros(2**62, 2**62, dtype=nr.int64), lambda: torch.zeros(2**62, 2**62),
     r"^zeros: cannot allocate i64\[4611686018427387904, 4611686018427387904\]"),
    (lambda: nr.ones(1, 1).expand(2**40, 2**40), lambda: torch.ones(1, 1).expand(2**40, 2**40),
     (r"^expand: the result f32\[1099511627776, 1099511627776\] would have "
      r"1208925819614629174706176 elements, more than the 9223372036854775807")),
])
def test_impossible_sizes_raise_runtime_error_naming_op_shape_and_size(
        make: Callable[[], Any], torch_make: Callable[[], Any], message: str) -> None:
    with pytest.raises(Exception) as theirs:
        torch_make()
    with pytest.raises(RuntimeError, match=message) as ours:
        make()
    assert type(theirs.value) is type(ours.value) is RuntimeError


def test_out_of_memory_names_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    def no_memory(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("Unable to allocate 4.00 GiB")

    monkeypatch.setattr(np, "zeros", no_memory)
    with pytest.raises(RuntimeError, match=r"^zeros: cannot allocate f32\[1024, 1048576\] "
                                           r"\(4\.3 GB\): out of memory$"):
        nr.zeros(1024, 2**20)


def test_sizes_that_fit_are_unaffected() -> None:
    assert nr.ones(1, 1).expand(2**30, 2**30).shape == (2**30, 2**30)  # a view: no memory
    with pytest.raises(RuntimeError, match=r"^expand: the result f32\[2147483648, 2147483648\] "
                                           r"would span 18\.4 EB"):
        nr.ones(1, 1).expand(2**31, 2**31)  # torch allows it; numpy's views can't
    assert nr.zeros(0, 2**60).shape == (0, 2**60)
    with pytest.raises(RuntimeError, match=r"^zeros: cannot allocate f32\[0, 4611686018427387904\]: "
                                           r"a dim of 4611686018427387904 elements of 4 bytes"):
        nr.zeros(0, 2**62)
    assert _sizes.human_bytes(999) == "999 B" and _sizes.human_bytes(1500) == "1.5 kB"
