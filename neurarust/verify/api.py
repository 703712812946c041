"""``nr.verify.verify``: explore a model's paths, prove each one's obligations, and report.

One call does what ``neurarust verify path/model.py:Name`` does: :func:`~.paths.explore`
traces every feasible path through the model's shape-dependent control flow, then each path's
graph goes to :func:`~.shape.verify_shapes` under the assumptions plus the path condition (and
to :func:`~.numeric.verify_ranges` when ranges are given). A path whose trace raised (a
constructor's check, a requirement false for every size on the path) is refuted with the
smallest witness of the assumptions and the path condition, and only when building and running
the model for real at those sizes raises the same error; otherwise the exception came from
tracing itself and the path is unknown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import z3

from ..trace.tracer import ConstructionError, TraceError, _raise_site
from ..types.dim import Dim
from ..types.errors import DTypeError, ShapeError
from ..types.z3_algebra import model_int
from .assumptions import check_assumptions
from .numeric import parse_range, verify_ranges
from .paths import Exploration, TracedPath, explore
from .report import PathFailure, PathReport, Report, where_in
from .shape import smallest_model, verify_shapes

__all__ = ["verify"]


def verify(model: Callable[..., Any], inputs: Mapping[str, str], assume: Sequence[str] = (),
           ranges: Mapping[str, Any] | Sequence[str] | None = None, *,
           config: Mapping[str, str] | None = None, min_size: int = 1, max_paths: int = 64,
           max_values: int = 8, timeout: float | None = None, exact: bool = False) -> Report:
    """Verify shape safety (and, with ``ranges``, numeric safety) of ``model``.

    Args:
        model: a Module or a function of tensors; with ``config``, a factory (or Module
            class) called with symbolic dims, e.g. ``make(D, H)`` with
            ``config={"D": "D", "H": "H"}``, so its constructor's checks are verified too.
        inputs: name -> spec, in forward order: ``{"x": "f32[B, 1, 28, 28]"}``.
        assume: assumptions on dims: ``["1 <= B <= 4096", "T % 8 == 0"]``.
        ranges: input ranges, ``{"x": (0.0, 1.0)}`` or ``["x in [0, 1]"]``.
        max_paths: explore at most this many paths (then the verdict is unknown).
        max_values: follow a size needed as an int (``range(T)``) value by value, up to
            this many of its smallest values (the larger ones, if any, are unknown).
        timeout: seconds for the whole verification (z3 queries get the time left).
        exact: with ranges, tighten bounds with z3 on small exact subproblems.

    Returns:
        A :class:`~.report.Report`: ``status`` / ``exit_code`` overall, one PathReport
        per path.

    Raises:
        AssumptionError: the assumptions contradict each other (no sizes satisfy them with
            every dim >= ``min_size``; the message names the conflicting ones) or name a dim
            that no input or config parameter uses. Nothing is proven under them.
        ValueError: an input spec, assumption or range cannot be parsed.

    Example:
        >>> nr.verify.verify(nr.nn.Linear(4, 2), {"x": "f32[B, 4]"}).status
        'proven'
    """
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    bounds = _ranges(ranges)
    dims = _used_dims(inputs, config)
    check_assumptions(assume, dims, min_size=min_size, timeout_ms=min(_ms(deadline), 5_000))
    explored = explore(model, inputs, assume, config=config, min_size=min_size,
                       max_paths=max_paths, max_values=max_values,
                       timeout_ms=_ms(deadline), deadline=deadline)

    def replay(sizes: dict[str, int]) -> BaseException | None:
        return _replay(model, inputs, config, sizes)

    paths = [_check_path(i + 1, p, explored, list(assume), bounds, deadline, exact, replay,
                         dims) for i, p in enumerate(explored.paths)]
    name = getattr(model, "__name__", None) or type(model).__name__
    return Report(str(name), dict(inputs), list(assume), min_size, paths,
                  explored.limit.message if explored.limit else None, bounds,
                  time.monotonic() - start)


def _used_dims(inputs: Mapping[str, str], config: Mapping[str, str] | None) -> list[str]:
    """The named dims of the input specs and the config parameters (those an assumption
    may name)."""
    from ..trace.tracer import parse_spec

    out: list[str] = []
    shapes = [parse_spec(spec)[1] for spec in inputs.values()]
    shapes.append(tuple(Dim.parse(v) for v in (config or {}).values()))
    for shape in shapes:
        for d in shape:
            out += [n for n in sorted(d.free_symbols()) if n not in out]
    return out


def _ms(deadline: float | None) -> int:
    """Per-query z3 time: 10 s, or what is left before the deadline (at least 1 ms)."""
    if deadline is None:
        return 10_000
    return max(1, min(10_000, int((deadline - time.monotonic()) * 1000)))


def _ranges(ranges: Mapping[str, Any] | Sequence[str] | None) -> dict[str, Any]:
    if ranges is None:
        return {}
    if isinstance(ranges, Mapping):
        return dict(ranges)
    return {name: (lo, hi) for name, lo, hi in map(parse_range, ranges)}


def _check_path(index: int, path: TracedPath, explored: Exploration, assume: list[str],
                bounds: dict[str, Any], deadline: float | None, exact: bool,
                replay: Callable[[dict[str, int]], BaseException | None],
                dims: Sequence[str]) -> PathReport:
    report = PathReport(index, path.decisions, seconds=path.seconds)
    start = time.perf_counter()
    if path.graph is None:
        assert path.error is not None
        report.failure = _failure(path, explored, replay)
    else:
        report.shape = verify_shapes(path.graph, assume, timeout_ms=_ms(deadline),
                                     path=path.conditions, dims=dims)
        if bounds:
            report.numeric = verify_ranges(path.graph, bounds, assume, exact=exact)
    report.seconds += time.perf_counter() - start
    return report


def _failure(path: TracedPath, explored: Exploration,
             replay: Callable[[dict[str, int]], BaseException | None]) -> PathFailure:
    """The verdict on a path whose trace raised: a model error is refuted only when running
    the model for real at the witness sizes raises the same error (else the exception came
    from tracing itself, and the path is unknown)."""
    err = path.error
    assert err is not None
    message = str(err)
    if isinstance(err, TraceError):
        return PathFailure("trace", "unknown", message, where_in(message))
    if isinstance(err, ConstructionError):
        kind, source = "construction", err.source
        message = f"{type(err.error).__name__}: {err.error}"
    elif isinstance(err, ShapeError):
        kind, source = "shape", where_in(message)
    elif isinstance(err, DTypeError):
        kind, source = "dtype", where_in(message)
    else:
        kind, source = "error", _raise_site(err)
        message = f"{type(err).__name__}: {message}"
    cex = _witness(path, explored)
    if cex is None:
        return PathFailure(kind, "unknown", message, source)
    if _too_large(path, cex):
        trusted = isinstance(err, (ShapeError, DTypeError))  # a registry rule decided it
        return PathFailure(kind, "refuted" if trusted else "unknown", message
                           + ("" if trusted else "\n(not re-run: the witness sizes are too "
                              "large)"), source, cex)
    again = replay(cex)
    if again is not None and _same_error(err, again):
        return PathFailure(kind, "refuted", message, source, cex)
    what = "ran without error" if again is None else f"raised {type(again).__name__}: {again}"
    return PathFailure("trace", "unknown", f"tracing raised {message}\nbut the model, run at "
                       + ", ".join(f"{k}={v}" for k, v in cex.items()) + f", {what}; this path "
                       "is not verified (a limitation of tracing)", source)


def _headline(err: BaseException) -> tuple[type[BaseException], str]:
    inner = err.error if isinstance(err, ConstructionError) else err
    text = str(inner).strip().split("\n")[0]
    return type(inner), text.split(":")[0]


def _same_error(traced: BaseException, real: BaseException) -> bool:
    """The same exception class raised by the same op or layer (its message's first word)."""
    (t1, h1), (t2, h2) = _headline(traced), _headline(real)
    return (issubclass(t2, t1) or issubclass(t1, t2)) and h1 == h2


_MAX_REPLAY = 1 << 24  # elements per input for a confirming eager run


def _too_large(path: TracedPath, sizes: dict[str, int]) -> bool:
    return False if path.input_sizes is None else any(
        _numel(shape, sizes) > _MAX_REPLAY for shape in path.input_sizes)


def _numel(shape: tuple[Any, ...], sizes: dict[str, int]) -> int:
    n = 1
    for d in shape:
        n *= int(d.evaluate(sizes))
    return n


def _replay(model: Callable[..., Any], inputs: Mapping[str, str],
            config: Mapping[str, str] | None, sizes: dict[str, int]) -> BaseException | None:
    """Build and run the model for real at ``sizes`` on zeros; the exception, or None."""
    from ..autograd import no_grad
    from ..functions import zeros
    from ..nn.module import Module
    from ..trace.tracer import parse_spec

    try:
        built = model if config is None else model(
            **{k: Dim.parse(v).evaluate(sizes) for k, v in config.items()})
        args = []
        for spec in inputs.values():
            dtype, shape = parse_spec(spec)
            args.append(zeros(*(d.evaluate(sizes) for d in shape), dtype=dtype))
        mode = built.training if isinstance(built, Module) else None
        try:
            if isinstance(built, Module):
                built.eval()
            with no_grad():
                built(*args)
        finally:
            if isinstance(built, Module) and mode is not None:
                built.train(mode)
    except Exception as err:
        return err
    return None


def _witness(path: TracedPath, explored: Exploration) -> dict[str, int] | None:
    """Sizes satisfying the assumptions and the path condition (None if z3 finds none)."""
    z = explored.z3
    solver = z3.Solver()
    solver.set("timeout", 10_000)
    solver.add(*z.assumptions, *explored.facts, *(z.from_cond(c) for c in path.conditions))
    solver.add(*z.assumptions)  # from_cond may have made new dims (with their >= min_size)
    if solver.check() != z3.sat:
        return None
    small = smallest_model(list(solver.assertions()), z.symbols)
    if small is not None:
        return small
    model = solver.model()
    values = {n: model_int(model.eval(v, model_completion=True)) for n, v in z.symbols.items()}
    return None if None in values.values() else {n: v for n, v in values.items() if v is not None}
