"""The ``neurarust`` command's exit codes, run for real (a subprocess of the entry point).

Documented (docs/verify.md, "Exit codes"): 0 proven / holds / written, 1 refuted / violated
with a checked counterexample (or, for ``export``, not exportable / not certified), 2 usage or
input error, 3 unknown or timed out. Whatever the model file does (exit, crash, hang, raise),
the answer is one of those, chosen by the command: a model that calls ``sys.exit(0)`` must not
read as "proven". Every error path prints one line on stderr and no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cpu_only("the command line runs the CPU-side verifier and exporter")

GOOD = """\
import neurarust as nr


class Net(nr.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nr.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x).relu()
"""

# name -> source of a model file whose target is `Net`; the faulty line is line 3 or 5
MODELS = {
    "good": GOOD,
    "syntax": "import neurarust as nr\n\nclass Net(nr.nn.Module:\n    pass\n",
    "raises": "import neurarust as nr\n\nraise RuntimeError('boom at import')\n",
    "exit0": "import sys\n\nsys.exit(0)\n",
    "exit1": "import sys\n\nsys.exit(1)\n",
    "systemexit": "import sys\n\nraise SystemExit\n",
    "os_exit0": "import os\n\nos._exit(0)\n",
    "interrupt": "import sys\n\nraise KeyboardInterrupt\n",
    "segfault": "import ctypes\n\nctypes.string_at(0)\n",
    "sleep_import": "import time\n\ntime.sleep(120)\n",
    "forward_exit0": "import sys\nimport neurarust as nr\nclass Net(nr.nn.Module):\n"
                     "    def forward(self, x):\n        sys.exit(0)\n",
    "forward_sleep": "import time\nimport neurarust as nr\nclass Net(nr.nn.Module):\n"
                     "    def forward(self, x):\n        time.sleep(120)\n        return x\n",
    "chatty": "import os\n\nos.write(1, b'{\"not\": \"a result\"}\\n')\n" + GOOD,
}

PROP = """\
(declare-const X_0 Real)
(declare-const Y_0 Real)
(assert (>= X_0 0))
(assert (<= X_0 1))
(assert (>= Y_0 2))
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    for name, src in MODELS.items():
        (d / f"{name}.py").write_text(src)
    (d / "p.vnnlib").write_text(PROP)
    (d / "corrupt.onnx").write_bytes(b"not a protobuf at all")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    # a graph the importer reads but onnxruntime refuses (an unreleased opset)
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1]) for n in "xy"]
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", io[:1], io[1:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 10000)])
    model.ir_version = 8
    onnx.save(model, str(d / "ort_fails.onnx"))
    return d


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command (``python -m neurarust.cli``), with this process's environment."""
    return subprocess.run([sys.executable, "-m", "neurarust.cli", *args], cwd=cwd, check=False,
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))


X = ["--input", "x: f32[B, 8]"]

