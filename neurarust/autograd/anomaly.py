"""Anomaly detection: name the first op whose forward output or backward gradient holds a NaN
or an infinity, the user's source line that called it, and its input ranges.

``with nr.autograd.detect_anomaly(): ...`` turns on two checks, each one flag test on the hot
path when off:

- the dispatcher calls :func:`check_forward` after every op (``_dispatch._finish``). In anomaly
  mode it records, for each autograd node, the source line (the first stack frame outside the
  neurarust package) that created it, and raises when the output holds a NaN, or an infinity
  that no input held (so a ``-inf`` attention mask passed along is not an anomaly, but an
  overflow is);
- each node calls :func:`check_backward` with the gradients it computed
  (``graph.Node.apply``), which raises naming the op and the forward line recorded for it.

The error is a :class:`AnomalyError` (a ``RuntimeError``). An op inside a backward formula that
produces a NaN is left to :func:`check_backward`, which names the forward op whose gradient it
was, not the internals of its formula.

Anomaly mode is global (all threads), as in PyTorch, and costs a stack walk per op while on.
"""

from __future__ import annotations

import linecache
import os
import sys
import threading
import weakref
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..ops.registry import OpDef
    from ..tensor import Tensor
    from .graph import Node

__all__ = [
    "AnomalyError", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled", "check_forward", "check_backward",
]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_GRAPH_FILE = os.path.join(_PACKAGE_DIR, "autograd", "graph.py")


class _State:
    """Read by the dispatcher and by Node.apply: ``if _anomaly.state.enabled: ...``."""

    __slots__ = ("enabled", "check_nan", "check_inf")

    def __init__(self) -> None:
        self.enabled = False
        self.check_nan = True
        self.check_inf = True


state = _State()
_lock = threading.Lock()
# Node -> where its forward ran (recorded only in anomaly mode; weak, so nodes die freely).
_node_sources: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


class AnomalyError(RuntimeError):
    """A NaN or infinity appeared in an op's output or gradient under anomaly mode."""


def is_anomaly_enabled() -> bool:
    """True inside :class:`detect_anomaly` (or after ``set_detect_anomaly(True)``)."""
    return state.enabled


def is_anomaly_check_nan_enabled() -> bool:
    return state.enabled and state.check_nan


class set_detect_anomaly:
    """Turn anomaly detection on or off; a call, or a context manager restoring the previous
    setting on exit (``torch.autograd.set_detect_anomaly``)."""

    def __init__(self, mode: bool, check_nan: bool = True, *, check_inf: bool = True) -> None:
        with _lock:
            self._prev = (state.enabled, state.check_nan, state.check_inf)
            state.enabled = bool(mode)
            state.check_nan = bool(check_nan)
            state.check_inf = bool(check_inf)

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        with _lock:
            state.enabled, state.check_nan, state.check_inf = self._prev


class detect_anomaly:
    """Context manager: inside it, an op whose output (forward) or gradient (backward)
    contains NaN or +-inf raises :class:`AnomalyError` naming the op, the source line that
    called it and the ranges of its inputs.

    Args:
        check_nan: check for NaN. Default: True.
        check_inf: check for infinities too (those an op creates; one passed along from an
            input, such as a ``-inf`` mask, is never reported). Default: True.

    Example:
        >>> x = nr.tensor([0.0])
        >>> with nr.autograd.detect_anomaly():  # doctest: +SKIP
        ...     y = x / x
        AnomalyError: detect_anomaly: div produced NaN in its forward output ...
    """

    def __init__(self, check_nan: bool = True, *, check_inf: bool = True) -> None:
        self.check_nan = check_nan
        self.check_inf = check_inf
        self._prev: list[tuple[bool, bool, bool]] = []

    def __enter__(self) -> None:
        with _lock:
            self._prev.append((state.enabled, state.check_nan, state.check_inf))
            state.enabled = True
            state.check_nan = self.check_nan
            state.check_inf = self.check_inf

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        with _lock:
            state.enabled, state.check_nan, state.check_inf = self._prev.pop()


# -- the hooks --------------------------------------------------------------------------------
def check_forward(op: OpDef, inputs: tuple[Any, ...], attrs: dict[str, Any], out: Tensor) -> None:
    """Called by the dispatcher after each op in anomaly mode: remember where the op's node
    was created, and raise if its output is not finite."""
    frame = sys._getframe(1)
    if out.grad_fn is not None:
        _node_sources[out.grad_fn] = _user_location(frame)
    if not out.dtype.is_floating_point:
        return
    problem = _non_finite(out._data)
    if problem is None:
        return
    if problem == "inf" and _has_inf(inputs, attrs):
        return  # an infinity passed along (a -inf mask), not created here
    if _inside_backward(frame):
        return  # check_backward reports it, naming the forward op whose gradient this was
    lines = [f"detect_anomaly: {op.name} produced {problem} in its forward output",
             f"  at {_user_location(frame)}"]
    lines += _describe_inputs(getattr(op, "input_names", ()) or ("input", "other"), inputs)
    shown = {k: v for k, v in attrs.items() if v is not None}
    if shown:
        lines.append("  with " + ", ".join(f"{k}={v!r}" for k, v in shown.items()))
    lines.append(f"  output: {_describe_array(out._data, out.dtype.short)}")
    lines.append(_cause(inputs, op.name))
    raise AnomalyError("\n".join(lines))


