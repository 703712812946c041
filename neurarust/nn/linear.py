"""Affine layers and shape adapters: ``Linear``, ``Bilinear``, ``Identity``, ``Flatten``,
``Unflatten``, as ``torch.nn``'s (names, arguments, defaults, initialisation, repr)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .. import functions as _fn
from ..device import Device
from ..tensor import Tensor
from ..types.dtype import DType
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Bilinear", "Flatten", "Identity", "Linear", "Unflatten"]

DeviceArg = Device | str | None


def _empty(*shape: int, device: DeviceArg, dtype: DType | None) -> Tensor:
    return _fn.empty(*shape, device=device, dtype=dtype)


class Identity(Module):
    """Returns its input unchanged; accepts (and ignores) any constructor arguments, so it can
    stand in for a layer.

    Shape:
        ``(*) -> (*)``
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """Applies an affine map to the last dimension: ``y = x @ weight.T + bias``.

    Args:
        in_features: size of the last input dimension.
        out_features: size of the last output dimension.
        bias: if False, the layer learns no additive bias. Default: True.

    Attributes:
        weight: ``(out_features, in_features)``, initialised from U(-k, k) with
            ``k = 1 / sqrt(in_features)`` (PyTorch's ``kaiming_uniform_(a=sqrt(5))``).
        bias: ``(out_features,)``, from U(-k, k).

    Shape:
        ``Float[Tensor, "*batch in_features"]`` -> ``Float[Tensor, "*batch out_features"]``

    Example:
        >>> nr.nn.Linear(784, 128)(nr.zeros(32, 784)).shape
        (32, 128)
    """

    in_features: int
    out_features: int
    weight: Parameter
    bias: Parameter | None

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: DeviceArg = None, dtype: DType | None = None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(_empty(out_features, in_features, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: ``kaiming_uniform_(weight, a=sqrt(5))``, bias from
        U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        _init_bias(self.bias, self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _init_bias(bias: Tensor | None, weight: Tensor) -> None:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the bias default of PyTorch's linear and conv."""
    if bias is None:
        return
    fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    init.uniform_(bias, -bound, bound)


class Bilinear(Module):
    """``y[k] = x1 @ weight[k] @ x2 + bias[k]``.

    Args:
        in1_features, in2_features: the last dims of the two inputs.
        out_features: the last dim of the output.
        bias: learn an additive bias. Default: True.

    Attributes:
        weight: ``(out_features, in1_features, in2_features)``, U(-k, k) with
            ``k = 1 / sqrt(in1_features)``; bias ``(out_features,)`` likewise.

    Shape:
        ``(*, in1_features), (*, in2_features) -> (*, out_features)``
    """

    weight: Parameter
    bias: Parameter | None

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device: DeviceArg = None, dtype: DType | None = None) -> None:
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = Parameter(_empty(out_features, in1_features, in2_features, device=device,
                                       dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Flatten(Module):
    """Flattens dims ``start_dim`` to ``end_dim`` into one (by default all but the batch).

    Shape:
        ``(N, *dims) -> (N, prod(dims))`` with the defaults.

    Example:
        >>> nr.nn.Flatten()(nr.zeros(32, 1, 28, 28)).shape
        (32, 784)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dim ``dim`` into ``unflattened_size`` (one entry may be -1).

    Shape:
        ``(*, S, *) -> (*, u1, ..., uk, *)`` with ``prod(u) == S``
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if isinstance(unflattened_size, int) or not all(
                isinstance(s, int) for s in unflattened_size):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple of ints, got "
                            f"{unflattened_size!r}")
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
