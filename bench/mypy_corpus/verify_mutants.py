"""What ``neurarust verify`` says about a (mutated) neurarust model: the model is traced on
symbolic inputs and every shape requirement is proved or refuted by z3 under
``ASSUMPTIONS``, as ``neurarust verify model.py:Cls --input ... --assume ...`` does.

It reads the shape rules only, not the return annotation: a mutant that runs but returns a
shape other than annotated is not its business (the mypy plugin checks those)."""

from __future__ import annotations

from typing import Final, Literal

from mypy_corpus import ground_truth

ASSUMPTIONS: Final = ("1 <= B <= 64", "1 <= T <= 512")
Verdict = Literal["refuted", "proven", "unknown"]


def verify(spec: ground_truth.ModelSpec, source: str) -> Verdict:
    """``refuted`` when some size within the assumptions breaks a requirement (or tracing
    itself raises for every size), ``proven`` when none does, ``unknown`` otherwise."""
    from neurarust.trace import TraceError, trace
    from neurarust.verify import verify_shapes

    try:
        module = ground_truth.load(source, f"verify_{spec.name}")
        graph = trace(getattr(module, spec.cls)(), dict(spec.verify_inputs))
    except TraceError:
        return "unknown"  # e.g. Python control flow the tracer cannot decide
    except Exception:  # noqa: BLE001 (a check that raised while tracing fails for every size)
        return "refuted"
    used = set(graph.symbols())  # an assumption on a dim the model lacks is a usage error
    assume = [a for a in ASSUMPTIONS if _named(a) <= used]
    code = verify_shapes(graph, assume).exit_code
    return "proven" if code == 0 else "refuted" if code == 1 else "unknown"


def _named(assumption: str) -> set[str]:
    """The dims an assumption names."""
    from neurarust.types.z3_algebra import Z3Algebra
    from neurarust.verify import parse_assumption

    z = Z3Algebra()
    parse_assumption(assumption, z)
    return set(z.symbols)
