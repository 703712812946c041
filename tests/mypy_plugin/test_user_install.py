"""What a user does: an editable install, then mypy with the plugin in a folder of their own.

``pip install -e .`` must install neurarust so that type checkers see it from any folder: a
plain ``.pth`` path (setuptools' static editable layout), not an import hook, which mypy and
Pyright do not follow (they would report ``Cannot find implementation or library stub for
module named "neurarust"``). The venv borrows the installed packages (``--system-site-packages``,
``--no-deps``, ``--no-build-isolation``), so the test needs no network.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("mypy")

ROOT = Path(__file__).resolve().parents[2]

MODEL = textwrap.dedent('''\
    import neurarust as nr
    from neurarust import Tensor, nn
    from neurarust.types import Float32


    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(784, 10)

        def forward(self, x: Float32[Tensor, "B 784"]) -> Float32[Tensor, "B 10"]:
            return self.fc(x)


    def predict(x: Float32[Tensor, "B 784"], w: Float32[Tensor, "128 10"]) -> None:
        x @ w
        nr.relu(x)
    ''')
PLANTED_LINE = 16


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False,
                          timeout=240)


def test_mypy_sees_an_editable_install_from_a_user_folder(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                 str(venv)], tmp_path, dict(os.environ))
    if made.returncode != 0:
        pytest.skip(f"cannot create a venv here: {made.stderr.strip()[-300:]}")
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # Only the venv decides what is importable: no PYTHONPATH pointing into the checkout.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    installed = _run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                      "--no-build-isolation", "--no-index", "-e", str(ROOT)], tmp_path, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    pth = list((venv / "lib").glob("python*/site-packages/__editable__.neurarust-*.pth"))
    assert pth and pth[0].read_text().strip() == str(ROOT), \
        "the editable install is not a plain .pth path (an import hook mypy cannot follow)"

    user = tmp_path / "user"
    user.mkdir()
    (user / "model.py").write_text(MODEL)
    (user / "mypy.ini").write_text("[mypy]\nplugins = neurarust_mypy\n")
    checked = _run([str(python), "-m", "mypy", "--cache-dir", str(tmp_path / "cache"),
                    "model.py"], user, env)
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, checked.stdout + checked.stderr
    assert errors[0].startswith(f"model.py:{PLANTED_LINE}: error: matmul: inner dimensions"), \
        errors[0]
