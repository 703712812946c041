"""The training hot path's fast kernels (see bench/train.py): the ops added for it
(``threshold_backward``: relu's gradient; ``max_pool{1,2}d_backward``: max pooling's), and the
kernel rewrites that must not change results: batch-last convolutions with scratch buffers,
the flat scatter, the branch-free window argmax, gradient layouts, Adam's scratch.

Each new op: forward vs a loop-by-loop numpy reference (bit for bit, with nan, inf, -0.0 and
ties), gradients vs finite differences and PyTorch, double backward, errors.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust.kernels.cpu import conv as conv_kernels
from neurarust.types.errors import DTypeError, ShapeError
from tests.reference import HAS_TORCH, check_op, random_array, to_nr

rng = np.random.default_rng(7)


# -- threshold_backward -------------------------------------------------------------------------
def _threshold_backward(g: nr.Tensor, x: nr.Tensor, threshold: float = 0.0) -> nr.Tensor:
    return g._apply("threshold_backward", x, threshold=threshold)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_threshold_backward_is_where_bit_for_bit(dtype: Any) -> None:
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0], dtype=dtype)
    g = np.concatenate([specials, rng.standard_normal(40).astype(dtype)])
    x = np.concatenate([specials[::-1], rng.standard_normal(40).astype(dtype)])
    g2, x2 = np.stack([g, g], axis=1)[:, 1], np.stack([x, x], axis=1)[:, 0]  # strided views
    assert not g2.flags.c_contiguous
    for gi, xi in ((g, x), (g2, x2)):
        for threshold in (0.0, 0.5):
            out = _threshold_backward(to_nr(gi), to_nr(xi), threshold).numpy()
            expected = np.where(xi > threshold, gi, np.zeros((), dtype=dtype))
            assert out.dtype == dtype
            assert out.tobytes() == np.ascontiguousarray(expected).tobytes()


def test_threshold_backward_promotes_mixed_float_dtypes() -> None:
    out = _threshold_backward(to_nr(np.array([1.0, 2.0])),
                              to_nr(np.array([1.0, -1.0], dtype=np.float32)))
    assert out.dtype is nr.float64
    np.testing.assert_array_equal(out.numpy(), [1.0, 0.0])


def test_threshold_backward_gradients() -> None:
    x = random_array(rng, (3, 4))
    check_op(lambda m, g: _threshold_backward(g, to_nr(x)) if m is nr
             else m.ops.aten.threshold_backward(g, m.tensor(x), 0.0),
             [random_array(rng, (3, 4))], lambda g: np.where(x > 0, g, 0.0))
    xt = to_nr(x)
    gt = to_nr(random_array(rng, (3, 4)), requires_grad=True)
    assert nr.autograd.gradgradcheck(lambda g: _threshold_backward(g, xt) ** 2, [gt])


def test_relu_gradients_through_threshold_backward() -> None:
    x = random_array(rng, (4, 5))
    x[0, :2] = 0.0  # the kink: gradient 0, as PyTorch
    check_op(lambda m, x: m.relu(x) * x, [x], lambda x: np.maximum(x, 0) * x)
    xt = to_nr(x, requires_grad=True)
    assert nr.autograd.gradgradcheck(lambda x: nr.relu(x) ** 3, [xt])
    y = nr.relu(to_nr(np.array([-1.0, np.nan, 2.0]), requires_grad=True))
    assert y.grad_fn is not None


def test_threshold_backward_errors() -> None:
    with pytest.raises(ShapeError, match="threshold_backward: grad_output and input must have "
                                         "the same shape"):
        _threshold_backward(nr.zeros(2, 3), nr.zeros(3, 2))
    with pytest.raises(DTypeError, match="threshold_backward: expects floating point"):
        _threshold_backward(nr.zeros(2, dtype=nr.int64), nr.zeros(2, dtype=nr.int64))


# -- max_pool backward --------------------------------------------------------------------------
def _ref_pool_grad(x: np.ndarray, g: np.ndarray, k: tuple[int, ...], s: tuple[int, ...],
                   p: tuple[int, ...], d: tuple[int, ...]) -> np.ndarray:
    """Loop reference: each output's gradient added at its window's first maximum (nan is
    the largest; windows without an input element pass nothing)."""
    n = len(k)
    out = np.zeros_like(x)
    lead = x.shape[:-n]
    for idx in itertools.product(*(range(v) for v in lead)):
        for o in itertools.product(*(range(v) for v in g.shape[-n:])):
            best, where = None, None
            for off in itertools.product(*(range(v) for v in k)):
                pos = tuple(oi * si + ki * di - pi for oi, si, ki, di, pi in zip(o, s, off, d, p))
                if not all(0 <= q < size for q, size in zip(pos, x.shape[-n:])):
                    continue
                v = x[idx + pos]
                if best is None or (not np.isnan(best) and (v > best or np.isnan(v))):
                    best, where = v, pos
            if where is not None:
                out[idx + where] += g[idx + o]
    return out


POOL_CASES = [  # (input shape, kernel, stride, padding, dilation, ceil_mode)
    ((2, 3, 6, 6), (2, 2), (2, 2), (0, 0), (1, 1), False),  # the CNN's: disjoint, no padding
    ((2, 3, 7, 5), (2, 2), (2, 2), (0, 0), (1, 1), True),  # odd sizes, ceil: windows overhang
    ((1, 2, 7, 7), (3, 3), (2, 2), (1, 1), (1, 1), False),  # overlapping windows, padding
    ((1, 2, 8, 7), (2, 3), (1, 2), (1, 0), (2, 1), True),  # dilation, mixed
    ((3, 9), (3,), (3,), (1,), (1,), False),  # unbatched 1-d with padding
    ((2, 2, 10), (2,), (1,), (0,), (3,), False),  # 1-d, dilated, overlapping
]


@pytest.mark.parametrize("shape,k,s,p,d,ceil", POOL_CASES)
def test_max_pool_backward_matches_loop_reference(shape: tuple[int, ...], k: Any, s: Any,
                                                  p: Any, d: Any, ceil: bool) -> None:
    n = len(k)
    fn = nr.max_pool1d if n == 1 else nr.max_pool2d
    for trial in range(3):
        x = rng.integers(-2, 3, shape).astype(np.float64)  # many ties
        if trial == 2:
            x[rng.random(shape) < 0.15] = np.nan
        xt = to_nr(x, requires_grad=True)
        y = fn(xt, k, s, p, d, ceil)
        g = rng.standard_normal(y.shape)
        y.backward(to_nr(g))
        assert xt.grad is not None
        np.testing.assert_array_equal(xt.grad.numpy(), _ref_pool_grad(x, g, k, s, p, d))


@pytest.mark.parametrize("shape,k,s,p,d,ceil", POOL_CASES[:4])
def test_max_pool_gradients_vs_torch_and_double_backward(shape: tuple[int, ...], k: Any,
                                                         s: Any, p: Any, d: Any,
                                                         ceil: bool) -> None:
    x = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64) / 7  # no ties
    check_op(lambda m, x: m.nn.functional.max_pool2d(x, k, s, p, d, ceil), [x], None)
    xt = to_nr(x, requires_grad=True)
    assert nr.autograd.gradgradcheck(lambda x: nr.max_pool2d(x, k, s, p, d, ceil) ** 2, [xt])


def test_max_pool_backward_op_errors() -> None:
    attrs: dict[str, Any] = {"kernel_size": (2, 2), "stride": (2, 2), "padding": (0, 0),
                             "dilation": (1, 1), "ceil_mode": False}
    with pytest.raises(ShapeError, match="max_pool2d_backward: grad_output must have the shape "
                                         "of the pooled input"):
        nr.zeros(1, 1, 3, 3)._apply("max_pool2d_backward", nr.zeros(1, 1, 4, 4), **attrs)
    with pytest.raises(DTypeError, match="max_pool2d_backward"):
        nr.zeros(1, 1, 2, 2)._apply("max_pool2d_backward", nr.zeros(1, 1, 4, 4, dtype=nr.float64),
                                    **attrs)


# -- convolution kernels: batch-last layout, scratch buffers --------------------------------------
def test_conv_results_never_alias_scratch() -> None:
    x1, x2 = (to_nr(random_array(rng, (2, 3, 7, 7)).astype(np.float32)) for _ in range(2))
    w = to_nr(random_array(rng, (4, 3, 3, 3)).astype(np.float32))
    g = to_nr(random_array(rng, (2, 4, 5, 5)).astype(np.float32))
    calls = [
        lambda x: nr.conv2d(x, w, padding=1),
        lambda x: nr.conv_transpose2d(nr.conv2d(x, w), w),
        lambda x: x._apply("conv2d_weight", g, kernel_size=(3, 3), stride=(1, 1),
                           padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1),
    ]
    for call in calls:
        first = call(x1)
        kept = first.numpy().copy()
        call(x2)  # the same sizes: reuses every scratch buffer
        np.testing.assert_array_equal(first.numpy(), kept)


def test_conv_kernels_in_threads_match_serial() -> None:
    xs = [random_array(rng, (3, 4, 9, 9)).astype(np.float32) for _ in range(4)]
    w = random_array(rng, (6, 2, 3, 3)).astype(np.float32)
    attrs: dict[str, Any] = {"stride": (2, 1), "padding": ((1, 0), (2, 1)),
                             "dilation": (1, 2), "groups": 2}
    serial = [conv_kernels.conv(x, w, None, **attrs) for x in xs]
    results: list[Any] = [None] * len(xs)

    def work(i: int) -> None:
        for _ in range(20):
            results[i] = conv_kernels.conv(xs[i], w, None, **attrs)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(results, serial):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not HAS_TORCH, reason="needs the PyTorch oracle")
@pytest.mark.parametrize("stride,padding,dilation,groups", [
    ((1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    ((2, 1), ((1, 2), (0, 1)), (1, 2), 2),
    ((1, 3), ((-1, 0), (2, -1)), (2, 1), 1),  # negative pads crop, as inside gradients
])
def test_conv_kernels_vs_torch(stride: Any, padding: Any, dilation: Any, groups: int) -> None:
    import torch

    x = random_array(rng, (3, 4, 8, 9))
    w = random_array(rng, (6, 4 // groups, 3, 2))
    b = random_array(rng, (6,))
    attrs: dict[str, Any] = {"stride": stride, "padding": padding, "dilation": dilation,
                             "groups": groups}
    tx = torch.nn.functional.pad(torch.tensor(x), [padding[1][0], padding[1][1],
                                                   padding[0][0], padding[0][1]])
    expected = torch.nn.functional.conv2d(tx, torch.tensor(w), torch.tensor(b), stride,
                                          0, dilation, groups).numpy()
    out = conv_kernels.conv(x, w, b, **attrs)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    g = random_array(rng, out.shape)
    gw = conv_kernels.conv_weight(x, g, kernel_size=(3, 2), **attrs)
    tw = torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(tx, tw, None, stride, 0, dilation, groups).backward(
        torch.tensor(g))
    assert tw.grad is not None
    np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-10, atol=1e-10)


# -- scatter's flat assignment --------------------------------------------------------------------
@pytest.mark.parametrize("order", ["C", "F"])
def test_scatter_last_write_wins_in_index_order(order: str) -> None:
    a = np.asarray(random_array(rng, (3, 4, 5)), order=order)
    index = rng.integers(0, 4, (3, 6, 2))  # duplicates along dim 1, smaller elsewhere
    src = random_array(rng, (3, 6, 3))
    expected = a.copy()
    for i, j, k in itertools.product(*(range(v) for v in index.shape)):
        expected[i, index[i, j, k], k] = src[i, j, k]
    out = to_nr(a).scatter(1, to_nr(index), to_nr(src)).numpy()
    np.testing.assert_array_equal(out, expected)


# -- gradient layout and the optimizer ------------------------------------------------------------
def test_linear_weight_grad_has_the_weight_layout() -> None:
    lin = nr.nn.Linear(5, 3)
    lin(to_nr(random_array(rng, (4, 5)).astype(np.float32))).sum().backward()
    assert lin.weight.grad is not None
    assert lin.weight.grad.numpy().flags.c_contiguous


def test_adam_steps_params_of_many_shapes_as_separate_optimizers() -> None:
    shapes = [(7, 3), (3, 7), (5,), (2, 3, 4)]
    values = [random_array(rng, s).astype(np.float32) for s in shapes]
    grads = [[random_array(rng, s).astype(np.float32) for s in shapes] for _ in range(3)]
    together = [to_nr(v.copy(), requires_grad=True) for v in values]
    apart = [to_nr(v.copy(), requires_grad=True) for v in values]
    opt = nr.optim.Adam(together, lr=0.1, amsgrad=True)
    opts = [nr.optim.Adam([p], lr=0.1, amsgrad=True) for p in apart]
    for step in grads:
        for p, q, g in zip(together, apart, step):
            p.grad, q.grad = to_nr(g.copy()), to_nr(np.asfortranarray(g))
        opt.step()
        for o in opts:
            o.step()
    for p, q in zip(together, apart):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_where_with_a_python_scalar_keeps_the_tensor_dtype() -> None:
    cond = to_nr(np.array([True, False, True]))
    x = to_nr(np.array([1.5, -2.0, 3.0], dtype=np.float32))
    out = nr.where(cond, x, 0.1)
    assert out.dtype is nr.float32
    np.testing.assert_array_equal(out.numpy(), np.where([True, False, True], x.numpy(),
                                                        np.float32(0.1)))
    ints = nr.where(cond, to_nr(np.array([1, 2, 3])), 0.5)
    assert ints.dtype is nr.get_default_dtype()
    np.testing.assert_array_equal(ints.numpy(), [1.0, 0.5, 3.0])
