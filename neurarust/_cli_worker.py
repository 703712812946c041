"""Run one command of ``neurarust`` (verify / export of a user's model or ONNX file) in a
child process, so that nothing the model does can become the command's exit code.

The model file is executed as trusted code, like ``python model.py``; the isolation is not a
sandbox but a guarantee about the *answer*: the parent owns the exit code. The child (this
module run with ``python -c``) reads one JSON request on stdin, calls the named command
function of :mod:`neurarust.cli` with its Python-level stdout/stderr captured, and writes one
JSON result (carrying the request's random token) on the file descriptor that was its stdout;
its own fd 1 is pointed at its stderr first, so what the model writes to fd 1 cannot pose as
the result. The parent accepts only a well-formed result with the token, from a child that
then exited with status 0; anything else (the model called ``sys.exit``/``os._exit``, raised
at import, crashed with a signal, printed garbage) is exit 2 with one line naming the model
file and line where known. ``--timeout`` is a wall-clock limit on the whole child: at the
deadline (plus a short grace for a cooperative "unknown" report to arrive) the child's
process group is killed and the answer is 3.

Start-up cost: one more interpreter and ``import neurarust`` (about 0.3-0.4 s).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import sysconfig
import time
import traceback
from dataclasses import dataclass
from typing import Any

__all__ = ["Outcome", "describe_exception", "one_line", "run_isolated", "serve"]

# Seconds past the deadline the parent waits before killing the child: enough for a command
# that stopped cooperatively at the deadline to send its "unknown" report.
GRACE_S = 0.5
# The longest one-line message printed (a long exception text is cut, not wrapped).
MAX_LINE = 600
# The command functions of neurarust.cli a request may name.
COMMANDS = frozenset({"_verify", "_export", "_export_certified", "_verify_certificate",
                      "_verify_vnnlib"})
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Python's own library and installed packages: frames there locate no error of the user's.
_LIBRARY = tuple(sorted({p for k in ("stdlib", "platstdlib", "purelib", "platlib")
                         if (p := sysconfig.get_paths().get(k))}))


@dataclass(frozen=True)
class Outcome:
    """What the parent prints and returns: ``code`` (0-3), the command's stdout and stderr
    text, and, with ``--debug``, the child's traceback and raw output (``debug``)."""

    code: int
    out: str = ""
    err: str = ""
    debug: str = ""


