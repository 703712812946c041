"""Every .cu source compiles to PTX (skipped where nvcc is absent)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from neurarust.kernels.cuda import sources
from neurarust.kernels.cuda.contracts import CONTRACTS

NVCC = shutil.which("nvcc")


@pytest.mark.skipif(NVCC is None, reason="nvcc not on PATH")
@pytest.mark.parametrize("src", sources(), ids=lambda p: p.name)
def test_compiles_to_ptx(src: Path, tmp_path: Path) -> None:
    assert NVCC is not None
    out = tmp_path / (src.stem + ".ptx")
    proc = subprocess.run([NVCC, "--ptx", "-o", str(out), str(src)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    ptx = out.read_text()
    (contract,) = [c for c in CONTRACTS if c.source == src.name]
    for fn in contract.functions:  # every entry point the contract covers is in the PTX
        assert f".entry {fn}(" in ptx