# (case id, argv, expected exit code, words the stderr line must contain)
ERRORS: list[tuple[str, list[str], int, list[str]]] = [
    ("syntax error", ["verify", "syntax.py:Net", *X], 2, ["syntax.py:3", "SyntaxError"]),
    ("raise at import", ["verify", "raises.py:Net", *X], 2, ["raises.py:3", "boom at import"]),
    ("sys.exit(0)", ["verify", "exit0.py:Net", *X], 2, ["exit0.py:3", "SystemExit"]),
    ("sys.exit(1)", ["verify", "exit1.py:Net", *X], 2, ["exit1.py:3", "SystemExit"]),
    ("raise SystemExit", ["verify", "systemexit.py:Net", *X], 2, ["systemexit.py:3"]),
    ("os._exit(0)", ["verify", "os_exit0.py:Net", *X], 2, ["os_exit0.py", "exited"]),
    ("KeyboardInterrupt", ["verify", "interrupt.py:Net", *X], 2,
     ["interrupt.py:3", "KeyboardInterrupt"]),
    ("segfault", ["verify", "segfault.py:Net", *X], 2, ["segfault.py:3", "SIGSEGV"]),
    ("sys.exit(0) in forward", ["verify", "forward_exit0.py:Net", *X], 2,
     ["forward_exit0.py:5", "SystemExit"]),
    ("sys.exit(0) in export", ["export", "exit0.py:Net", *X, "-o", "net.onnx"], 2,
     ["exit0.py:3"]),
    ("sleep at import", ["verify", "sleep_import.py:Net", *X, "--timeout", "1"], 3,
     ["timed out after 1 s"]),
    ("sleep in forward", ["verify", "forward_sleep.py:Net", *X, "--timeout", "1"], 3,
     ["timed out after 1 s"]),
    ("sleep in export", ["export", "sleep_import.py:Net", *X, "-o", "n.onnx", "--timeout",
                         "1"], 3, ["timed out after 1 s"]),
    ("corrupt onnx, vnnlib", ["verify", "corrupt.onnx", "--vnnlib", "p.vnnlib"], 2,
     ["corrupt.onnx"]),
    ("corrupt onnx, certificate", ["verify", "corrupt.onnx"], 2, ["corrupt.onnx"]),
    ("onnxruntime fails", ["verify", "ort_fails.onnx", "--vnnlib", "p.vnnlib"], 2,
     ["ort_fails.onnx"]),
    ("-o into a missing folder", ["export", "good.py:Net", *X, "-o", "nowhere/net.onnx"], 2,
     ["nowhere", "does not exist"]),
    ("--opset 0", ["export", "good.py:Net", *X, "-o", "net.onnx", "--opset", "0"], 2,
     ["--opset", "0"]),
    ("--opset 10000", ["export", "good.py:Net", *X, "-o", "net.onnx", "--opset", "10000"], 2,
     ["--opset", "10000"]),
    ("--timeout nan", ["verify", "good.py:Net", *X, "--timeout", "nan"], 2, ["--timeout"]),
    ("--timeout -1", ["export", "good.py:Net", *X, "-o", "n.onnx", "--timeout", "-1"], 2,
     ["--timeout"]),
    ("--max-paths 0", ["verify", "good.py:Net", *X, "--max-paths", "0"], 2, ["--max-paths"]),
    ("no target", ["verify", *X], 2, ["TARGET"]),
    ("--vnnlib on a .py", ["verify", "good.py:Net", "--vnnlib", "p.vnnlib"], 2, ["ONNX"]),
    ("unknown option", ["verify", "good.py:Net", *X, "--frobnicate"], 2, ["--frobnicate"]),
    ("no such file", ["verify", "missing.py:Net", *X], 2, ["missing.py"]),
    ("no such name", ["verify", "good.py:Missing", *X], 2, ["Missing"]),
    ("bad input spec", ["verify", "good.py:Net", "--input", "x f32[B]"], 2, ["--input"]),
]


def _check(code: int, out: str, err: str, expected: int, words: list[str]) -> None:
    lines = err.strip().splitlines()
    assert code == expected, (code, err, out)
    assert "Traceback" not in err + out
    if expected == 3 and not lines:  # the verifier saw the deadline first: its own report
        assert "timed out" in out and "verdict: unknown" in out, out
        return
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert out == ""


