"""Losses: functional forms and modules vs PyTorch in float64 (values and input gradients for
every reduction, class weights, ignore_index, label smoothing, probability targets,
pos_weight, log targets), finite differences on small cases, stable extremes, and error
messages."""

# ruff: noqa: B023

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust.functions import apply
from neurarust.nn import functional as F
from tests.nn._torch_compare import compare_layer, layer
from tests.reference import _check_torch, check_op

torch = pytest.importorskip("torch")

rng = np.random.default_rng(11)
REDUCTIONS = ["none", "mean", "sum"]


def vs_torch(fn: Callable[..., Any], *arrays: np.ndarray, atol: float = 1e-12,
             rtol: float = 1e-10, grad_inputs: int = 2) -> None:
    """Forward and the gradients of the float inputs among the first ``grad_inputs`` (input
    and target; PyTorch refuses gradients for class weights) vs PyTorch."""
    float_pos = [i for i, a in enumerate(arrays[:grad_inputs]) if a.dtype.kind == "f"]
    _check_torch(fn, list(arrays), float_pos, True, atol, rtol)


def logits(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape) * 2


def classes(n: int, *shape: int) -> np.ndarray:
    return rng.integers(0, n, size=shape).astype(np.int64)


def probabilities(*shape: int, dim: int = 1) -> np.ndarray:
    e = np.exp(rng.standard_normal(shape))
    return e / e.sum(dim, keepdims=True)


# -- regression losses --------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kwargs", [("mse_loss", {}), ("l1_loss", {}),
                                         ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5}),
                                         ("smooth_l1_loss", {"beta": 0.0}),
                                         ("huber_loss", {"delta": 0.7})])
def test_regression_losses(name: str, kwargs: dict[str, Any], reduction: str) -> None:
    x, y = logits(3, 4), logits(3, 4)
    fn = lambda lib, a, b: getattr(lib.nn.functional, name)(a, b, reduction=reduction, **kwargs)
    check_op(fn, [x, y], atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_weighted_regression_losses(name: str, reduction: str) -> None:
    x, y, w = logits(2, 3), logits(2, 3), rng.uniform(0.1, 2.0, (2, 3))
    vs_torch(lambda lib, a, b, c: getattr(lib.nn.functional, name)(a, b, reduction=reduction,
                                                                    weight=c), x, y, w)


def test_regression_gradient_at_zero_difference() -> None:
    x = np.array([1.0, 2.0, 3.0])
    for name in ("l1_loss", "smooth_l1_loss", "huber_loss"):
        vs_torch(lambda lib, a, b: getattr(lib.nn.functional, name)(a, b), x, x.copy())


def test_mse_broadcast_warns_like_torch() -> None:
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(nr.zeros(3, 2), nr.zeros(2))


def test_legacy_size_average_and_reduce() -> None:
    x, y = logits(2, 3), logits(2, 3)
    for size_average, reduce in [(False, None), (None, False), (True, True)]:
        with pytest.warns(UserWarning, match="size_average and reduce"):
            ours = F.mse_loss(nr.tensor(x), nr.tensor(y), size_average, reduce)
        with pytest.warns(UserWarning):
            theirs = torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y), size_average,
                                                  reduce)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


