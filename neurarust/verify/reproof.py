"""Claims 4-6 of :mod:`.recheck`: the recorded shape conditions, and the file's own graph
imported, traced and proven (shape obligations, output specs, numeric claims).

A failure here becomes ``refuted`` only with a concrete witness (a z3 model for a recorded
condition; sizes at which the imported graph fails to trace; an input found by
:func:`.refute.search` whose onnxruntime output breaks a numeric claim), else ``unproven``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..ir.graph import Graph
from ..types.dim import Dim
from ..types.symbolic import Obligation
from .certificate_schema import Certificate, bounds_array
from .recheck import (
    MAX_ELEMENTS,
    CheckResult,
    _algebra,
    _brief,
    _concrete_specs,
    _elements,
    _show,
    size_combinations,
)

__all__ = ["reprove_on_file", "reprove_recorded_conditions"]


def reprove_recorded_conditions(cert: Certificate, specs: Mapping[str, str],
                                result: CheckResult) -> None:
    """Each recorded shape obligation's condition, proven by z3 under the assumptions."""
    from .shape import parse_assumption

    z, facts = _algebra(cert, specs)
    n_ok = 0
    for i, f in enumerate(cert.shape_facts):
        name = f"recorded shape condition {i} ({f.op} at {f.source[:80]})"
        if result.budget.spent:
            result.add(name, "unproven", f"the time budget ({result.budget.seconds:g} s) ran "
                       f"out before conditions {i}..{len(cert.shape_facts) - 1}")
            break
        proof = z.prove(Obligation(parse_assumption(f.condition, z), f.message), facts,
                        timeout_ms=result.budget.ms())
        if proof.proven:
            n_ok += 1
        elif proof.counterexample:
            result.add(name, "refuted", f"{f.message}: requires {f.condition}; counterexample "
                       f"under the recorded assumptions: {_show(proof.counterexample)}")
        else:
            result.add(name, "unproven", f"z3 could not prove {f.condition} ({proof.status})")
    if n_ok == len(cert.shape_facts):
        result.add("recorded shape conditions", "reproven",
                   f"{n_ok}/{n_ok} proven by z3 under the recorded assumptions")


def _traces(cert: Certificate, proto: Any, specs: Mapping[str, str],
            result: CheckResult) -> list[tuple[Graph, dict[str, int] | None]] | None:
    """The file's graph traced symbolically ([(graph, None)]), or at every size combination
    the assumptions allow ([(graph, sizes), ...]); None (with the claim judged) otherwise."""
    from ..onnx import load
    from ..trace import trace
    from ..types.errors import DTypeError, ShapeError

    try:
        module = load(proto)
    except Exception as err:  # noqa: BLE001 -- a hostile file: whatever the importer raises
        result.add("file graph", "unproven", f"the file's graph does not import ({_brief(err)})"
                   f"; its claims cannot be re-proven")
        return None
    try:
        return [(trace(module, dict(specs), min_size=cert.min_size), None)]
    except Exception as err:  # noqa: BLE001 -- judged below, at every size or not at all
        why = _brief(err)
    combos = size_combinations(cert, specs, budget=result.budget)
    least = _least_sizes(cert, specs) if isinstance(combos, str) else None
    failure = None if least is None else _concrete_failure(proto, specs, least, cert.min_size)
    if least is not None and failure is not None:
        result.add("file graph", "refuted", f"the file's graph fails at {_show(least)} "
                   f"(allowed by the assumptions): {failure}")
        return None
    if isinstance(combos, str):
        result.add("file graph", "unproven", f"the file's graph does not trace with the recorded "
                   f"specs ({why}), and {combos}: not re-proven at every size")
        return None
    out: list[tuple[Graph, dict[str, int] | None]] = []
    for sizes in combos:
        if _elements(specs, sizes) > MAX_ELEMENTS:
            result.add("file graph", "unproven", f"does not trace symbolically ({why}), and at "
                       f"{_show(sizes)} the inputs exceed {MAX_ELEMENTS} elements")
            return None
        try:
            out.append((trace(module, _concrete_specs(specs, sizes), min_size=cert.min_size),
                        sizes))
        except (ShapeError, DTypeError) as err:
            result.add("file graph", "refuted", f"the file's graph fails at {_show(sizes)} "
                       f"(allowed by the assumptions): {_brief(err)}")
            return None
        except Exception as err:  # noqa: BLE001 -- a hostile graph: not re-proven
            result.add("file graph", "unproven", f"the file's graph does not trace at "
                       f"{_show(sizes)}: {_brief(err)}")
            return None
    result.notes.append(f"the file's graph does not trace symbolically ({why}); re-proving at "
                        f"each of the {len(out)} size combinations the assumptions allow")
    return out