def one_line(text: str) -> str:
    """``text`` as one line: whitespace runs (newlines included) become single spaces, and
    anything past :data:`MAX_LINE` characters is cut with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= MAX_LINE else flat[:MAX_LINE - 3] + "..."


# -- the parent ----------------------------------------------------------------------------------
def run_isolated(func: str, kwargs: dict[str, Any], *, prog: str, timeout: float | None,
                 subject: str, user_file: str | None = None, debug: bool = False) -> Outcome:
    """Call ``neurarust.cli.<func>(**kwargs)`` in a child process and return its outcome.

    ``timeout`` (seconds, wall clock, from now; ``None`` for no limit) covers everything the
    child does; ``kwargs`` may use ``deadline`` (added here, a ``time.monotonic()`` value, the
    same clock in every process of the machine) to stop cooperatively. ``prog`` starts every
    message (``neurarust verify``); ``subject`` names the
    input in messages (``model.py`` or ``net.onnx``); ``user_file`` is the model file whose
    frames locate an error (file:line)."""
    if func not in COMMANDS:
        raise ValueError(f"unknown worker command {func!r}")
    deadline = None if timeout is None else time.monotonic() + timeout
    token = secrets.token_hex(16)
    request = json.dumps({"token": token, "func": func, "user_file": user_file, "prog": prog,
                          "kwargs": {**kwargs, "deadline": deadline}})
    root = os.path.dirname(_PACKAGE_DIR)
    boot = (f"import sys; sys.path.insert(0, {root!r}); import neurarust._cli_worker as w; "
            f"sys.path.remove({root!r}); w.serve()")
    popen_kw: dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {}
    proc = subprocess.Popen([sys.executable, "-c", boot], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen_kw)
    wait = None if deadline is None else max(0.0, deadline - time.monotonic()) + GRACE_S
    try:
        raw_out, raw_err = proc.communicate(request.encode(), timeout=wait)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return Outcome(3, err=f"{prog}: unknown: timed out after {_seconds(timeout)} s (the "
                              f"worker running {subject} was stopped)\n")
    except KeyboardInterrupt:
        _kill(proc)
        return Outcome(3, err=f"{prog}: unknown: interrupted\n")
    except BaseException:
        _kill(proc)
        raise
    return _judge(proc.returncode, raw_out, raw_err, token, prog, subject, user_file, debug)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child and its process group (workers it started), then reap it."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    try:  # a grandchild that left the group may hold the pipes: do not wait on them long
        proc.communicate(timeout=2.0)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        proc.wait()


def _seconds(s: float | None) -> str:
    return "?" if s is None else f"{s:g}"


def _judge(returncode: int, raw_out: bytes, raw_err: bytes, token: str, prog: str,
           subject: str, user_file: str | None, debug: bool) -> Outcome:
    """The outcome of a finished child: its result when well formed, else exit 2."""
    raw = raw_err.decode(errors="replace")
    extra = f"--- the worker's own output ---\n{raw}" if debug and raw.strip() else ""
    result = _parse_result(raw_out, token)
    if result is not None and returncode == 0:
        dbg = "\n".join(s for s in (result.get("traceback", ""), extra) if s) if debug else ""
        return Outcome(result["code"], result["out"], result["err"], dbg)
    if returncode < 0:  # killed by a signal: a crash inside the model or a library
        try:
            sig = signal.Signals(-returncode).name
        except ValueError:
            sig = f"signal {-returncode}"
        where = _crash_site(raw, user_file)
        hint = ": out of memory?" if sig == "SIGKILL" else ""
        return Outcome(2, err=_line(prog, f"error: {where or subject}: the process crashed "
                                          f"({sig}{hint}) while running the model"),
                       debug=extra)
    if result is None:
        what = (f"exited (status {returncode})" if raw_out.strip() == b""
                else f"returned no valid result (status {returncode})")
        return Outcome(2, err=_line(prog, f"error: {subject}: the worker {what} before a verdict; "
                                       "the model file may call os._exit or end the process"),
                       debug=extra)
    return Outcome(2, err=_line(prog, f"error: {subject}: the worker exited with status "
                                     f"{returncode} after its result (an exit handler?)"),
                   debug=extra)


def _line(prog: str, text: str) -> str:
    return f"{prog}: {one_line(text)}\n"


def _parse_result(raw_out: bytes, token: str) -> dict[str, Any] | None:
    """The child's result if ``raw_out`` is exactly one with our token, else ``None``."""
    try:
        data = json.loads(raw_out.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("token") != token:
        return None
    if data.get("code") not in (0, 1, 2, 3) or type(data.get("code")) is not int:
        return None
    if not all(isinstance(data.get(k), str) for k in ("out", "err", "traceback")):
        return None
    return data


def _crash_site(raw_err: str, user_file: str | None) -> str | None:
    """``model.py:LINE`` from a faulthandler dump (most recent call first), if the model file
    is on the crashed thread's stack."""
    if user_file is None:
        return None
    target = os.path.realpath(user_file)
    for line in raw_err.splitlines():
        text = line.strip()
        if not text.startswith('File "'):
            continue
        name, _, rest = text[6:].partition('", line ')
        if os.path.realpath(name) == target:
            return f"{os.path.basename(user_file)}:{rest.split()[0]}"
    return None


# -- locating an exception -------------------------------------------------------------------
def describe_exception(err: BaseException, user_file: str | None) -> str:
    """One line for an exception that escaped a command: ``model.py:LINE: Type: message`` when
    the model file (or, failing that, another file outside neurarust and Python's own library)
    is on its traceback, ``internal error: Type: message (at file:line)`` otherwise."""
    kind = type(err).__name__
    if isinstance(err, SystemExit):
        msg = f"the model ended the process with sys.exit({err.code!r}) (SystemExit)"
    elif isinstance(err, KeyboardInterrupt):
        msg = "KeyboardInterrupt raised while running the model"
    elif isinstance(err, SyntaxError):
        msg = f"SyntaxError: {err.msg}"
    else:
        msg = f"{kind}: {err}" if str(err) else kind
    where = _user_site(err, user_file)
    if where is not None:
        return one_line(f"{where}: {msg}")
    if isinstance(err, OSError | MemoryError | RecursionError):
        return one_line(msg)
    frames = traceback.extract_tb(err.__traceback__)
    at = f" (at {_short(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    return one_line(f"internal error: {msg}{at}")


def _user_site(err: BaseException, user_file: str | None) -> str | None:
    if isinstance(err, SyntaxError) and err.filename and err.lineno:
        return f"{os.path.basename(err.filename)}:{err.lineno}"
    frames = traceback.extract_tb(err.__traceback__)
    if user_file is not None:
        target = os.path.realpath(user_file)
        mine = [f for f in frames if os.path.realpath(f.filename) == target]
        if mine:
            return f"{os.path.basename(user_file)}:{mine[-1].lineno}"
    theirs = [f for f in frames if not f.filename.startswith((_PACKAGE_DIR, *_LIBRARY, "<"))]
    if theirs:
        return f"{os.path.basename(theirs[-1].filename)}:{theirs[-1].lineno}"
    return None


def _short(path: str) -> str:
    root = os.path.dirname(_PACKAGE_DIR)
    return os.path.relpath(path, root) if path.startswith(_PACKAGE_DIR) else path


# -- the child -----------------------------------------------------------------------------------
def serve() -> None:
    """The child's whole life: read the request, run the command, write the result, and end
    with ``os._exit(0)`` (no exit handler or thread of the model's may change the answer)."""
    import contextlib
    import faulthandler
    import io

    result_fd = os.dup(1)
    os.dup2(2, 1)  # the model's raw writes to fd 1 go to stderr, never into the result
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    faulthandler.enable(file=sys.stderr, all_threads=False)
    request = json.loads(sys.stdin.read())
    _start_watchdog(request["kwargs"].get("deadline"))
    out, err = io.StringIO(), io.StringIO()
    result: dict[str, Any] = {"token": request["token"], "traceback": ""}
    try:
        from . import cli

        func = request["func"]
        if func not in COMMANDS:
            raise ValueError(f"unknown worker command {func!r}")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = getattr(cli, func)(**request["kwargs"])
        result["code"] = int(code)
    except BaseException as exc:  # noqa: BLE001  (SystemExit and KeyboardInterrupt included)
        result["code"] = 2
        err = io.StringIO()  # an error path prints its one line only
        err.write(_line(str(request.get("prog")),
                        "error: " + describe_exception(exc, request.get("user_file"))))
        result["traceback"] = "".join(traceback.format_exception(exc))
    result["out"], result["err"] = out.getvalue(), err.getvalue()
    data = json.dumps(result).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(result_fd, view):]
    os._exit(0)



def _start_watchdog(deadline: float | None) -> None:
    """End this worker (and its process group) when the parent is gone (killed, or ended by
    a signal before it could stop us) or well past the deadline: a worker must never outlive
    the command that started it. A daemon thread, polling twice a second."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            late = deadline is not None and time.monotonic() > deadline + 4 * GRACE_S + 2.0
            if os.getppid() != parent or late:
                if os.name == "posix" and os.getpgrp() == os.getpid():
                    os.killpg(os.getpid(), signal.SIGKILL)
                os._exit(3)

    threading.Thread(target=watch, name="neurarust-cli-watchdog", daemon=True).start()
