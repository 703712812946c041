"""``Module``: the base class of every layer and model, with PyTorch's semantics.

A module registers what is assigned to its attributes: a :class:`Parameter` goes to
``_parameters``, a Module to ``_modules``, a tensor assigned to a registered buffer name (or a
:class:`Buffer`) to ``_buffers``. Everything else (``parameters()``, ``state_dict()``,
``to()``, ``train()``, ``repr``) walks those three ordered dicts, so the names a checkpoint
holds are exactly the attribute paths a user reads in the code (``fc.weight``).
"""

from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, NamedTuple, overload

from ..autograd import grad_mode
from ..device import Device
from ..tensor import Tensor
from ..types import dtype as _dt
from ..types.dtype import DType
from .parameter import Buffer, Parameter, as_plain_tensor

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Module", "RemovableHandle", "IncompatibleKeys"]


_EXTRA_STATE_KEY_SUFFIX = "_extra_state"


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` returns: keys the model has and the state dict
    lacks, and keys the state dict has and the model lacks."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (f"IncompatibleKeys(missing_keys={self.missing_keys}, "
                f"unexpected_keys={self.unexpected_keys})")

    def __str__(self) -> str:
        return self.__repr__()


class _HookDict(OrderedDict[int, Any]):
    """An OrderedDict that can be weakly referenced (RemovableHandle holds weak refs)."""


class RemovableHandle:
    """Returned by ``register_*_hook``: ``handle.remove()`` unregisters the hook (also usable
    as a context manager, which removes it on exit)."""

    _next_id = itertools.count()

    def __init__(self, *hooks_dicts: _HookDict) -> None:
        self.id = next(RemovableHandle._next_id)
        # Weak references: a handle kept by the user must not keep a deleted module alive.
        self._refs = [weakref.ref(d) for d in hooks_dicts]

    def remove(self) -> None:
        for ref in self._refs:
            d = ref()
            if d is not None:
                d.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


def _shape_str(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


class Module:
    """Base class for all neural-network modules, as ``torch.nn.Module``.

    Subclasses call ``super().__init__()`` first, assign parameters, buffers and submodules
    as attributes, and define ``forward``. Calling the module runs the forward pre-hooks,
    ``forward`` and the forward hooks.

    Example:
        >>> class Affine(nr.nn.Module):
        ...     def __init__(self) -> None:
        ...         super().__init__()
        ...         self.scale = nr.nn.Parameter(nr.ones(3))
        ...     def forward(self, x: nr.Tensor) -> nr.Tensor:
        ...         return x * self.scale
        >>> [name for name, _ in Affine().named_parameters()]
        ['scale']
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent_buffers_set: set[str]
    _modules: dict[str, Module | None]
    _forward_pre_hooks: _HookDict
    _forward_pre_hooks_with_kwargs: _HookDict
    _forward_hooks: _HookDict
    _forward_hooks_with_kwargs: _HookDict
    _forward_hooks_always_called: _HookDict

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments: Module.__init__ "
                "takes none (pass your own arguments to your subclass's __init__ only)"
            )
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", {})
        setattr_(self, "_buffers", {})
        setattr_(self, "_non_persistent_buffers_set", set())
        setattr_(self, "_modules", {})
        setattr_(self, "_forward_pre_hooks", _HookDict())
        setattr_(self, "_forward_pre_hooks_with_kwargs", _HookDict())
        setattr_(self, "_forward_hooks", _HookDict())
        setattr_(self, "_forward_hooks_with_kwargs", _HookDict())
        setattr_(self, "_forward_hooks_always_called", _HookDict())

    # -- forward ----------------------------------------------------------------------------
    def _forward_unimplemented(self, *input: Any) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    # A Callable attribute (as in PyTorch), so a subclass may define forward with any
    # signature of its own without violating the override rules.
    forward: Callable[..., Any] = _forward_unimplemented

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not (self._forward_pre_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            "forward pre-hook registered with with_kwargs=True must return None "
                            f"or a tuple (new_args, new_kwargs), got {type(result).__name__}"
                        )
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        try:
            output = self.forward(*args, **kwargs)
        except BaseException:
            for hook_id, hook in list(self._forward_hooks.items()):
                if hook_id in self._forward_hooks_always_called:
                    try:
                        if hook_id in self._forward_hooks_with_kwargs:
                            hook(self, args, kwargs, None)
                        else:
                            hook(self, args, None)
                    except Exception:  # noqa: BLE001 - the forward's error is the one to show
                        pass
            raise
        for hook_id, hook in list(self._forward_hooks.items()):
            if hook_id in self._forward_hooks_with_kwargs:
                result = hook(self, args, kwargs, output)
            else:
                result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before each ``forward``; a non-None result replaces
        the positional arguments (``hook(module, args, kwargs) -> (args, kwargs)`` with
        ``with_kwargs=True``)."""
        handle = RemovableHandle(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                              with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each ``forward``; a non-None result
        replaces the output. ``always_call=True`` also calls it (with output None) when
        forward raises."""
        handle = RemovableHandle(self._forward_hooks, self._forward_hooks_with_kwargs,
                                 self._forward_hooks_always_called)
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    # -- registration -----------------------------------------------------------------------
    def _check_name(self, kind: str, name: Any, allow_existing: dict[str, Any]) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{kind} name must not contain "." (got {name})')
        if name == "":
            raise KeyError(f"{kind} name must not be empty")
        if hasattr(self, name) and name not in allow_existing:
            raise KeyError(f"attribute {name!r} already exists")

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is part of the module's state but not a parameter (running
        statistics); ``persistent=False`` keeps it out of ``state_dict()``."""
        self._check_name("buffer", name, self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(Tensor or None required)"
            )
        self._buffers[name] = None if tensor is None else as_plain_tensor(tensor)
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (``None`` registers the name with no value, e.g. ``bias=False``)."""
        self._check_name("parameter", name, self._parameters)
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(nn.Parameter or None required); hint: wrap it as nn.Parameter(tensor)"
            )
        if param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be "
                f"created explicitly. To express '{name}' as a function of another Tensor, "
                "compute the value in the forward() method."
            )
        self._parameters[name] = param

    def register_module(self, name: str, module: Module | None) -> None:
        """Add a child module, reachable as ``self.<name>``."""
        self.add_module(name, module)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module, reachable as ``self.<name>``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name("module", name, self._modules)
        self._modules[name] = module

    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path (``"encoder.layers.0"``); ``""`` is self."""
        if target == "":
            return self
        mod: Module = self
        for item in target.split("."):
            child = mod._modules.get(item)
            if child is None:
                raise AttributeError(
                    f"{type(mod).__name__} has no submodule {item!r} (looking up {target!r})"
                )
            mod = child
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at a dotted path (``"fc.weight"``)."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        param = mod._parameters.get(name)
        if param is None:
            raise AttributeError(f"{type(mod).__name__} has no parameter {name!r}")
        return param

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at a dotted path (``"bn.running_mean"``)."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        buf = mod._buffers.get(name)
        if buf is None:
            raise AttributeError(f"{type(mod).__name__} has no buffer {name!r}")
        return buf

    # -- attribute protocol -----------------------------------------------------------------
    def __getattr__(self, name: str) -> Tensor | Module:
        # Only called when normal lookup fails: parameters, buffers and modules live in dicts.
        d = self.__dict__
        if "_parameters" in d:
            params = d["_parameters"]
            if name in params:
                return params[name]  # type: ignore[no-any-return]
            buffers = d["_buffers"]
            if name in buffers:
                return buffers[name]  # type: ignore[no-any-return]
            modules = d["_modules"]
            if name in modules:
                return modules[name]  # type: ignore[no-any-return]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove_from(name, d, self._buffers, self._modules,
                              self._non_persistent_buffers_set)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._remove_from(name, d, params, self._buffers, self._non_persistent_buffers_set)
            self._modules[name] = value
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(nn.Module or None expected)"
                )
            self._modules[name] = None
        elif isinstance(value, Buffer):
            if params is None:
                raise AttributeError("cannot assign buffer before Module.__init__() call")
            self._remove_from(name, d, params, self._modules)
            self.register_buffer(name, value, value.persistent)
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(Tensor or None expected)"
                )
            self._buffers[name] = None if value is None else as_plain_tensor(value)
        else:
            object.__setattr__(self, name, value)

    @staticmethod
    def _remove_from(name: str, *containers: Any) -> None:
        for c in containers:
            if isinstance(c, set):
                c.discard(name)
            elif name in c:
                del c[name]

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = list(super().__dir__())
        keys += list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(k for k in set(keys) if not k[0].isdigit())

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # -- iteration over members -------------------------------------------------------------
    def _named_members(self, get_members: Callable[[Module], Any], prefix: str = "",
                       recurse: bool = True,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        memo: set[int] = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for module_prefix, module in modules:
            for name, value in get_members(module):
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in memo:
                        continue
                    memo.add(id(value))
                yield (module_prefix + ("." if module_prefix else "") + name, value)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (each shared one once), in registration order, depth first."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs, as the keys ``state_dict()`` uses."""
        return self._named_members(lambda m: m._parameters.items(), prefix, recurse,
                                   remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse,
                                   remove_duplicate)

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        memo: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """Self and every descendant, depth first, each shared module once (by default)."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub_prefix = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub_prefix, remove_duplicate)

    # -- state dict -------------------------------------------------------------------------
    def get_extra_state(self) -> Any:
        """Override (with :meth:`set_extra_state`) to save non-tensor state in the state
        dict under ``<prefix>_extra_state``."""
        raise RuntimeError("get_extra_state is only called when a subclass overrides it")

    def set_extra_state(self, state: Any) -> None:
        """Restore what :meth:`get_extra_state` returned."""
        raise RuntimeError("set_extra_state is only called when a subclass overrides it")

    def _has_extra_state(self) -> bool:
        return type(self).get_extra_state is not Module.get_extra_state

    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str,
                            keep_vars: bool) -> None:
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()
        if self._has_extra_state():
            destination[prefix + _EXTRA_STATE_KEY_SUFFIX] = self.get_extra_state()

    def state_dict(self, destination: dict[str, Any] | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict[str, Any]:
        """Parameters and persistent buffers by dotted name, as an OrderedDict of tensors
        detached from autograd (sharing storage; ``keep_vars=True`` keeps the objects)."""
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".",
                                  keep_vars=keep_vars)
        return destination  # type: ignore[return-value]

    def _load_from_state_dict(self, state_dict: Mapping[str, Any], prefix: str,
                              missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str], assign: bool) -> None:
        persistent = {k: v for k, v in self._buffers.items()
                      if k not in self._non_persistent_buffers_set}
        local_state: dict[str, Tensor] = {
            k: v for k, v in itertools.chain(self._parameters.items(), persistent.items())
            if v is not None
        }
        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                error_msgs.append(f'While copying the parameter named "{key}", expected a '
                                  f"Tensor from the checkpoint but received "
                                  f"{type(value).__name__}")
                continue
            if value.shape != param.shape:
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape "
                    f"{_shape_str(value.shape)} from checkpoint, the shape in current model "
                    f"is {_shape_str(param.shape)}."
                )
                continue
            try:
                with grad_mode.no_grad():
                    if assign:
                        self._assign_loaded(name, param, value)
                    else:
                        param.copy_(value)
            except Exception as exc:  # noqa: BLE001 - reported with the key, then raised
                error_msgs.append(f'While copying the parameter named "{key}", whose '
                                  f"dimensions in the model are {_shape_str(param.shape)} and "
                                  f"in the checkpoint are {_shape_str(value.shape)}, an "
                                  f"exception occurred: {exc}")
        extra_key = prefix + _EXTRA_STATE_KEY_SUFFIX
        if self._has_extra_state():
            if extra_key in state_dict:
                self.set_extra_state(state_dict[extra_key])
            else:
                missing_keys.append(extra_key)
        elif extra_key in state_dict:
            unexpected_keys.append(extra_key)
        for key in state_dict:
            if key.startswith(prefix) and key != extra_key:
                head, dot, _ = key[len(prefix):].partition(".")
                if (dot and head not in self._modules) or (not dot and head not in local_state):
                    unexpected_keys.append(key)

    def _assign_loaded(self, name: str, current: Tensor, value: Tensor) -> None:
        if isinstance(current, Parameter):
            setattr(self, name, Parameter(value.detach(), current.requires_grad))
        else:
            self._buffers[name] = as_plain_tensor(value)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy parameters and buffers from ``state_dict`` into this module, in place.

        Args:
            state_dict: name -> tensor, as :meth:`state_dict` returns (or :func:`load`).
            strict: if True, a missing or unexpected key is an error. Shape mismatches are
                errors either way. Default: True.
            assign: if True, the module takes the state dict's tensors instead of copying
                their values (parameters keep their ``requires_grad``). Default: False.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``.

        Raises:
            RuntimeError: listing every missing key, unexpected key and shape mismatch.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict: expected a dict-like state_dict, got {type(state_dict).__name__}"
            )
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list[str] = []

        def load(module: Module, local: Mapping[str, Any], prefix: str) -> None:
            module._load_from_state_dict(local, prefix, missing, unexpected, errors, assign)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    load(child, {k: v for k, v in local.items() if k.startswith(child_prefix)},
                         child_prefix)

        load(self, state_dict, "")
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        return IncompatibleKeys(missing, unexpected)

    # -- modes and gradients ----------------------------------------------------------------
    def train(self, mode: bool = True) -> Self:
        """Set training mode (dropout active, batch norm updating its statistics) on this
        module and every descendant."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode is expected to be a bool, got {mode!r}")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Self:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Self:
        """Set ``requires_grad`` on every parameter (freeze with ``requires_grad_(False)``)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (default), or to zeros in place."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                grad = p.grad
                if grad.grad_fn is not None:
                    grad.detach_()
                else:
                    grad.requires_grad = False
                with grad_mode.no_grad():
                    grad.zero_()

    def apply(self, fn: Callable[[Module], None]) -> Self:
        """Call ``fn`` on every descendant (children first) and then on self; e.g. a custom
        initialisation ``model.apply(init_weights)``."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -- dtype and device -------------------------------------------------------------------
    def _apply(self, fn: Callable[[Tensor], Tensor]) -> Self:
        """Apply ``fn`` to every parameter (keeping each Parameter object, so optimizers that
        hold it stay valid), its gradient, and every buffer, in this module and below."""
        for module in self.children():
            module._apply(fn)
        with grad_mode.no_grad():
            for param in self._parameters.values():
                if param is None:
                    continue
                new = fn(param)
                if new is not param:
                    param.data = new
                if param.grad is not None:
                    new_grad = fn(param.grad)
                    if new_grad is not param.grad:
                        param.grad = as_plain_tensor(new_grad.detach())
            for name, buf in self._buffers.items():
                if buf is not None:
                    self._buffers[name] = as_plain_tensor(fn(buf))
        return self

    @overload
    def to(self, dtype: DType, non_blocking: bool = ...) -> Self: ...

    @overload
    def to(self, device: Device | str | None = ..., dtype: DType | None = ...,
           non_blocking: bool = ...) -> Self: ...

    def to(self, *args: Any, **kwargs: Any) -> Self:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(tensor)``: move and/or
        cast parameters and buffers in place. Only floating-point tensors change dtype."""
        dtype: DType | None = kwargs.pop("dtype", None)
        device: Any = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to: unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, DType):
                dtype = a
            elif isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, bool):
                continue  # non_blocking passed positionally
            elif a is not None:
                device = a
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError(
                f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype!r}"
            )

        def convert(t: Tensor) -> Tensor:
            if device is not None:
                t = t.to(device)
            if dtype is not None and t.dtype.is_floating_point:
                t = t.to(dtype)
            return t

        return self._apply(convert)

    def float(self) -> Self:
        """Cast floating-point parameters and buffers to float32."""
        return self.to(_dt.float32)

    def double(self) -> Self:
        """Cast floating-point parameters and buffers to float64."""
        return self.to(_dt.float64)

    def half(self) -> Self:
        """Cast floating-point parameters and buffers to float16."""
        return self.to(_dt.float16)

    def cpu(self) -> Self:
        return self.to("cpu")

    def cuda(self, device: int | None = None) -> Self:
        return self.to("cuda" if device is None else f"cuda:{device}")

    # -- printing ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """One line (or several) shown inside this module's repr, e.g.
        ``in_features=784, out_features=128, bias=True``; override in layers."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2)
                       for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"
