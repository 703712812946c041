"""numpy kernels for linalg ops: BLAS through ``np.matmul`` / ``np.einsum(optimize=...)``.

No kernel copies its inputs: numpy hands C- and Fortran-ordered (transposed) operands to
BLAS as they are, and float32 stays float32 end to end.
"""

from __future__ import annotations

import numpy as np

from ...ops.linalg import ELLIPSIS, parse_einsum
from ...ops.registry import kernel

Array = np.ndarray  # type: ignore[type-arg]


@kernel("matmul", backend="cpu")
def matmul(a: Array, b: Array) -> Array:
    if b.ndim == 2 and a.ndim > 2 and a.flags.c_contiguous:
        # (..., n, k) @ (k, m) as one (rows, k) @ (k, m) GEMM instead of one per batch entry.
        out: Array = np.matmul(a.reshape(-1, a.shape[-1]), b)
        return out.reshape(a.shape[:-1] + b.shape[-1:])
    return _matmul(a, b)


def _matmul(a: Array, b: Array) -> Array:
    out: Array = np.matmul(a, b)
    return out


kernel("mm", backend="cpu")(_matmul)
kernel("bmm", backend="cpu")(_matmul)


@kernel("dot", backend="cpu")
def dot(a: Array, b: Array) -> Array:
    return np.asarray(np.dot(a, b))


@kernel("outer", backend="cpu")
def outer(a: Array, b: Array) -> Array:
    return np.outer(a, b)


@kernel("einsum", backend="cpu")
def einsum(*arrays: Array, equation: str) -> Array:
    spec = parse_einsum(equation)
    summed_ellipsis = spec.has_ellipsis and ELLIPSIS not in spec.output
    if summed_ellipsis:
        # numpy wants the ellipsis in an explicit output; torch sums it away when absent.
        lhs = spec.explicit.partition("->")[0]
        out = np.einsum(lhs + "->..." + "".join(spec.output), *arrays,
                        optimize=len(arrays) > 1)
        ell = out.ndim - len(spec.output)
        out = out.sum(axis=tuple(range(ell)), dtype=out.dtype)
    else:
        out = np.einsum(spec.explicit, *arrays, optimize=len(arrays) > 1)
    out = np.asarray(out)
    if any(np.may_share_memory(out, a) for a in arrays):
        out = out.copy()  # a transpose or diagonal comes back as a view of the input
    return out
