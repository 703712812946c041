"""``Optimizer``: the base class of every optimizer, as ``torch.optim.Optimizer``.

An optimizer holds *parameter groups* (``param_groups``: a list of dicts, each with a
``"params"`` list and its own copy of every option, filled from ``defaults``) and a per-parameter
``state`` dict. ``step()`` reads each group's options afresh, so a scheduler (or the user) may
change ``group["lr"]`` between steps.

Updates run on the CPU backend's numpy buffers directly (``p._data``, written in place with
numpy ``out=`` ufuncs), never through the op registry: a step is on the training hot path,
records nothing for autograd, and so gains nothing from dispatch. The arithmetic follows
PyTorch's single-tensor (``foreach=False``) implementations operation for operation, so that
trajectories match PyTorch's (to rounding in float64; to FMA-contraction differences in
float32). The elementwise helpers below (:func:`_lerp_`, :func:`_addcmul_`, :func:`_addcdiv_`)
evaluate in the order ATen's CPU kernels do.
"""

from __future__ import annotations

import copy
import functools
import numbers
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar

import numpy as np

from ..autograd import enable_grad
from ..tensor import Tensor
from ..types import dtype as _dt

__all__ = ["Optimizer", "ParamsT", "StateDict", "required"]

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]
StateDict = dict[str, Any]
Array = np.ndarray  # type: ignore[type-arg]
_L = TypeVar("_L")


class _RequiredParameter:
    """Marks an option with no default: every param group must give it."""

    def __repr__(self) -> str:
        return "<required parameter>"


required: Final = _RequiredParameter()


def _param_list(optimizer: str, params: Any) -> list[Any]:
    """``params`` as a list; a TypeError naming the fix when it is a Module or not iterable
    (``SGD(model)`` instead of ``SGD(model.parameters())``)."""
    from ..nn.module import Module

    if isinstance(params, Module):
        raise TypeError(
            f"{optimizer}: params must be an iterable of Tensors or dicts, got a Module "
            f"({type(params).__name__}); pass model.parameters()"
        )
    if not isinstance(params, Iterable):
        raise TypeError(
            f"{optimizer}: params must be an iterable of Tensors or dicts, got "
            f"{type(params).__name__}"
        )
    return list(params)


