"""conv1d/conv2d, their transposes and weight gradients: forward vs a loop-by-loop numpy
float64 reference and PyTorch, gradients vs finite differences and PyTorch, double backward,
errors, and the shape rule under the symbolic algebra."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neurarust as nr
from neurarust.ops.registry import get
from neurarust.types.algebra import CONCRETE
from neurarust.types.errors import DTypeError, ShapeError
from tests.reference import HAS_TORCH, check_op, random_array, to_nr

rng = np.random.default_rng(0)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
Pairs = Sequence[tuple[int, int]]


# -- references: plain loops over output positions (tiny sizes only) ------------------------------
def _pairs(padding: Any, n: int, kernel: Sequence[int], dilation: Sequence[int]) -> Pairs:
    if padding == "valid":
        return [(0, 0)] * n
    if padding == "same":
        return [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation)]
    p = (padding,) * n if isinstance(padding, int) else tuple(padding)
    return [(v, v) for v in p]


def _tup(v: Any, n: int) -> tuple[int, ...]:
    return (v,) * n if isinstance(v, int) else tuple(v)


def ref_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: Any = 1,
             padding: Any = 0, dilation: Any = 1, groups: int = 1) -> np.ndarray:
    n = w.ndim - 2
    unbatched = x.ndim == n + 1
    x = x[None] if unbatched else x
    s, d = _tup(stride, n), _tup(dilation, n)
    pads = _pairs(padding, n, w.shape[2:], d)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(lo, hi) for lo, hi in pads])
    out_ch, ch_g = w.shape[:2]
    sizes = [(xp.shape[2 + i] - d[i] * (w.shape[2 + i] - 1) - 1) // s[i] + 1 for i in range(n)]
    out = np.zeros((x.shape[0], out_ch, *sizes))
    for bn, o, *pos in itertools.product(range(x.shape[0]), range(out_ch), *map(range, sizes)):
        g = o // (out_ch // groups)
        window = tuple(slice(p * s[i], p * s[i] + d[i] * (w.shape[2 + i] - 1) + 1, d[i])
                       for i, p in enumerate(pos))
        out[(bn, o, *pos)] = (xp[(bn, slice(g * ch_g, (g + 1) * ch_g)) + window] * w[o]).sum()
    if b is not None:
        out += b.reshape((-1,) + (1,) * n)
    return out[0] if unbatched else out


def ref_conv_transpose(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                       stride: Any = 1, padding: Any = 0, output_padding: Any = 0,
                       groups: int = 1, dilation: Any = 1) -> np.ndarray:
    n = w.ndim - 2
    unbatched = x.ndim == n + 1
    x = x[None] if unbatched else x
    s, d, p, e = (_tup(v, n) for v in (stride, dilation, padding, output_padding))
    in_ch, out_g = w.shape[:2]
    in_g = in_ch // groups
    kernel = w.shape[2:]
    full = [(x.shape[2 + i] - 1) * s[i] + d[i] * (kernel[i] - 1) + 1 + e[i] for i in range(n)]
    y = np.zeros((x.shape[0], out_g * groups, *full))
    for bn, c, *rest in itertools.product(range(x.shape[0]), range(in_ch),
                                          *map(range, x.shape[2:]), *map(range, kernel)):
        pos, k = rest[:n], rest[n:]
        g = c // in_g
        target = tuple(pos[i] * s[i] + k[i] * d[i] for i in range(n))
        y[(bn, slice(g * out_g, (g + 1) * out_g)) + target] += x[(bn, c, *pos)] * w[(c, slice(None), *k)]
    y = y[(slice(None), slice(None)) + tuple(slice(p[i], full[i] - p[i]) for i in range(n))]
    if b is not None:
        y = y + b.reshape((-1,) + (1,) * n)
    return y[0] if unbatched else y


def _conv_case(n: int, batch: int, groups: int, ch_g: int, out_g: int, size: Sequence[int],
               kernel: Sequence[int], bias: bool) -> list[np.ndarray]:
    x = random_array(rng, ((batch,) if batch else ()) + (ch_g * groups, *size))
    w = random_array(rng, (out_g * groups, ch_g, *kernel))
    return [x, w] + ([random_array(rng, (out_g * groups,))] if bias else [])


# -- conv2d ---------------------------------------------------------------------------------------
CONV2D_CASES = [
    # batch, groups, ch/group, out/group, size, kernel, stride, padding, dilation, bias
    (2, 1, 3, 2, (5, 6), (3, 3), 1, 0, 1, True),
    (2, 2, 2, 3, (7, 6), (3, 2), 2, 1, 1, True),
    (0, 1, 2, 3, (5, 5), (2, 2), 1, "same", 1, True),  # unbatched; even kernel: 0 before, 1 after
    (1, 2, 1, 1, (7, 7), (3, 3), 2, (1, 2), (2, 1), False),
    (1, 1, 2, 2, (6, 6), (2, 3), 1, "same", 2, True),
    (1, 1, 2, 2, (6, 6), (2, 3), 3, "valid", 1, False),
    (1, 3, 1, 1, (5, 5), (1, 1), 2, 0, 1, True),  # depthwise, 1x1
    (2, 1, 1, 2, (4, 4), (4, 4), 1, 0, 1, True),  # kernel covers the input
    (1, 1, 1, 1, (6, 5), (3, 3), (2, 3), (2, 1), (1, 2), True),
]


@pytest.mark.parametrize("batch,groups,ch_g,out_g,size,kernel,stride,padding,dilation,bias",
                         CONV2D_CASES)
def test_conv2d(batch: int, groups: int, ch_g: int, out_g: int, size: tuple[int, int],
                kernel: tuple[int, int], stride: Any, padding: Any, dilation: Any,
                bias: bool) -> None:
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    check_op(lambda m, *xs: m.conv2d(*xs, **attrs),
             _conv_case(2, batch, groups, ch_g, out_g, size, kernel, bias),
             lambda *xs: ref_conv(*xs, **attrs))


@st.composite
def conv_configs(draw: Any, n: int) -> dict[str, Any]:
    groups = draw(st.integers(1, 2))
    kernel = [draw(st.integers(1, 3)) for _ in range(n)]
    stride = [draw(st.integers(1, 2)) for _ in range(n)]
    dilation = [draw(st.integers(1, 2)) for _ in range(n)]
    padding = [draw(st.integers(0, 1)) for _ in range(n)]
    size = [max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 2))
            for k, d, p in zip(kernel, dilation, padding)]
    return {"batch": draw(st.integers(0, 2)), "groups": groups, "ch_g": draw(st.integers(1, 2)),
                "out_g": draw(st.integers(1, 2)), "size": size, "kernel": kernel, "stride": tuple(stride),
                "padding": tuple(padding), "dilation": tuple(dilation), "bias": draw(st.booleans())}


@settings(max_examples=30, deadline=None)
@given(conv_configs(2))
def test_conv2d_random_configs(cfg: dict[str, Any]) -> None:
    attrs = {k: cfg[k] for k in ("stride", "padding", "dilation", "groups")}
    arrays = _conv_case(2, cfg["batch"], cfg["groups"], cfg["ch_g"], cfg["out_g"], cfg["size"],
                        cfg["kernel"], cfg["bias"])
    check_op(lambda m, *xs: m.conv2d(*xs, **attrs), arrays, lambda *xs: ref_conv(*xs, **attrs))


def test_conv2d_keeps_float32_and_contiguous() -> None:
    out = nr.conv2d(nr.randn(2, 3, 8, 8), nr.randn(4, 3, 3, 3), nr.randn(4), padding=1)
    assert out.dtype is nr.float32 and out.numpy().dtype == np.float32
    assert out.shape == (2, 4, 8, 8) and out.is_contiguous()


def test_conv2d_double_backward() -> None:
    arrays = _conv_case(2, 1, 2, 2, 1, (5, 5), (3, 3), True)
    attrs = {"stride": 2, "padding": 1, "groups": 2}
    inputs = [to_nr(a, requires_grad=True) for a in arrays]
    assert nr.autograd.gradgradcheck(lambda x, w, b: nr.conv2d(x, w, b, **attrs), inputs)
    arrays = _conv_case(2, 0, 1, 2, 2, (4, 5), (2, 2), False)  # unbatched, 'same', dilated
    inputs = [to_nr(a, requires_grad=True) for a in arrays]
    assert nr.autograd.gradgradcheck(lambda x, w: nr.conv2d(x, w, padding="same", dilation=2),
                                     inputs)


def test_conv2d_input_only_gradient() -> None:
    x = nr.randn(1, 2, 5, 5, requires_grad=True)
    w = nr.randn(3, 2, 3, 3)
    nr.conv2d(x, w).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape and w.grad is None


# -- conv_transpose2d -------------------------------------------------------------------------------
TRANSPOSE_CASES = [
    # batch, groups, in/group, out/group, size, kernel, stride, padding, output_padding, dilation
    (2, 1, 3, 2, (4, 5), (3, 3), 1, 0, 0, 1),
    (2, 2, 2, 3, (3, 4), (3, 2), 2, 1, 1, 1),
    (0, 1, 2, 2, (3, 3), (2, 2), 2, 0, 1, 1),  # unbatched
    (1, 1, 2, 2, (3, 3), (3, 3), 2, 1, 2, 3),  # output_padding >= stride, < dilation
    (1, 1, 1, 2, (3, 2), (2, 3), (1, 2), (1, 0), (0, 1), (2, 1)),
]


@pytest.mark.parametrize("batch,groups,in_g,out_g,size,kernel,stride,padding,output_padding,"
                         "dilation", TRANSPOSE_CASES)
def test_conv_transpose2d(batch: int, groups: int, in_g: int, out_g: int,
                          size: tuple[int, int], kernel: tuple[int, int], stride: Any,
                          padding: Any, output_padding: Any, dilation: Any) -> None:
    x = random_array(rng, ((batch,) if batch else ()) + (in_g * groups, *size))
    w = random_array(rng, (in_g * groups, out_g, *kernel))
    b = random_array(rng, (out_g * groups,))
    attrs = {"stride": stride, "padding": padding, "output_padding": output_padding, "groups": groups,
                 "dilation": dilation}
    check_op(lambda m, *xs: m.conv_transpose2d(*xs, **attrs), [x, w, b],
             lambda *xs: ref_conv_transpose(*xs, **attrs))


@settings(max_examples=20, deadline=None)
@given(conv_configs(2), st.data())
def test_conv_transpose2d_random_configs(cfg: dict[str, Any], data: Any) -> None:
    extra = tuple(data.draw(st.integers(0, max(s, d) - 1))
                  for s, d in zip(cfg["stride"], cfg["dilation"]))
    x = random_array(rng, ((cfg["batch"],) if cfg["batch"] else ())
                     + (cfg["ch_g"] * cfg["groups"], *[min(v, 3) for v in cfg["size"]]))
    w = random_array(rng, (cfg["ch_g"] * cfg["groups"], cfg["out_g"], *cfg["kernel"]))
    attrs = {"stride": cfg["stride"], "padding": cfg["padding"], "output_padding": extra,
                 "groups": cfg["groups"], "dilation": cfg["dilation"]}
    expected = ref_conv_transpose(x, w, **attrs)
    if min(expected.shape[-2:]) < 1:
        return  # PyTorch rejects an empty output too (tested below)
    check_op(lambda m, *xs: m.conv_transpose2d(*xs, **attrs), [x, w],
             lambda *xs: ref_conv_transpose(*xs, **attrs))


def test_conv_transpose2d_is_the_input_gradient_of_conv2d() -> None:
    x = nr.randn(2, 4, 7, 9, requires_grad=True)  # W: the last column is in no window
    w = nr.randn(6, 2, 3, 2)
    y = nr.conv2d(x, w, stride=2, padding=1, groups=2)
    g = nr.randn(*y.shape)
    (gx,) = nr.autograd.grad([y], [x], [g])
    expected = nr.conv_transpose2d(g, w, stride=2, padding=1, output_padding=(0, 1), groups=2)
    np.testing.assert_allclose(gx.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_conv_transpose2d_double_backward() -> None:
    x = to_nr(random_array(rng, (1, 2, 3, 3)), requires_grad=True)
    w = to_nr(random_array(rng, (2, 1, 3, 3)), requires_grad=True)
    b = to_nr(random_array(rng, (2,)), requires_grad=True)
    assert nr.autograd.gradgradcheck(
        lambda x, w, b: nr.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                            groups=2), [x, w, b])


# -- conv2d_weight (the weight gradient as an op) -------------------------------------------------
def _torch_conv_weight(m: Any, n: int) -> Any:
    if m is nr:
        return getattr(nr, f"conv{n}d_weight")
    return getattr(m.nn.grad, f"conv{n}d_weight")


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 0, 1, 1), (2, 1, 1, 2),
                                                            (1, 1, 2, 1), (2, 0, 1, 1)])
def test_conv2d_weight(stride: int, padding: int, dilation: int, groups: int) -> None:
    x = random_array(rng, (2, 2 * groups, 6, 5))
    weight_size = (2 * groups, 2, 3, 2)
    out = ref_conv(x, np.zeros(weight_size), stride=stride, padding=padding, dilation=dilation,
                   groups=groups)
    g = random_array(rng, out.shape)
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}

    def reference(x: np.ndarray, g: np.ndarray) -> np.ndarray:  # d(sum(conv * g))/dw
        basis = np.eye(int(np.prod(weight_size))).reshape((-1,) + weight_size)
        return np.array([(ref_conv(x, e, **attrs) * g).sum() for e in basis]).reshape(weight_size)

    check_op(lambda m, x, g: _torch_conv_weight(m, 2)(x, weight_size, g, **attrs), [x, g],
             reference)


def test_conv2d_weight_double_backward() -> None:
    x = to_nr(random_array(rng, (1, 2, 5, 4)), requires_grad=True)
    g = to_nr(random_array(rng, (1, 4, 2, 3)), requires_grad=True)
    assert nr.autograd.gradgradcheck(
        lambda x, g: nr.conv2d_weight(x, (4, 1, 3, 2), g, stride=2, padding=(0, 1), groups=2),
        [x, g])


# -- conv1d -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch,groups,stride,padding,dilation,bias", [
    (2, 1, 1, 0, 1, True), (0, 2, 2, 1, 1, False), (1, 1, 1, "same", 2, True),
    (1, 2, 3, "valid", 1, True),
])
def test_conv1d(batch: int, groups: int, stride: int, padding: Any, dilation: int,
                bias: bool) -> None:
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    check_op(lambda m, *xs: m.conv1d(*xs, **attrs),
             _conv_case(1, batch, groups, 2, 2, (7,), (3,), bias),
             lambda *xs: ref_conv(*xs, **attrs))


def test_conv_transpose1d_and_weight() -> None:
    x, w, b = random_array(rng, (2, 2, 4)), random_array(rng, (2, 3, 3)), random_array(rng, (3,))
    attrs = {"stride": 2, "padding": 1, "output_padding": 1}
    check_op(lambda m, *xs: m.conv_transpose1d(*xs, **attrs), [x, w, b],
             lambda *xs: ref_conv_transpose(*xs, **attrs))
    x7, g = random_array(rng, (2, 2, 7)), random_array(rng, (2, 3, 3))
    check_op(lambda m, x, g: _torch_conv_weight(m, 1)(x, (3, 2, 3), g, stride=2), [x7, g], None)
    xt = to_nr(random_array(rng, (1, 2, 5)), requires_grad=True)
    wt = to_nr(random_array(rng, (4, 1, 2)), requires_grad=True)
    assert nr.autograd.gradgradcheck(lambda x, w: nr.conv1d(x, w, stride=2, groups=2), [xt, wt])


# -- errors -------------------------------------------------------------------------------------------
def test_conv2d_channel_mismatch_message() -> None:
    with pytest.raises(ShapeError) as err:
        nr.conv2d(nr.zeros(8, 3, 28, 28), nr.zeros(16, 1, 3, 3))
    lines = str(err.value).splitlines()
    assert lines[0] == "conv2d: input channels must match the weight"
    assert "input: f32[8, 3, 28, 28]   weight: f32[16, 1, 3, 3]" in lines[1]
    assert "expected in_channels == weight.shape[1] * groups, got 3 != 1 * 1" in str(err.value)
    assert "hint: weight is (out_channels, in_channels / groups, *kernel_size)" in str(err.value)


@pytest.mark.parametrize("call,message", [
    (lambda: nr.conv2d(nr.zeros(1, 1, 2, 2), nr.zeros(1, 1, 3, 3)),
     "conv2d: the output size must be at least 1: the kernel is larger than the padded input"),
    (lambda: nr.conv2d(nr.zeros(1, 4, 5, 5), nr.zeros(3, 2, 3, 3), groups=2),
     "conv2d: out_channels must be divisible by groups"),
    (lambda: nr.conv2d(nr.zeros(1, 4, 5, 5), nr.zeros(4, 4, 3, 3), groups=2),
     "conv2d: input channels must match the weight"),
    (lambda: nr.conv2d(nr.zeros(1, 1, 5, 5), nr.zeros(2, 1, 3, 3), nr.zeros(3)),
     "conv2d: bias must have one entry per output channel"),
    (lambda: nr.conv2d(nr.zeros(1, 5, 5), nr.zeros(2, 1, 3)),
     "conv2d: expected a 4-d weight"),
    (lambda: nr.conv2d(nr.zeros(5, 5), nr.zeros(2, 1, 3, 3)),
     "conv2d: expected a 3-d (unbatched) or 4-d (batched) input"),
    (lambda: nr.conv2d(nr.zeros(1, 1, 5, 5), nr.zeros(2, 1, 3, 3), stride=0),
     "conv2d: stride must be positive"),
    (lambda: nr.conv_transpose2d(nr.zeros(1, 2, 3, 3), nr.zeros(3, 1, 3, 3)),
     "conv_transpose2d: input channels must match the weight"),
    (lambda: nr.conv_transpose2d(nr.zeros(1, 1, 1, 1), nr.zeros(1, 1, 1, 1), padding=1),
     "conv_transpose2d: the output size must be at least 1"),
    (lambda: nr.conv1d(nr.zeros(1, 2, 5), nr.zeros(1, 1, 3)),
     "conv1d: input channels must match the weight"),
])
def test_conv_shape_errors(call: Any, message: str) -> None:
    with pytest.raises(ShapeError) as err:
        call()
    assert str(err.value).splitlines()[0] == message


@pytest.mark.parametrize("call,match", [
    (lambda: nr.conv2d(nr.zeros(1, 1, 5, 5), nr.zeros(1, 1, 3, 3), stride=2, padding="same"),
     "padding='same' is not supported for strided convolutions"),
    (lambda: nr.conv2d(nr.zeros(1, 1, 5, 5), nr.zeros(1, 1, 3, 3), padding="full"),
     "invalid padding string 'full'"),
    (lambda: nr.conv2d(nr.zeros(1, 1, 5, 5), nr.zeros(1, 1, 3, 3), padding=-1),
     "negative padding is not supported"),
    (lambda: nr.conv2d(nr.zeros(1, 1, 5, 5), nr.zeros(1, 1, 3, 3), stride=(1, 2, 3)),
     "expected stride to be an int or a tuple of 2 ints"),
    (lambda: nr.conv_transpose2d(nr.zeros(1, 1, 3, 3), nr.zeros(1, 1, 3, 3), stride=2,
                                 output_padding=2),
     "output padding must be smaller than either stride or dilation"),
])
def test_conv_argument_errors(call: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_conv_dtype_errors() -> None:
    with pytest.raises(DTypeError, match="floating point tensors of one dtype"):
        nr.conv2d(nr.zeros(1, 1, 3, 3), nr.zeros(1, 1, 3, 3, dtype=nr.float64))
    with pytest.raises(DTypeError, match="floating point"):
        nr.conv2d(nr.zeros(1, 1, 3, 3, dtype=nr.int64), nr.zeros(1, 1, 3, 3, dtype=nr.int64))


@pytest.mark.skipif(not HAS_TORCH, reason="needs PyTorch")
def test_same_padding_matches_torch_for_even_kernels() -> None:
    import torch

    x, w = random_array(rng, (1, 1, 6, 7)), random_array(rng, (1, 1, 4, 2))
    ours = nr.conv2d(to_nr(x), to_nr(w), padding="same", dilation=(1, 3)).numpy()
    theirs = torch.conv2d(torch.tensor(x), torch.tensor(w), padding="same", dilation=(1, 3))
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6, atol=1e-6)


# -- the rule read by other algebras ---------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 5), st.integers(1, 3), st.integers(0, 2),
       st.integers(1, 2))
def test_conv2d_rule_symbolic_agrees_with_concrete(size: int, k: int, s: int, p: int,
                                                   d: int) -> None:
    symbolic = pytest.importorskip("neurarust.types.symbolic")
    dims = symbolic.SymbolicAlgebra()
    H, B = dims.dim("H"), dims.dim("B")
    attrs = {"stride": (s, 1), "padding": ((p, p), (0, 0)), "dilation": (d, 1), "groups": 1}
    out = get("conv2d").shape(dims, (B, 3, H, 9), (8, 3, k, 1), None, **attrs)
    if size + 2 * p < d * (k - 1) + 1:
        with pytest.raises(ShapeError):
            nr.conv2d(nr.zeros(1, 3, size, 9), nr.zeros(8, 3, k, 1), stride=(s, 1),
                      padding=(p, 0), dilation=(d, 1))
        return
    concrete = get("conv2d").shape(CONCRETE, (2, 3, size, 9), (8, 3, k, 1), None, **attrs)
    assert out[2].evaluate({"H": size, "B": 2}) == concrete[2]
    assert concrete == nr.conv2d(nr.zeros(2, 3, size, 9), nr.zeros(8, 3, k, 1), stride=(s, 1),
                                 padding=(p, 0), dilation=(d, 1)).shape


def test_conv_rules_under_z3() -> None:
    z3_algebra = pytest.importorskip("neurarust.types.z3_algebra")
    dims = z3_algebra.Z3Algebra()
    B, C, H, W = (dims.dim(n) for n in "BCHW")
    attrs = {"stride": (2, 2), "padding": ((1, 1), (1, 1)), "dilation": (1, 1), "groups": 1}
    out = get("conv2d").shape(dims, (B, C, H, W), (16, C, 3, 3), None, **attrs)
    assert len(out) == 4
    get("conv_transpose2d").shape(dims, (B, C, H, W), (C, 4, 3, 3), None, **attrs)
    get("conv2d_weight").shape(dims, (B, C, H, W), (B, 16, H, W), kernel_size=(3, 3),
                               **{**attrs, "stride": (1, 1)})


# -- pooling ----------------------------------------------------------------------------------------
def _functional(m: Any) -> Any:
    """Where the pooling functions live: ``nr`` itself, ``torch.nn.functional`` for torch."""
    return m if m is nr else m.nn.functional


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = d * (k - 1) + 1
    out = -(-(size + 2 * p - span) // s) + 1 if ceil_mode else (size + 2 * p - span) // s + 1
    return out - 1 if ceil_mode and (out - 1) * s >= size + p else out


def ref_pool(x: np.ndarray, kernel: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
             ceil_mode: bool = False, mode: str = "max", count_include_pad: bool = True,
             divisor_override: int | None = None, n: int = 2) -> np.ndarray:
    k = _tup(kernel, n)
    s = k if stride is None else _tup(stride, n)
    p, d = _tup(padding, n), _tup(dilation, n)
    sizes = x.shape[-n:]
    outs = [_pool_out(sizes[i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(n)]
    out = np.zeros(x.shape[:-n] + tuple(outs))
    for pos in itertools.product(*map(range, outs)):
        coords = [[o * s[i] - p[i] + j * d[i] for j in range(k[i])] for i, o in enumerate(pos)]
        inside = [[c for c in cs if 0 <= c < sizes[i]] for i, cs in enumerate(coords)]
        window = x[(...,) + np.ix_(*inside)].reshape(x.shape[:-n] + (-1,))
        if mode == "max":  # a dilated window may hold padding only: -inf
            out[(...,) + pos] = window.max(-1) if window.shape[-1] else -np.inf
            continue
        if divisor_override is not None:
            div = divisor_override
        elif count_include_pad:
            div = int(np.prod([min(cs[-1] + 1, sizes[i] + p[i]) - cs[0]
                               for i, cs in enumerate(coords)]))
        else:
            div = window.shape[-1]
        out[(...,) + pos] = window.sum(-1) / div
    return out


MAX_POOL_CASES = [
    # shape, kernel, stride, padding, dilation, ceil_mode
    ((2, 3, 6, 6), 2, None, 0, 1, False),  # the classic 2x2 / 2
    ((2, 2, 7, 7), 3, 2, 1, 1, False),
    ((2, 2, 7, 7), 3, 2, 1, 1, True),
    ((3, 6, 5), 2, None, 0, 1, True),  # unbatched, a partial last window
    ((1, 2, 8, 7), (3, 2), (2, 1), (1, 0), (2, 1), True),
    ((1, 1, 5, 4), (2, 3), 1, (1, 1), 1, False),
]


@pytest.mark.parametrize("shape,kernel,stride,padding,dilation,ceil_mode", MAX_POOL_CASES)
def test_max_pool2d(shape: tuple[int, ...], kernel: Any, stride: Any, padding: Any,
                    dilation: Any, ceil_mode: bool) -> None:
    x = random_array(rng, shape)
    args = (kernel, stride, padding, dilation, ceil_mode)
    check_op(lambda m, x: _functional(m).max_pool2d(x, *args), [x],
             lambda x: ref_pool(x, *args))
    check_op(lambda m, x: _functional(m).max_pool2d(x, *args, return_indices=True)[1], [x],
             None, grad=False)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("shape,kernel,stride,padding,ceil_mode,divisor_override", [
    ((2, 3, 6, 6), 2, None, 0, False, None),
    ((2, 2, 7, 7), 3, 2, 1, False, None),
    ((2, 2, 7, 7), 3, 2, 1, True, None),
    ((3, 6, 5), 2, None, 1, True, None),
    ((1, 2, 8, 7), (3, 2), (2, 1), (1, 0), True, 4),
])
def test_avg_pool2d(shape: tuple[int, ...], kernel: Any, stride: Any, padding: Any,
                    ceil_mode: bool, divisor_override: int | None, count_include_pad: bool) -> None:
    x = random_array(rng, shape)
    args = (kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    check_op(lambda m, x: _functional(m).avg_pool2d(x, *args), [x],
             lambda x: ref_pool(x, kernel, stride, padding, 1, ceil_mode, "avg", count_include_pad,
                                divisor_override))


@st.composite
def pool_configs(draw: Any) -> dict[str, Any]:
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(2))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(2))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 3))
                 for k, d, p in zip(kernel, dilation, padding))
    return {"shape": (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + size,
            "kernel": kernel, "stride": tuple(draw(st.integers(1, 3)) for _ in range(2)),
            "padding": padding, "dilation": dilation, "ceil_mode": draw(st.booleans())}


@settings(max_examples=25, deadline=None)
@given(pool_configs(), st.booleans())
def test_pool2d_random_configs(cfg: dict[str, Any], count_include_pad: bool) -> None:
    x = random_array(rng, cfg["shape"])
    args = (cfg["kernel"], cfg["stride"], cfg["padding"], cfg["dilation"], cfg["ceil_mode"])
    if np.isfinite(ref_pool(x, *args)).all():  # padding-only windows: tested on their own
        check_op(lambda m, x: _functional(m).max_pool2d(x, *args), [x],
                 lambda x: ref_pool(x, *args))
    avg = (cfg["kernel"], cfg["stride"], cfg["padding"], cfg["ceil_mode"], count_include_pad)
    check_op(lambda m, x: _functional(m).avg_pool2d(x, *avg), [x],
             lambda x: ref_pool(x, cfg["kernel"], cfg["stride"], cfg["padding"], 1,
                                cfg["ceil_mode"], "avg", count_include_pad))


def test_pool1d() -> None:
    x = random_array(rng, (2, 3, 9))
    check_op(lambda m, x: _functional(m).max_pool1d(x, 3, 2, 1, 1, True), [x],
             lambda x: ref_pool(x, 3, 2, 1, 1, True, n=1))
    check_op(lambda m, x: _functional(m).avg_pool1d(x, 3, 2, 1, True, False), [x],
             lambda x: ref_pool(x, 3, 2, 1, 1, True, "avg", False, n=1))


def test_max_pool_windows_of_padding_only() -> None:
    # dilation 3 steps over a 2-row input: every window holds padding only, as in PyTorch the
    # output is -inf and no gradient flows; the index is -1 (PyTorch's is out of range).
    x = nr.randn(1, 1, 2, 7, requires_grad=True)
    out = nr.max_pool2d(x, 2, 2, 1, 3, ceil_mode=True)
    assert np.all(out.detach().numpy() == -np.inf)
    out.sum().backward()
    assert x.grad is not None and not np.any(x.grad.numpy())
    _, index = nr.max_pool2d(x, 2, 2, 1, 3, ceil_mode=True, return_indices=True)
    assert np.all(index.numpy() == -1)


def test_max_pool_minus_inf_inputs_pick_an_input_element() -> None:
    x = np.array([[[-np.inf, -np.inf, 1.0, -np.inf]]])
    check_op(lambda m, x: _functional(m).max_pool1d(x, 3, 1, 1, return_indices=True)[1], [x],
             None, grad=False)


def test_pool_double_backward() -> None:
    x = to_nr(random_array(rng, (1, 2, 5, 5)), requires_grad=True)
    assert nr.autograd.gradgradcheck(lambda x: nr.max_pool2d(x, 3, 2, 1) ** 2, [x])
    assert nr.autograd.gradgradcheck(
        lambda x: nr.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False) ** 2, [x])


@pytest.mark.parametrize("call,message", [
    (lambda: nr.max_pool2d(nr.zeros(1, 1, 5, 5), 3, padding=2),
     "max_pool2d: pad should be at most half of kernel size"),
    (lambda: nr.avg_pool2d(nr.zeros(1, 1, 5, 5), 3, padding=2),
     "avg_pool2d: pad should be at most half of kernel size"),
    (lambda: nr.max_pool2d(nr.zeros(1, 1, 2, 2), 3),
     "max_pool2d: the output size must be at least 1: the window is larger than the padded input"),
    (lambda: nr.max_pool2d(nr.zeros(5, 5), 2), ("max_pool2d: expected a 3-d (unbatched) or 4-d "
                                               "(batched) input")),
    (lambda: nr.max_pool2d(nr.zeros(1, 1, 5, 5), 0), "max_pool2d: kernel_size must be positive"),
])
def test_pool_errors(call: Any, message: str) -> None:
    with pytest.raises(ShapeError) as err:
        call()
    assert str(err.value).splitlines()[0] == message


def test_pool_dtype_error() -> None:
    with pytest.raises(DTypeError, match="floating point"):
        nr.max_pool2d(nr.zeros(1, 1, 4, 4, dtype=nr.int64), 2)


# -- adaptive average pooling ---------------------------------------------------------------------
def ref_adaptive_avg_pool(x: np.ndarray, output_size: Sequence[int | None]) -> np.ndarray:
    n = len(output_size)
    sizes = x.shape[-n:]
    outs = [s if o is None else o for s, o in zip(sizes, output_size)]
    out = np.zeros(x.shape[:-n] + tuple(outs))
    for pos in itertools.product(*map(range, outs)):
        window = tuple(slice(i * s // o, -(-(i + 1) * s // o)) for i, s, o in zip(pos, sizes, outs))
        out[(...,) + pos] = x[(...,) + window].mean(axis=tuple(range(-n, 0)))
    return out


@pytest.mark.parametrize("shape,output_size", [
    ((2, 3, 7, 5), (3, 2)),
    ((3, 6, 5), 1),  # unbatched global average pooling
    ((1, 2, 5, 5), (None, 2)),
    ((2, 2, 4, 4), (4, 4)),
    ((1, 1, 3, 3), (5, 7)),  # upsampling: windows overlap
])
def test_adaptive_avg_pool2d(shape: tuple[int, ...], output_size: Any) -> None:
    sizes = (output_size,) * 2 if isinstance(output_size, int) else output_size
    check_op(lambda m, x: _functional(m).adaptive_avg_pool2d(x, output_size),
             [random_array(rng, shape)], lambda x: ref_adaptive_avg_pool(x, sizes))


def test_adaptive_avg_pool1d_and_double_backward() -> None:
    check_op(lambda m, x: _functional(m).adaptive_avg_pool1d(x, 3), [random_array(rng, (2, 3, 7))],
             lambda x: ref_adaptive_avg_pool(x, (3,)))
    x = to_nr(random_array(rng, (1, 2, 5, 4)), requires_grad=True)
    assert nr.autograd.gradgradcheck(lambda x: nr.adaptive_avg_pool2d(x, (2, 3)) ** 2, [x])


def test_adaptive_avg_pool_errors() -> None:
    with pytest.raises(ShapeError, match="adaptive_avg_pool2d: expected a 3-d"):
        nr.adaptive_avg_pool2d(nr.zeros(4, 4), 2)
    with pytest.raises(ShapeError, match="expected output_size to be 2 sizes >= 0"):
        nr.adaptive_avg_pool2d(nr.zeros(1, 4, 4), (-1, 2))