def check_backward(node: Node, grad: Tensor, input_grads: tuple[Any, ...]) -> None:
    """Called by ``Node.apply`` in anomaly mode with the gradients it computed for its
    inputs (before it releases its saved values); raise if one holds a NaN, or an infinity
    that the incoming gradient did not hold."""
    for i, g in enumerate(input_grads):
        if g is None or not g.dtype.is_floating_point:
            continue
        problem = _non_finite(g._data)
        if problem is None or (problem == "inf" and _has_inf((grad,), {})):
            continue
        op = node.op
        names = getattr(op, "input_names", ()) or ("input", "other")
        which = names[i] if i < len(names) else f"input{i}"
        unknown = "an unknown line (its forward ran outside detect_anomaly)"
        source = _node_sources.get(node, unknown)
        headline = (f"detect_anomaly: {node.name} (the gradient of {op.name}) produced "
                    f"{problem} in the gradient for {which!r}")
        lines = [headline,
                 f"  forward op called at {source}",
                 f"  incoming gradient: {_describe_array(grad._data, grad.dtype.short)}"]
        saved = node.saved
        if saved is not None:
            lines += _describe_inputs(names, tuple(saved), label="forward inputs")
        lines.append(f"  gradient for {which!r}: {_describe_array(g._data, g.dtype.short)}")
        raise AnomalyError("\n".join(lines))


# -- helpers ----------------------------------------------------------------------------------
def _host(data: Any) -> Any:
    """A tensor's data as a numpy array: itself on the CPU, a host copy of a device array
    (anomaly mode reads values, as PyTorch's syncs with the device); other values as given."""
    return data if isinstance(data, np.ndarray) or not hasattr(data, "get") else data.get()


def _non_finite(data: np.ndarray) -> str | None:  # type: ignore[type-arg]
    """'NaN', 'inf' or 'NaN and inf' for the non-finite values ``data`` holds, else None."""
    data = _host(data)
    if data.size == 0 or bool(np.isfinite(data).all()):
        return None
    has_nan = state.check_nan and bool(np.isnan(data).any())
    has_inf = state.check_inf and bool(np.isinf(data).any())
    if has_nan and has_inf:
        return "NaN and inf"
    if has_nan:
        return "NaN"
    return "inf" if has_inf else None


_abspaths: dict[str, str] = {}


def _abspath(filename: str) -> str:
    path = _abspaths.get(filename)
    if path is None:
        path = _abspaths[filename] = os.path.abspath(filename)
    return path


def _has_inf(inputs: tuple[Any, ...], attrs: dict[str, Any]) -> bool:
    """Whether an input tensor, Python number or attribute already holds an infinity."""
    for x in (*inputs, *attrs.values()):
        if isinstance(x, float) and np.isinf(x):
            return True
        data = _host(getattr(x, "_data", None))
        if isinstance(data, np.ndarray) and data.dtype.kind == "f" and bool(np.isinf(data).any()):
            return True
    return False


def _user_location(frame: FrameType | None) -> str:
    """``file:line in function:  source`` of the first frame outside the neurarust package."""
    while frame is not None and _abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<inside neurarust>"
    filename = frame.f_code.co_filename
    line = linecache.getline(filename, frame.f_lineno).strip()
    where = f"{filename}:{frame.f_lineno} in {frame.f_code.co_name}"
    return f"{where}:  {line}" if line else where


def _inside_backward(frame: FrameType | None) -> bool:
    while frame is not None:
        code = frame.f_code
        if code.co_name == "apply" and _abspath(code.co_filename) == _GRAPH_FILE:
            return True
        frame = frame.f_back
    return False


def _describe_array(data: np.ndarray, short: str) -> str:  # type: ignore[type-arg]
    data = _host(data)
    head = f"{short}[{', '.join(str(d) for d in data.shape)}]"
    if data.size == 0:
        return head + " (empty)"
    if data.dtype.kind not in "fiub":
        return head
    values = data.astype(np.float64) if data.dtype.kind == "b" else data
    text = head
    if data.dtype.kind == "f":
        nan = int(np.isnan(values).sum())
        inf = int(np.isinf(values).sum())
        finite = values[np.isfinite(values)]
        if finite.size:
            text += f" in [{_num(finite.min())}, {_num(finite.max())}]"
        else:
            text += " (no finite values)"
        if nan:
            text += f", {nan} NaN"
        if inf:
            text += f", {inf} inf"
    else:
        text += f" in [{_num(values.min())}, {_num(values.max())}]"
    return text


def _num(x: Any) -> str:
    return f"{float(x):.6g}"


def _describe_inputs(names: tuple[str, ...], inputs: tuple[Any, ...],
                     label: str = "inputs") -> list[str]:
    parts = []
    for i, x in enumerate(inputs):
        name = names[i] if i < len(names) else f"input{i}"
        data = _host(getattr(x, "_data", None))
        if isinstance(data, np.ndarray):
            parts.append(f"    {name}: {_describe_array(data, x.dtype.short)}")
        elif hasattr(x, "shape") and hasattr(x, "dtype"):  # an unsaved input: shape only
            parts.append(f"    {name}: {x.dtype.short}[{', '.join(map(str, x.shape))}] "
                         "(values not saved)")
        elif x is not None:
            parts.append(f"    {name}: {x!r}")
    return [f"  {label}:"] + parts if parts else []


def _cause(inputs: tuple[Any, ...], op_name: str) -> str:
    for x in inputs:
        if isinstance(x, float) and not np.isfinite(x):
            return f"  a Python number argument is {x!r}"
        data = _host(getattr(x, "_data", None))
        if isinstance(data, np.ndarray) and data.dtype.kind == "f" and data.size and \
                not bool(np.isfinite(data).all()):
            return ("  an input was already non-finite: it came from outside the recorded "
                    "ops (the data, a parameter, or a value computed before anomaly mode)")
    return f"  all inputs were finite: {op_name} created the non-finite value here"
