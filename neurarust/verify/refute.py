"""A concrete witness against a certificate's numeric claims, searched in onnxruntime.

When a numeric claim is not re-proven, the verdict is ``refuted`` (exit 1) only if an input
inside the recorded ranges makes onnxruntime, running the file, give a non-finite output or
one outside the recorded bounds; :func:`search` tries the corners of the input box, mixed
corners and random points (seeded) at the given sizes (or the least sizes the assumptions
allow). Without onnxruntime, or when nothing is found, the claim stays ``unproven``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .certificate_schema import Certificate, bounds_array
from .recheck import MAX_ELEMENTS, _algebra, _show, _symbols

__all__ = ["least_sizes", "search"]

SAMPLES = 24


def least_sizes(cert: Certificate, specs: Mapping[str, str]) -> dict[str, int] | None:
    """The sizes allowed by the assumptions with the least sum (None: z3 found none)."""
    from .shape import smallest_model

    z, facts = _algebra(cert, specs)
    syms = {n: z.dim(n) for n in _symbols(specs)}
    return smallest_model([*z.assumptions, *facts], syms)


def _inside(x: np.ndarray, lo: float, hi: float) -> np.ndarray:  # type: ignore[type-arg]
    """``x`` cast to its dtype and moved inward to lie in [lo, hi] exactly."""
    if np.issubdtype(x.dtype, np.floating):
        up = np.nextafter(x, np.asarray(np.inf, x.dtype))
        x = np.where(x.astype(np.float64) < lo, up, x)
        down = np.nextafter(x, np.asarray(-np.inf, x.dtype))
        x = np.where(x.astype(np.float64) > hi, down, x)
    return x


def _sample(kind: int, rng: np.random.Generator, shape: tuple[int, ...], dtype: Any,
            lo: float, hi: float) -> np.ndarray:  # type: ignore[type-arg]
    if np.issubdtype(dtype, np.integer):
        lo, hi = float(np.ceil(lo)), float(np.floor(hi))
    corners = [np.full(shape, lo), np.full(shape, hi)]
    if kind < 2:
        x = corners[kind]
    elif kind < 8:  # mixed corners
        x = np.where(rng.random(shape) < 0.5, lo, hi)
    else:
        x = rng.uniform(lo, hi, shape) if hi > lo else np.full(shape, lo)
    if np.issubdtype(dtype, np.integer):
        return np.clip(np.round(x), lo, hi).astype(dtype)
    return _inside(x.astype(dtype), lo, hi)


def _run(sess: Any, feed: dict[str, Any]) -> list[Any] | None:
    try:
        return list(sess.run(None, feed))
    except Exception:  # noqa: BLE001 -- onnxruntime's own classes: this sample is no witness
        return None


def search(proto: Any, cert: Certificate, specs: Mapping[str, str],
           sizes: dict[str, int] | None) -> str | None:
    """A description of an input in the recorded ranges that breaks a numeric claim in
    onnxruntime, or None."""
    try:
        import onnxruntime as ort  # type: ignore[import-untyped]
    except ImportError:
        return None
    from ..trace.tracer import parse_spec

    assert cert.numeric is not None
    if sizes is None:
        sizes = least_sizes(cert, specs)
        if sizes is None:
            return None
    shapes = {}
    for name, spec in specs.items():
        dtype, dims = parse_spec(spec)
        shapes[name] = (tuple(d.evaluate(sizes) for d in dims), np.dtype(dtype.np_dtype))
    if sum(int(np.prod(s)) for s, _ in shapes.values()) > MAX_ELEMENTS:
        return None
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 4
        sess = ort.InferenceSession(proto.SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 -- onnxruntime's own classes: no session, no witness
        return None
    rng = np.random.default_rng(0)
    rec = {name: (bounds_array(b["lo"]), bounds_array(b["hi"]))
           for name, b in cert.numeric["outputs"].items()}
    for kind in range(SAMPLES):
        feed = {}
        for name, (shape, np_dtype) in shapes.items():
            in_lo, in_hi = cert.input_ranges.get(name, (-1.0, 1.0))
            feed[name] = _sample(kind, rng, shape, np_dtype, in_lo, in_hi)
        outs = _run(sess, feed)
        if outs is None:
            continue
        for (name, (lo, hi)), y in zip(rec.items(), outs):
            y = np.asarray(y)
            if not np.issubdtype(y.dtype, np.number):
                continue
            y64 = y.astype(np.float64)
            where = ("the lower corner" if kind == 0 else "the upper corner" if kind == 1
                     else "a corner" if kind < 8 else "a random point")
            at = (f"at {where} of the recorded input ranges (sizes {_show(sizes)}; inputs "
                  + ", ".join(f"{k}[0] = {float(v.reshape(-1)[0]):.7g}" if v.size else k
                              for k, v in feed.items()) + ")")
            bad = ~np.isfinite(y64)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                return f"onnxruntime gives {name}{list(idx)} = {y64[idx]} {at}"
            try:
                lo_b, hi_b = np.broadcast_to(lo, y64.shape), np.broadcast_to(hi, y64.shape)
            except ValueError:
                continue
            out = (y64 < lo_b) | (y64 > hi_b)
            if out.any():
                idx = tuple(int(i) for i in np.argwhere(out)[0])
                return (f"onnxruntime gives {name}{list(idx)} = {y64[idx]:.7g}, outside the "
                        f"recorded [{lo_b[idx]:.7g}, {hi_b[idx]:.7g}] {at}")
    return None