def _reprove_shapes(cert: Certificate, module_proto: Any, specs: Mapping[str, str],
                    graph: Graph, sizes: dict[str, int] | None, result: CheckResult) -> bool:
    from .shape import verify_shapes

    where = "symbolically" if sizes is None else f"at {_show(sizes)}"
    report = verify_shapes(graph, list(cert.assumptions) if sizes is None else [],
                           timeout_ms=result.budget.ms())
    bad = [r for r in report.results if r.status != "proven"]
    for r in bad:
        what = f"{r.node.op}: {r.obligation.message}: requires {r.obligation.condition}"
        cex = r.counterexample
        if sizes is not None and r.status == "refuted":
            result.add("file shape obligations", "refuted", f"{what} fails at {_show(sizes)}")
            return False
        if cex is not None and set(cex) >= set(result_symbols(specs)):
            failure = _concrete_failure(module_proto, specs, cex, cert.min_size)
            if failure is not None:
                result.add("file shape obligations", "refuted",
                           f"{what}; at {_show(cex)} (allowed by the assumptions) the file's "
                           f"graph fails: {failure}")
                return False
        result.add("file shape obligations", "unproven", f"{what} ({r.status} {where})")
        return False
    if sizes is None:
        result.add("file shape obligations", "reproven",
                   f"{len(report.results)} obligations of the file's own graph (imported and "
                   f"traced) proven by z3 under the recorded assumptions")
    return True


def _concrete_failure(proto: Any, specs: Mapping[str, str], sizes: dict[str, int],
                      min_size: int) -> str | None:
    """Why the file's graph fails to trace at these sizes (a shape or dtype error: a
    concrete witness), or None when it traces, or fails otherwise (no witness)."""
    from ..onnx import load
    from ..trace import trace
    from ..types.errors import DTypeError, ShapeError

    try:
        trace(load(proto), _concrete_specs(specs, sizes), min_size=min_size)
    except (ShapeError, DTypeError) as err:
        return _brief(err)
    except Exception:  # noqa: BLE001 -- a hostile graph: any other failure is no witness
        return None
    return None


def _least_sizes(cert: Certificate, specs: Mapping[str, str]) -> dict[str, int] | None:
    from .refute import least_sizes

    return least_sizes(cert, specs)


def result_symbols(specs: Mapping[str, str]) -> list[str]:
    from .recheck import _symbols

    return _symbols(specs)


def _reprove_outputs(cert: Certificate, specs: Mapping[str, str], graph: Graph,
                     sizes: dict[str, int] | None, result: CheckResult) -> bool:
    """The trace's output dtypes and dims are the recorded output specs."""
    from ..trace.tracer import parse_spec
    z: Any = None
    facts: Any = None
    if len(graph.outputs) != len(cert.outputs):
        result.add("output specs", "unproven", f"the file's trace has {len(graph.outputs)} "
                   f"outputs, {len(cert.outputs)} are recorded")
        return False
    for v, (name, spec) in zip(graph.output_values, cert.outputs.items()):
        dtype, dims = parse_spec(spec)
        if sizes is not None:
            dims = tuple(Dim.const(d.evaluate(sizes)) for d in dims)
        same = len(v.shape) == len(dims)
        for a, b in zip(v.shape, dims) if same else ():
            if a != b:  # equal under the assumptions, by z3?
                if z is None:
                    z, facts = _algebra(cert, specs)
                term = z.from_dim(a) == z.from_dim(b)
                same = same and z.prove(Obligation(term, "output dim"), facts,
                                        timeout_ms=result.budget.ms()).proven
        if v.dtype != dtype or not same:
            result.add(f"output spec {name}", "unproven", f"recorded {spec}; the file's trace "
                       f"gives {v.type_str}" + (f" at {_show(sizes)}" if sizes else ""))
            return False
    return True