@pytest.mark.parametrize("argv,code,words", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_error_paths_give_one_line_and_the_documented_code(
        files: Path, argv: list[str], code: int, words: list[str],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``main`` in this process; the model runs in its real worker process."""
    from neurarust.cli import main

    monkeypatch.chdir(files)
    try:
        got = main(argv)
    except SystemExit as stop:  # argparse's usage errors
        got = stop.code if isinstance(stop.code, int) else -1
    captured = capsys.readouterr()
    _check(got, captured.out, captured.err, code, words)


# through the installed command itself (a fresh interpreter), for the cases where the model
# ends or crashes the process and the one where it never returns
END_TO_END = ["sys.exit(0)", "os._exit(0)", "segfault", "sleep at import", "unknown option"]


@pytest.mark.parametrize("case", END_TO_END)
def test_the_command_itself(files: Path, case: str) -> None:
    (argv, code, words), = [c[1:] for c in ERRORS if c[0] == case]
    r = run_cli(argv, files)
    _check(r.returncode, r.stdout, r.stderr, code, words)


def test_output_of_the_model_and_debug(files: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from neurarust.cli import main

    monkeypatch.chdir(files)
    # what the model writes to the process's own stdout cannot pose as the result
    assert main(["verify", "chatty.py:Net", *X]) == 0
    out = capsys.readouterr().out
    assert "verdict: proven" in out and "a result" not in out
    assert main(["verify", "good.py:Net", "--input", "x: f32[B, 9]"]) == 1
    assert "refuted" in capsys.readouterr().out
    # --debug adds the model's traceback; the exit code is the same
    assert main(["verify", "raises.py:Net", *X, "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "boom at import" in err.splitlines()[0]


def test_help_says_the_model_file_is_trusted_code(capsys: pytest.CaptureFixture[str]) -> None:
    from neurarust.cli import main

    for cmd in ("verify", "export"):
        with pytest.raises(SystemExit) as stop:
            main([cmd, "--help"])
        assert stop.value.code == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "executed as trusted code" in text and "3 unknown or timed out" in text


RESULT = b'{"token": "%s", "code": %s, "out": "", "err": "", "traceback": ""}'


@pytest.mark.parametrize("raw", [b"", b"garbage", RESULT % (b"other", b"0"), RESULT % (b"T", b"7"),
                                 RESULT % (b"T", b"true"), b'{"token": "T", "code": 0}'])
def test_a_worker_without_a_valid_result_is_an_input_error(raw: bytes) -> None:
    from neurarust._cli_worker import _judge

    outcome = _judge(0, raw, b"", "T", "neurarust verify", "m.py", "m.py", False)
    assert outcome.code == 2 and outcome.out == ""
    assert outcome.err.count("\n") == 1 and outcome.err.startswith("neurarust verify: error: m.py")
    # a valid result from a worker that then exits non-zero is not trusted either
    good = b'{"token": "T", "code": 0, "out": "proven", "err": "", "traceback": ""}'
    assert _judge(0, good, b"", "T", "p", "m.py", None, False).code == 0
    assert _judge(1, good, b"", "T", "p", "m.py", None, False).code == 2


def test_an_exception_from_inside_neurarust_is_an_internal_error() -> None:
    from neurarust._cli_worker import describe_exception
    from neurarust.trace import parse_spec

    with pytest.raises(Exception) as info:
        parse_spec(123)  # type: ignore[arg-type]
    err = info.value
    assert err.__traceback__ is not None
    err.__traceback__ = err.__traceback__.tb_next  # drop this test's own frame
    line = describe_exception(err, "model.py")
    assert line.startswith("internal error: ") and "(at neurarust/" in line and "\n" not in line


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_worker_does_not_outlive_the_command(tmp_path: Path) -> None:
    """The command killed outright (SIGKILL: no chance to stop its worker): the worker, stuck
    in the model, notices that its parent is gone and ends with its process group."""
    import signal
    import time

    pid_file = tmp_path / "pid"
    (tmp_path / "hang.py").write_text(
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(120)\n")
    cli = subprocess.Popen([sys.executable, "-m", "neurarust.cli", "export", "hang.py:Net",
                            *X, "-o", "n.onnx"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):  # the worker has imported the model
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.05)
        worker = int(pid_file.read_text())
    finally:
        cli.send_signal(signal.SIGKILL)
        cli.wait()

    def alive() -> bool:
        try:
            status = Path(f"/proc/{worker}/status").read_text()
        except OSError:
            return False
        return "State:\tZ" not in status

    for _ in range(200):
        if not alive():
            break
        time.sleep(0.05)
    if alive():  # do not leave it behind, then fail
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker outlived the command")
