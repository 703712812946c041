"""``onnx.checker.check_model(full_check=True)`` run where a hostile file cannot hurt us.

onnx's checker and shape inference are C++ that is not hardened against hostile files: the
fuzz campaign (``bench/fuzz_onnx.py``) found a segfault (``LayerNormalization`` with
``axis=2**63-1``) and a failed ``std::vector`` bounds assertion (a ``Split`` with
``num_outputs=4`` and five outputs), each of which aborts the whole process. So on POSIX the
checker runs in a helper process (started once, on first use, and reused: about a
millisecond per small model instead of the tens a fork costs in a big process): a crash, or a
check longer than ``max_check_seconds``, ends only the helper, is reported as a rejection
naming the signal, and the next load starts a fresh helper. Elsewhere it runs in-process.
"""

from __future__ import annotations

import atexit
import os
import select
import signal
import struct
import subprocess
import sys
import threading
from typing import Any

__all__ = ["check"]

_SERVER = r"""
import struct, sys
import onnx
inp, out = sys.stdin.buffer, sys.stdout.buffer
while True:
    head = inp.read(8)
    if len(head) < 8:
        break
    data = inp.read(struct.unpack("<Q", head)[0])
    try:
        m = onnx.ModelProto()
        m.ParseFromString(data)
        onnx.checker.check_model(m, full_check=True)
        answer = b"ok"
    except Exception as err:
        answer = b"no" + (" ".join(str(err).split())[:400] or type(err).__name__).encode()
    out.write(struct.pack("<Q", len(answer)) + answer)
    out.flush()
"""


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:400] or type(err).__name__


def _in_process(model: Any) -> str | None:
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as err:  # noqa: BLE001 - the checker's own classes vary by version
        return _one_line(err)
    return None


class _Helper:
    """The checker process of this (parent) process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def _read(self, n: int, deadline: float) -> bytes | bool:
        """``n`` bytes of the answer; False at EOF (the helper ended), True past
        ``deadline``."""
        import time

        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        chunks: list[bytes] = []
        while n > 0:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return True
            chunk = os.read(fd, n)
            if not chunk:
                return False
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def ask(self, data: bytes, seconds: float) -> tuple[str | None, bool]:
        """(verdict, helper still usable)."""
        import time

        assert self.proc.stdin is not None
        deadline = time.monotonic() + seconds
        try:
            self.proc.stdin.write(struct.pack("<Q", len(data)) + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it died; the read below sees EOF and the exit status says why
        head = self._read(8, deadline)
        body = self._read(struct.unpack("<Q", head)[0], deadline) \
            if isinstance(head, bytes) else head
        if isinstance(body, bytes):
            return (None if body == b"ok" else body[2:].decode("utf-8", "replace")), True
        if body:  # no answer in time
            self.stop()
            return f"the ONNX checker did not finish within max_check_seconds={seconds}", False
        code = self.proc.wait()  # it closed its output: it is ending
        if code < 0:
            return f"the ONNX checker crashed on this file ({signal.Signals(-code).name})", False
        return f"the ONNX checker ended without an answer (exit status {code})", False


_helper: _Helper | None = None
_lock = threading.Lock()


def _stop_helper() -> None:
    if _helper is not None and _helper.pid == os.getpid():
        _helper.stop()


atexit.register(_stop_helper)


def check(model: Any, seconds: float) -> str | None:
    """None when onnx's full checker accepts ``model``, else its reason as one line."""
    global _helper
    if os.name != "posix":
        return _in_process(model)
    data = model.SerializeToString()
    with _lock:
        if _helper is None or _helper.pid != os.getpid() or _helper.proc.poll() is not None:
            _helper = _Helper()  # first use, a forked child of ours, or after a crash
        try:
            verdict, usable = _helper.ask(data, seconds)
        except BaseException:  # interrupted mid-answer: the stream is out of step
            _helper.stop()
            _helper = None
            raise
        if not usable:
            _helper = None
    return verdict