def _fits(rec: np.ndarray, iv: np.ndarray, target: tuple[int, ...]) -> bool:  # type: ignore[type-arg]
    try:
        return (np.broadcast_shapes(rec.shape, target) == target
                and np.broadcast_shapes(iv.shape, target) == target)
    except ValueError:
        return False


def _reprove_numeric(cert: Certificate, graph: Graph, sizes: dict[str, int] | None,
                     result: CheckResult) -> list[str]:
    """Problems with the numeric claims on one trace (empty: re-proven there)."""
    from .numeric import verify_ranges

    assert cert.numeric is not None
    try:
        report = verify_ranges(graph, dict(cert.input_ranges),
                               list(cert.assumptions) if sizes is None else [])
    except Exception as err:  # noqa: BLE001 -- a hostile graph: not re-proven
        return [f"verify_ranges failed on the file's trace: {_brief(err)}"]
    where = "" if sizes is None else f" at {_show(sizes)}"
    problems = [f"{h}{where}".replace("\n", " ") for h in report.hazards]
    for v, (name, rec), iv in zip(graph.output_values, cert.numeric["outputs"].items(),
                                  report.outputs.values()):
        lo, hi = bounds_array(rec["lo"]), bounds_array(rec["hi"])
        target = tuple(d.as_int() if d.is_constant else 1 for d in v.shape)
        ilo, ihi = np.asarray(iv.lo, dtype=np.float64), np.asarray(iv.hi, dtype=np.float64)
        if not _fits(lo, ilo, target):
            problems.append(f"output {name}: recorded bounds of shape {lo.shape} do not fit the "
                            f"output (shape {target}, symbolic dims as 1)")
            continue
        lo, hi = np.broadcast_to(lo, target), np.broadcast_to(hi, target)
        ilo, ihi = np.broadcast_to(ilo, target), np.broadcast_to(ihi, target)
        if not (np.all(ilo >= lo) and np.all(ihi <= hi)):
            problems.append(f"output {name}{where}: re-proven in [{float(np.min(ilo)):.6g}, "
                            f"{float(np.max(ihi)):.6g}], not inside the recorded "
                            f"[{float(np.min(lo)):.6g}, {float(np.max(hi)):.6g}]")
    return problems


def reprove_on_file(cert: Certificate, proto: Any, specs: Mapping[str, str],
                    result: CheckResult) -> None:
    """Claims 5 and 6 of :mod:`.recheck` on the file's own graph."""
    from .refute import search

    traces = _traces(cert, proto, specs, result)
    if traces is None:
        return
    for graph, sizes in traces:
        if not _reprove_shapes(cert, proto, specs, graph, sizes, result):
            return
        if not _reprove_outputs(cert, specs, graph, sizes, result):
            return
    if len(traces) > 1 or traces[0][1] is not None:
        result.add("file shape obligations", "reproven",
                   f"the file's graph traces and its obligations hold at each of the "
                   f"{len(traces)} size combinations the assumptions allow")
    result.add("output specs", "reproven", "the file's trace has the recorded output dtypes "
               "and dims")
    if cert.numeric is None:
        return
    problems: list[str] = []
    for graph, sizes in traces:
        problems += _reprove_numeric(cert, graph, sizes, result)
        if problems:
            witness = search(proto, cert, specs, sizes)
            if witness is not None:
                result.add("numeric", "refuted", witness)
                return
            break
    if problems:
        result.add("numeric", "unproven", "; ".join(problems[:3])
                   + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
                   + "; no input found that breaks the claim")
        return
    result.add("numeric", "reproven",
               f"on the file's own graph ({len(traces[0][0].nodes)} nodes"
               + ("" if traces[0][1] is None else f", at {len(traces)} size combinations")
               + "): no hazard, output bounds inside the recorded ones for inputs in range")