class Optimizer:
    """Base class for all optimizers, as ``torch.optim.Optimizer``.

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs (as
            ``Module.named_parameters()`` gives), or of dicts, each a parameter group with a
            ``"params"`` entry and any per-group options.
        defaults: the value of every option for groups that do not set it.

    Attributes:
        param_groups: list of dicts, one per group; ``group["params"]`` is its list of Tensors.
        state: ``state[p]`` is a dict of parameter ``p``'s running state (moments, step, ...).
        defaults: the options given at construction.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_marks_opt_called", False):
            cls.step = _marking_step(step)  # type: ignore[method-assign]

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._opt_called = False  # set by step(); LRScheduler warns about a wrong step order
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                "dicts, but got Tensor; wrap it in a list: [tensor]"
            )
        groups = _param_list(type(self).__name__, params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    # -- parameter groups -----------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with its own options) to ``param_groups``.

        Useful when fine-tuning: a frozen part of a model can be made trainable mid-training.
        Options the group does not set are taken from ``defaults``.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        tensors: list[Tensor] = []
        names: list[str] = []
        for entry in params:
            if isinstance(entry, tuple):
                names.append(entry[0])
                tensors.append(entry[1])
            else:
                tensors.append(entry)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    "all optimizer params should be with/without names. "
                    "Some param names are missing"
                )
            param_group["param_names"] = names

        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__module__}.{type(p).__name__}"
                )
            if not (p.is_leaf or p.retains_grad):
                raise ValueError(
                    "can't optimize a non-leaf Tensor; optimize the leaf it was computed from, "
                    "or .detach().requires_grad_() it to make a new leaf"
                )
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)

        if len({id(p) for p in tensors}) != len(tensors):
            raise ValueError(
                "optimizer contains a parameter group with duplicate parameters; "
                "list each parameter once"
            )
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for group in self.param_groups:
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if any(id(p) in seen for p in tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # -- gradients and steps --------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors.

        Args:
            set_to_none: if True (the default), set each ``.grad`` to None, which frees its
                memory and lets the next backward write a fresh gradient; if False, fill
                the existing gradients with zeros. Optimizers skip parameters whose grad is
                None, but do take a step with a zero gradient (weight decay, momentum).
        """
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if g.grad_fn is not None:
                    g.detach_()
                else:
                    g.requires_grad = False
                data = g._data
                if data.flags.writeable and data.flags.owndata:
                    data.fill(0)
                    g._storage.version += 1
                else:  # never write zeros into a buffer the grad merely views
                    p.grad = _zeros_state(g)

    def step(self, closure: Callable[[], _L] | None = None) -> _L | None:
        """Perform one optimization step and return the closure's loss, if one is given.

        Args:
            closure: a function that re-evaluates the model and returns the loss; it runs
                with gradients enabled before the update.
        """
        raise NotImplementedError

    def _begin_step(self, closure: Callable[[], _L] | None) -> _L | None:
        """Run the closure, if any, with gradients enabled, and return its loss."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _grads(self, group: dict[str, Any]) -> list[tuple[Tensor, Array]]:
        """The (parameter, gradient buffer) pairs of a group's parameters that have a grad."""
        out: list[tuple[Tensor, Array]] = []
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            # cuda parameters update by fused kernels (kernels/cuda/families/optim.py);
            # what they do not cover goes through numpy interop (counted host round trips)
            if p.device.type not in ("cpu", "cuda"):
                raise NotImplementedError(
                    f"{type(self).__name__}: parameters on {p.device} are not supported yet; "
                    "only 'cpu' is"
                )
            if g.shape != p.shape or g.dtype is not p.dtype:
                raise RuntimeError(
                    f"{type(self).__name__}: a parameter's gradient must match it, got "
                    f"grad {g.dtype.short}{list(g.shape)} for parameter "
                    f"{p.dtype.short}{list(p.shape)}"
                )
            out.append((p, g._data))
        return out

    # -- state dicts ----------------------------------------------------------------------
    def state_dict(self) -> StateDict:
        """The optimizer's state as a dict, in PyTorch's layout.

        ``{"state": {index: {name: Tensor | number}}, "param_groups": [{option: value, ...,
        "params": [index, ...]}]}``, where a parameter's index is its position when the
        groups' parameter lists are concatenated. State tensors are copies, so the dict is a
        snapshot that later steps do not change.
        """
        mapping: dict[int, int] = {}
        start = 0
        groups: list[dict[str, Any]] = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {
            (mapping[id(p)] if isinstance(p, Tensor) else p): {
                k: _clone_value(v) for k, v in s.items()
            }
            for p, s in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: StateDict) -> None:
        """Load a state from :meth:`state_dict` (this optimizer's or PyTorch's layout).

        Groups are matched by position and must hold as many parameters as this optimizer's;
        the loaded options replace the current ones. Floating-point state tensors are copied
        and cast to their parameter's dtype (``step`` keeps its own); a state tensor whose
        shape differs from its parameter's is an error.
        """
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError(
                f"loaded state dict has {len(saved_groups)} parameter groups, "
                f"the optimizer has {len(groups)}"
            )
        for i, (g, s) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size "
                    f"of optimizer's group: group {i} has {len(s['params'])} parameters in the "
                    f"state dict, {len(g['params'])} in the optimizer"
                )
        id_map: dict[Any, Tensor] = {}
        for g, s in zip(groups, saved_groups):
            for index, p in zip(s["params"], g["params"]):
                id_map[index] = p

        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if isinstance(key, str) and key.isdigit():
                key = int(key)  # state dicts that went through JSON or safetensors metadata
            if key in id_map:
                p = id_map[key]
                state[p] = {k: _cast_state(p, k, v, key) for k, v in value.items()}
            else:
                state[key] = value

        for g, s in zip(groups, saved_groups):
            s["params"] = g["params"]
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
            for name, default in self.defaults.items():
                s.setdefault(name, default)
        self.state = state
        self.param_groups = saved_groups
        self._after_load()

    def _after_load(self) -> None:
        """Hook for subclasses to normalise loaded groups (e.g. AdamW's decoupled decay)."""