# -- cross entropy and nll ----------------------------------------------------------------------
CE_CASES: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = [
    ("batch", (4, 5), (4,)), ("spatial", (2, 3, 2, 2), (2, 2, 2)), ("unbatched", (5,), ()),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case,in_shape,t_shape", CE_CASES)
def test_cross_entropy_class_indices(case: str, in_shape: tuple[int, ...],
                                     t_shape: tuple[int, ...], reduction: str) -> None:
    c = in_shape[0] if len(in_shape) == 1 else in_shape[1]
    x, t = logits(*in_shape), classes(c, *t_shape)
    fn = lambda lib, a, b: lib.nn.functional.cross_entropy(a, b, reduction=reduction)
    vs_torch(fn, x, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_weight_ignore_index_smoothing(reduction: str, smoothing: float) -> None:
    x, t, w = logits(6, 4), np.array([0, 3, -100, 2, 1, -100]), rng.uniform(0.2, 2.0, 4)
    fn = lambda lib, a, b, c: lib.nn.functional.cross_entropy(
        a, b, weight=c, reduction=reduction, label_smoothing=smoothing)
    vs_torch(fn, x, t, w)
    fn2 = lambda lib, a, b: lib.nn.functional.cross_entropy(
        a, b, ignore_index=1, reduction=reduction, label_smoothing=smoothing)
    vs_torch(fn2, x, np.array([0, 1, 3, 2, 1, 1]))


def test_cross_entropy_spatial_with_weight_and_smoothing() -> None:
    x, t, w = logits(2, 3, 2, 2), classes(3, 2, 2, 2), rng.uniform(0.2, 2.0, 3)
    t[0, 0, 0] = -100
    vs_torch(lambda lib, a, b, c: lib.nn.functional.cross_entropy(a, b, c,
                                                                  label_smoothing=0.1), x, t, w)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_class_probabilities(reduction: str, smoothing: float,
                                           weighted: bool) -> None:
    x, p, w = logits(3, 4), probabilities(3, 4), rng.uniform(0.2, 2.0, 4)

    def fn(lib: Any, a: Any, b: Any, c: Any) -> Any:
        return lib.nn.functional.cross_entropy(a, b, weight=c if weighted else None,
                                               reduction=reduction, label_smoothing=smoothing)

    vs_torch(fn, x, p, w)
    vs_torch(lambda lib, a, b: lib.nn.functional.cross_entropy(a, b, reduction=reduction),
             logits(2, 3, 2), probabilities(2, 3, 2))


def test_cross_entropy_finite_differences() -> None:
    t = np.array([1, 0, 2])
    check_op(lambda lib, a: lib.nn.functional.cross_entropy(a, lib.tensor(t),
                                                            label_smoothing=0.1),
             [logits(3, 3)], torch_check=False)


def test_cross_entropy_is_stable_for_huge_logits() -> None:
    x = np.array([[1000.0, -1000.0, 0.0], [-800.0, 800.0, 799.0]])
    vs_torch(lambda lib, a, b: lib.nn.functional.cross_entropy(a, b), x, np.array([0, 2]))


def test_cross_entropy_all_ignored_is_nan_like_torch() -> None:
    out = F.cross_entropy(nr.tensor(logits(2, 3)), nr.tensor([-100, -100]))
    assert np.isnan(out.item())


def test_cross_entropy_float32() -> None:
    x, t = logits(4, 5).astype(np.float32), classes(5, 4)
    _check_torch(lambda lib, a, b: lib.nn.functional.cross_entropy(a, b), [x, t], [0], True,
                 1e-6, 1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction: str) -> None:
    logp = np.log(probabilities(5, 4))
    t, w = np.array([0, 3, -100, 2, 1]), rng.uniform(0.2, 2.0, 4)
    vs_torch(lambda lib, a, b: lib.nn.functional.nll_loss(a, b, reduction=reduction), logp, t)
    vs_torch(lambda lib, a, b, c: lib.nn.functional.nll_loss(a, b, c, reduction=reduction),
             logp, t, w)
    vs_torch(lambda lib, a, b: lib.nn.functional.nll_loss(a, b, reduction=reduction),
             np.log(probabilities(2, 3, 2)), classes(3, 2, 2))


def test_class_index_errors() -> None:
    x = nr.zeros(3, 5)
    with pytest.raises(IndexError, match="nll_loss: target 5 is out of bounds for 5 classes"):
        F.cross_entropy(x, nr.tensor([0, 5, 1]))
    with pytest.raises(nr.ShapeError) as info:
        F.nll_loss(x, nr.tensor([0, 1]))
    assert str(info.value).splitlines()[:2] == [
        "nll_loss: the target must be the input's shape without the class dim",
        "  input: f32[3, 5]   target: i64[2]   weight: None"]
    assert "expected target shape [3], got [2] (batch sizes differ)" in str(info.value)
    with pytest.raises(nr.ShapeError, match="nll_loss: weight must have one entry per class"):
        F.cross_entropy(x, nr.tensor([0, 1, 2]), weight=nr.ones(4))
    with pytest.raises(nr.DTypeError, match="expects class indices of an integer dtype"):
        F.nll_loss(x, nr.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(nr.ShapeError, match="class-probability targets must have the input's "
                                            "shape"):
        F.cross_entropy(x, nr.zeros(3, 4))
    with pytest.raises(ValueError, match="'avg' is not a valid value for reduction"):
        F.cross_entropy(x, nr.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, nr.tensor([0, 1, 2]), label_smoothing=1.5)


def test_fused_ops_differentiate_twice() -> None:
    """log_softmax and nll_loss / nll_loss_backward close under differentiation."""
    from neurarust.autograd.gradcheck import gradgradcheck

    t = nr.tensor([1, -100, 0, 2])
    w = nr.tensor(rng.uniform(0.5, 2.0, 3))
    for reduction in REDUCTIONS:
        x = nr.tensor(logits(4, 3), requires_grad=True)
        gradgradcheck(lambda a: F.cross_entropy(a, t, w, reduction=reduction), [x])
        gradgradcheck(lambda a: F.softmax(a, 1), [x])
        # The adjoint's own gradient (in the upstream gradient) is nll_loss again.
        g = logits(4) if reduction == "none" else logits()
        check_op(lambda lib, g: apply("nll_loss_backward", g, t, w, classes=3, ignore_index=-100,
                                      reduction=reduction), [np.asarray(g)], torch_check=False)


# -- binary cross entropy -----------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction: str) -> None:
    x, t, w = rng.uniform(0.05, 0.95, (3, 4)), rng.uniform(0, 1, (3, 4)), rng.uniform(0, 2, 4)
    check_op(lambda lib, a, b: lib.nn.functional.binary_cross_entropy(a, b,
                                                                      reduction=reduction),
             [x, t], atol=1e-12, rtol=1e-10)
    vs_torch(lambda lib, a, b, c: lib.nn.functional.binary_cross_entropy(a, b, c,
                                                                         reduction=reduction),
             x, t, w)


def test_binary_cross_entropy_saturated_probabilities_are_finite() -> None:
    x = np.array([0.0, 1.0, 1e-300, 1.0 - 1e-16, 0.5])
    t = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    ours = F.binary_cross_entropy(nr.tensor(x), nr.tensor(t), reduction="none")
    theirs = torch.nn.functional.binary_cross_entropy(torch.tensor(x), torch.tensor(t),
                                                      reduction="none")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    leaf = nr.tensor(x, requires_grad=True)
    F.binary_cross_entropy(leaf, nr.tensor(t)).backward()
    assert leaf.grad is not None and np.all(np.isfinite(leaf.grad.numpy()))


def test_binary_cross_entropy_errors() -> None:
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(nr.tensor([1.5]), nr.tensor([1.0]))
    with pytest.raises(ValueError, match="that is different to the input size"):
        F.binary_cross_entropy(nr.tensor([0.5, 0.5]), nr.tensor([1.0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(reduction: str) -> None:
    x, t = logits(3, 4), rng.uniform(0, 1, (3, 4))
    w, pw = rng.uniform(0.1, 2, (3, 4)), rng.uniform(0.5, 3, 4)
    check_op(lambda lib, a, b: lib.nn.functional.binary_cross_entropy_with_logits(
        a, b, reduction=reduction), [x, t], atol=1e-12, rtol=1e-10)
    vs_torch(lambda lib, a, b, c, d: lib.nn.functional.binary_cross_entropy_with_logits(
        a, b, c, reduction=reduction, pos_weight=d), x, t, w, pw)


def test_binary_cross_entropy_with_logits_is_stable() -> None:
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    t = np.array([1.0, 1.0, 0.5, 0.0, 0.0])
    vs_torch(lambda lib, a, b: lib.nn.functional.binary_cross_entropy_with_logits(
        a, b, reduction="none"), x, t)


# -- KL divergence ------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["none", "sum", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction: str, log_target: bool) -> None:
    x = np.log(probabilities(3, 4))
    target = np.log(probabilities(3, 4)) if log_target else probabilities(3, 4)
    fn = lambda lib, a, b: lib.nn.functional.kl_div(a, b, reduction=reduction,
                                                    log_target=log_target)
    vs_torch(fn, x, target)
    if not log_target:
        # xlogy(0, 0) = 0: finite values and input gradients (PyTorch's target gradient is
        # nan there, ours is finite, so only the input's is compared).
        target[0, 1] = 0.0
        vs_torch(fn, x, target, grad_inputs=1)


def test_kl_div_mean_warns_like_torch() -> None:
    x, t = np.log(probabilities(2, 3)), probabilities(2, 3)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        ours = F.kl_div(nr.tensor(x), nr.tensor(t))
    with pytest.warns(UserWarning):
        theirs = torch.nn.functional.kl_div(torch.tensor(x), torch.tensor(t))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


# -- modules ------------------------------------------------------------------------------------
def _weight(c: int) -> tuple[Any, Any]:
    w = rng.uniform(0.2, 2.0, c)
    return nr.tensor(w), torch.tensor(w)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_modules_vs_torch(reduction: str) -> None:
    x, y = logits(3, 4), logits(3, 4)
    for name, kw in [("MSELoss", {}), ("L1Loss", {}), ("SmoothL1Loss", {"beta": 0.5}),
                     ("HuberLoss", {"delta": 0.5})]:
        ours, theirs = layer(name)(reduction=reduction, **kw), getattr(torch.nn, name)(
            reduction=reduction, **kw)
        assert repr(ours) == repr(theirs)
        compare_layer(ours, theirs, [x, y])
    t = np.array([0, 3, -100])
    w_nr, w_th = _weight(4)
    for name, kw in [("CrossEntropyLoss", {"label_smoothing": 0.1}), ("NLLLoss", {})]:
        ours = layer(name)(weight=w_nr, reduction=reduction, **kw)
        theirs = getattr(torch.nn, name)(weight=w_th, reduction=reduction, **kw)
        compare_layer(ours, theirs, [logits(3, 4), t])
        assert [n for n, _ in ours.named_buffers()] == ["weight"]
    p = rng.uniform(0.05, 0.95, (3, 4))
    compare_layer(layer("BCELoss")(reduction=reduction),
                  torch.nn.BCELoss(reduction=reduction), [p, rng.uniform(0, 1, (3, 4))])
    pw_nr, pw_th = _weight(4)
    compare_layer(layer("BCEWithLogitsLoss")(reduction=reduction, pos_weight=pw_nr),
                  torch.nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=pw_th),
                  [x, rng.uniform(0, 1, (3, 4))])
    kl_reduction = "batchmean" if reduction == "mean" else reduction
    compare_layer(layer("KLDivLoss")(reduction=kl_reduction),
                  torch.nn.KLDivLoss(reduction=kl_reduction),
                  [np.log(probabilities(3, 4)), probabilities(3, 4)])


def test_cross_entropy_module_repr_and_state_dict() -> None:
    w_nr, w_th = _weight(3)
    ours, theirs = layer("CrossEntropyLoss")(w_nr), torch.nn.CrossEntropyLoss(w_th)
    assert repr(ours) == repr(theirs) == "CrossEntropyLoss()"
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]


def test_nll_loss_rule_in_symbolic_and_z3_algebras() -> None:
    """The fused ops' shape rules are written with the algebra: the plugin and the verifier
    read them as they read matmul's."""
    from neurarust.ops import get
    from neurarust.types.dim import Dim
    from neurarust.types.symbolic import SymbolicAlgebra

    z3_algebra = pytest.importorskip("neurarust.types.z3_algebra")
    rule = get("nll_loss").shape
    attrs = {"ignore_index": -100, "reduction": "none"}
    sym = SymbolicAlgebra()
    b, n = Dim.sym("B"), Dim.sym("N")
    assert rule(sym, (b, 10), (b,), None, **attrs) == (b,)
    assert sym.pending == []
    rule(sym, (b, 10), (n,), (10,), **attrs)
    assert [str(p.condition) for p in sym.pending] == ["N == B"]  # target dim == input dim
    assert get("log_softmax").shape(sym, (b, 10), dim=-1) == (b, 10)
    z = z3_algebra.Z3Algebra()
    rule(z, (z.dim("B"), 10), (z.dim("N"),), None, **attrs)
    (result,) = z.prove_all()
    assert not result.proven
    cex = result.counterexample
    with pytest.raises(nr.ShapeError, match="nll_loss: the target must be the input's shape"):
        F.nll_loss(nr.zeros(cex["B"], 10), nr.zeros(cex["N"], dtype=nr.int64))
