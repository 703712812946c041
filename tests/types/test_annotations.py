"""Float32[Tensor, "B 784"] annotations and the @check decorator."""

from __future__ import annotations

import typing

import pytest

import neurarust as nr
from neurarust import Tensor
from neurarust.types import Bool, DTypeError, Float, Float32, Int64, Shaped, ShapeError, check
from neurarust.types.annotations import TensorSpec, parse_dims
from neurarust.types.dim import Dim


def test_annotation_is_annotated_with_spec() -> None:
    hint = Float32[Tensor, "B T*C ... _ 3"]
    assert typing.get_origin(hint) is typing.Annotated
    base, spec = typing.get_args(hint)
    assert base is Tensor and isinstance(spec, TensorSpec)
    assert spec.dtypes == {"float32"}
    assert [str(d) for d in spec.dims] == ["B", "C*T", "...", "_", "3"]
    assert parse_dims("C//2 H+2")[1].dim == Dim.parse("H") + 2
    with pytest.raises(ValueError, match="more than one"):
        parse_dims("... *batch")


@check
def masked_sum(x: Float32[Tensor, "B T"], mask: Bool[Tensor, "B T"] | None = None
               ) -> Float32[Tensor, "B"]:
    return (x if mask is None else x * mask).sum(1)


@check
def merge(x: Float[Tensor, "*batch T C"]) -> Float[Tensor, "*batch T*C"]:
    return x.reshape(*x.shape[:-2], -1)


@check
def bad_return(x: Shaped[Tensor, "B 4"]) -> Shaped[Tensor, "B 5"]:
    return x


def test_check_passes() -> None:
    assert masked_sum(nr.zeros(3, 4)).shape == (3,)
    assert masked_sum(nr.zeros(3, 4), nr.zeros(3, 4) > 0).shape == (3,)
    assert merge(nr.zeros(2, 5, 3, 4)).shape == (2, 5, 12)
    assert merge(nr.zeros(3, 4)).shape == (12,)


def test_check_names_the_conflicting_binding() -> None:
    with pytest.raises(ShapeError, match=r"mask has shape \[16, 4\], expected \[B, T\] "
                                         r"\(B was 32 from x, got 16 in mask\)"):
        masked_sum(nr.zeros(32, 4), nr.zeros(16, 4) > 0)


def test_check_rank_constant_and_return() -> None:
    with pytest.raises(ShapeError, match=r"x has shape \[3\], expected \[B, T\]"):
        masked_sum(nr.zeros(3))
    with pytest.raises(ShapeError, match=r"return value has shape \[2, 4\], expected \[B, 5\] "
                                         r"\(dim 1 is 4, expected 5\)"):
        bad_return(nr.zeros(2, 4))


def test_check_expression_and_variadic() -> None:
    @check
    def split(x: Float32[Tensor, "B T*C"], y: Float32[Tensor, "T C"]) -> None:
        pass

    split(nr.zeros(2, 12), nr.zeros(3, 4))
    with pytest.raises(ShapeError, match=r"C\*T is 12 with C=4 from y, T=3 from y, got 10"):
        split(nr.zeros(2, 10), nr.zeros(3, 4))

    @check
    def same_batch(a: Shaped[Tensor, "*batch 3"], b: Shaped[Tensor, "*batch"]) -> None:
        pass

    same_batch(nr.zeros(2, 5, 3), nr.zeros(2, 5))
    with pytest.raises(ShapeError, match=r"\*batch was \[2, 5\] from a, got \[2\] in b"):
        same_batch(nr.zeros(2, 5, 3), nr.zeros(2))


def test_check_dtype() -> None:
    with pytest.raises(DTypeError, match="x has dtype int64, expected Float32"):
        masked_sum(nr.zeros(3, 4).long())

    @check
    def ids(i: Int64[Tensor, "N"]) -> None:
        pass

    ids(nr.zeros(3).long())
    with pytest.raises(DTypeError, match="expected Int64"):
        ids(nr.zeros(3))


# -- class-wide dims and facts: @dims ----------------------------------------------------------
from neurarust.types import dims  # noqa: E402
from neurarust.types.annotations import (  # noqa: E402
    AssumingAlgebra,
    decide_under,
    parse_facts,
)


@dims("D H", assume="D % H == 0")
class Heads(nr.nn.Module):
    def split(self, x: Float32[Tensor, "B T D"], h: Float32[Tensor, "H"]
              ) -> Float32[Tensor, "B T H D//H"]:
        return x.reshape(x.shape[0], x.shape[1], h.shape[0], -1)

    def merge(self, x: Float32[Tensor, "B T H D//H"]) -> Float32[Tensor, "B T D"]:
        return x.reshape(x.shape[0], x.shape[1], -1)

    @check
    def bad(self, x: Float32[Tensor, "B D"]) -> Float32[Tensor, "B D"]:
        return x[:, :1]


def test_dims_binds_across_methods_of_one_instance() -> None:
    heads = Heads()
    y = heads.split(nr.zeros(2, 3, 8), nr.zeros(4))
    assert y.shape == (2, 3, 4, 2) and heads.merge(y).shape == (2, 3, 8)
    heads.split(nr.zeros(5, 1, 8), nr.zeros(4))  # B and T are per call
    with pytest.raises(ShapeError, match=r"x has shape \[2, 3, 6\], expected \[B, T, D\] "
                                         r"\(D was 8 from x in Heads.split, got 6 in x\)"):
        heads.split(nr.zeros(2, 3, 6), nr.zeros(3))
    with pytest.raises(ShapeError, match=r"D//H is 2 with D=8 from x in Heads.split, "
                                         r"H=4 from h in Heads.split, got 3"):
        heads.merge(nr.zeros(2, 3, 4, 3))
    Heads().split(nr.zeros(2, 3, 6), nr.zeros(3))  # another instance binds its own


def test_dims_checks_the_assumption_and_wraps_checked_methods() -> None:
    with pytest.raises(ShapeError, match=r"Heads.split: assumption D % H == 0 does not hold "
                                         r"\(D=10 from x, H=3 from h\)"):
        Heads().split(nr.zeros(2, 3, 10), nr.zeros(3))
    with pytest.raises(ShapeError, match=r"return value has shape \[2, 1\], expected \[B, D\]"):
        Heads().bad(nr.zeros(2, 4))
    assert Heads.__nr_dims__.names == ("D", "H")  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="bad assumption 'D %% 2'"):
        dims("D", assume="D %% 2")


def test_divisibility_facts_decide_floor_division() -> None:
    D, H = Dim.sym("D"), Dim.sym("H")
    facts = parse_facts("D % H == 0, T >= 1")
    assert [str(f) for f in facts] == ["D % H == 0", "T >= 1"]
    assert decide_under((H * (D // H)).eq(D), facts) is True
    assert decide_under((H * (D // H)).eq(D), ()) is None
    assert decide_under((H * (D // H)).eq(D + 1), facts) is False
    assert parse_facts(["D % H == 0 and H >= 2"])[1] == H.ge(2)
    # A reshape [B, T, D] -> [B, T, H, D//H] -> [B, T, D] settles only with the fact.
    B, T = Dim.sym("B"), Dim.sym("T")
    op = nr.ops.get("reshape")
    for algebra, pending in ((AssumingAlgebra(facts), 0), (AssumingAlgebra(), 1)):
        split = op.shape(algebra, (B, T, D), shape=(B, T, H, D // H))
        back = op.shape(algebra, tuple(split), shape=(B, T, D))
        assert tuple(back) == (B, T, D) and len(algebra.pending) == 2 * pending