def _marking_step(step: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a subclass's ``step`` to note that it ran: an LRScheduler stepped before the
    optimizer's first step warns, as in PyTorch, that the first lr of the schedule is lost."""

    @functools.wraps(step)
    def wrapper(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        self._opt_called = True
        return step(self, *args, **kwargs)

    wrapper._marks_opt_called = True  # type: ignore[attr-defined]
    return wrapper


def _clone_value(value: Any) -> Any:
    if isinstance(value, Tensor):
        data = value._data
        return value._wrap_like(data.copy() if not isinstance(data, np.ndarray)  # on a device
                                else np.array(data, copy=True))
    return copy.deepcopy(value)


def _on_device_of(param: Tensor, host: np.ndarray) -> Tensor:  # type: ignore[type-arg]
    """A new tensor holding ``host`` on ``param``'s device (one upload for a device)."""
    t = Tensor._from_numpy(host)
    return t if isinstance(param._data, np.ndarray) else t.to(param.device)


def _cast_state(param: Tensor, key: str, value: Any, index: Any) -> Any:
    """A copy of a loaded state value, cast (if floating) to its parameter's dtype."""
    if isinstance(value, np.ndarray):
        value = Tensor._from_numpy(value)
    if not isinstance(value, Tensor):
        return copy.deepcopy(value)
    data = value._data
    if key == "step":
        return _clone_value(value)
    if data.shape != param._data.shape:
        raise ValueError(
            f"load_state_dict: state {key!r} of parameter {index} has shape "
            f"{list(data.shape)}, the parameter has {list(param._data.shape)}"
        )
    host = data if isinstance(data, np.ndarray) else data.get()
    if param.dtype.is_floating_point and value.dtype.is_floating_point:
        return _on_device_of(param, np.array(host, dtype=param._data.dtype, copy=True))
    return _on_device_of(param, np.array(host, copy=True))


# -- validation ---------------------------------------------------------------------------
def _check_number(owner: str, name: str, value: Any) -> float:
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number, got {type(value).__name__}")
    return float(value)


def _check_ge(owner: str, name: str, value: Any, low: float = 0.0) -> None:
    """Raise ``ValueError("Owner: name must be >= low, got value")`` unless value >= low."""
    v = _check_number(owner, name, value)
    if not v >= low:  # also rejects NaN
        raise ValueError(f"{owner}: {name} must be >= {low:g}, got {value}")


def _check_beta(owner: str, name: str, value: Any) -> None:
    v = _check_number(owner, name, value)
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{owner}: {name} must be in [0, 1), got {value}")


# -- state creation -----------------------------------------------------------------------
def _zeros_state(p: Tensor) -> Tensor:
    """A zero tensor shaped, typed and laid out like ``p`` (on ``p``'s device: a cuda
    parameter's state is allocated there, without a host round trip)."""
    if isinstance(p._data, np.ndarray):
        return p._wrap_like(np.zeros_like(p._data))
    from ..kernels.cuda.array import DeviceArray  # no pycuda

    zeros = DeviceArray.empty(p._data.shape, p._data.dtype, p._data.driver)
    zeros.fill(0)
    return p._wrap_like(zeros)


def _step_state(value: float = 0.0) -> Tensor:
    """The per-parameter step counter, a 0-d float tensor as in PyTorch (float32, or float64
    when that is the default dtype), so ``state_dict()`` holds only tensors and numbers."""
    dtype = np.float64 if _dt.get_default_dtype() is _dt.float64 else np.float32
    return Tensor._from_numpy(np.array(value, dtype=dtype))


def _increment_step(state: dict[str, Any]) -> float:
    """Add one to ``state["step"]`` in place and return the new count as a Python float."""
    step = state["step"]
    if not isinstance(step, Tensor):  # a plain number from an old or hand-made state dict
        step = state["step"] = _step_state(float(step))
    data = step._data
    data += 1
    return float(data)


# -- elementwise updates in ATen's order of operations ------------------------------------
# Every ufunc is given an explicit ``out=`` array: without one, numpy returns a scalar (not a
# writable 0-d array) for 0-d inputs, and the next in-place op would fail.
# Scalars are passed as Python floats: under numpy's NEP 50 rules they are "weak" and are
# rounded to the array's dtype, as ATen rounds a Python scalar to a float32 tensor's dtype.
def _add_scaled_(out: Array, other: Array, alpha: float, tmp: Array | None = None) -> None:
    """``out += alpha * other`` (``Tensor.add_(other, alpha=alpha)``)."""
    if alpha == 1:
        np.add(out, other, out=out)
        return
    tmp = np.multiply(other, alpha, out=np.empty_like(other) if tmp is None else tmp)
    np.add(out, tmp, out=out)


def _lerp_(out: Array, end: Array, weight: float, tmp: Array) -> None:
    """``out.lerp_(end, weight)`` as ATen computes it: ``out + w * (end - out)`` for
    ``|w| < 0.5`` and ``end - (1 - w) * (end - out)`` otherwise (exact at both ends)."""
    np.subtract(end, out, out=tmp)
    scalar = out.dtype.type
    w = scalar(weight)  # ATen rounds the weight to the tensor's dtype first
    if abs(w) < 0.5:
        np.multiply(tmp, w, out=tmp)
        np.add(out, tmp, out=out)
    else:
        np.multiply(tmp, w - scalar(1), out=tmp)
        np.add(end, tmp, out=out)


def _addcmul_(out: Array, t1: Array, t2: Array, value: float, tmp: Array) -> None:
    """``out.addcmul_(t1, t2, value=value)``: ``out + value * t1 * t2``."""
    np.multiply(t1, value, out=tmp)
    np.multiply(tmp, t2, out=tmp)
    np.add(out, tmp, out=out)


def _addcdiv_(out: Array, t1: Array, t2: Array, value: float, tmp: Array) -> None:
    """``out.addcdiv_(t1, t2, value=value)``: ``out + value * t1 / t2``."""
    np.multiply(t1, value, out=tmp)
    np.divide(tmp, t2, out=tmp)
    np.add(out, tmp, out=out)


def _decayed_grad(grad: Array, param: Array, weight_decay: float, maximize: bool) -> Array:
    """The gradient with maximize and L2 weight decay applied, as ``grad.add(param,
    alpha=weight_decay)`` on ``-grad`` when maximizing; never writes into ``grad``."""
    if maximize:
        grad = np.negative(grad, out=np.empty_like(grad))
    if weight_decay != 0:
        decayed = np.multiply(param, weight_decay, out=np.empty_like(param))
        np.add(grad, decayed, out=decayed)
        grad = decayed
    return grad


def _bump_version(p: Tensor) -> None:
    """Record an in-place write to ``p``'s buffer.

    The update wrote into ``p._data`` directly, bypassing the in-place ops that would bump
    the storage's version counter themselves. Bumping it here keeps autograd's saved-tensor
    check sound: a graph that saved ``p`` before the step refuses to backward through the
    stale value instead of silently computing a wrong gradient (as in PyTorch).
    """
    p._storage.version += 1
