"""Every .cu source compiles to PTX (skipped where nvcc is absent), and its entry points are
exactly the kernels its index contracts cover (a kernel without a contract fails)."""

from __future__ import annotations

import re
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
    entries = set(re.findall(r"\.entry\s+(\w+)\s*\(", out.read_text()))
    covered = {fn for c in CONTRACTS if c.source == src.name for fn in c.functions}
    assert covered, f"{src.name} has no index contract"
    assert entries == covered, (f"kernels without a contract: {sorted(entries - covered)}; "
                                f"contract functions missing: {sorted(covered - entries)}")
