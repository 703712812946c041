"""A mechanical check that each index contract matches its C source.

Reads the ``.cu`` source after the C preprocessor (so macro-generated kernels count) and
checks, for each contract:

* every function the contract names is an ``extern "C"`` kernel of the source;
* every shape parameter and every global buffer of the contract is a parameter of each of
  those kernels (so the contract speaks of the kernel's own variables);
* the accesses agree both ways: each ``buffer[index]`` the contract's kernels contain is an
  access of the contract (its ``code``, whitespace ignored), and each access of the contract
  occurs in them. An access added to the kernel without a contract line, or a contract line
  whose index expression the kernel no longer uses, is reported.

It does not re-derive guards or loop bounds from the C (those stay hand-written and are what
the z3 proof checks); it ties the proof's index expressions to the code's. Needs g++ for the
preprocessor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .contracts import KernelContract
from .driver import _preprocess, kernel_signatures

__all__ = ["SourceFinding", "check_source"]


@dataclass(frozen=True)
class SourceFinding:
    what: str
    ok: bool


def _norm(code: str) -> str:
    return "".join(code.split())


def _accesses_in(text: str, buffer: str) -> set[str]:
    found = set()
    for m in re.finditer(rf"(\w+\s+)?\b{re.escape(buffer)}\s*\[([^\[\]]+)\]", text):
        if m.group(1) and m.group(1).strip() in ("float", "double", "int", "char", "long"):
            continue  # a declaration (``__shared__ float buf[256]``), not an access
        found.add(_norm(f"{buffer}[{m.group(2)}]"))
    return found


_KERNEL = re.compile(r'extern\s+"C"\s+void\s+(\w+)\s*\(')


def _bodies(text: str, functions: tuple[str, ...]) -> str:
    """The bodies of the kernels ``functions`` in preprocessed ``text`` (so a source holding
    several contracts' kernels is checked contract by contract); all of ``text`` if none is
    found."""
    parts = []
    for m in _KERNEL.finditer(text):
        if m.group(1) not in functions:
            continue
        depth, start = 0, text.find("{", m.end())
        for k in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[k], 0)
            if depth == 0:
                parts.append(text[start:k + 1])
                break
    return "\n".join(parts) if parts else text


def check_source(contract: KernelContract) -> list[SourceFinding]:
    """Each check above as a finding (``ok`` False names the mismatch)."""
    text = _bodies(_preprocess(contract.source), contract.functions)
    sigs = kernel_signatures(contract.source)
    out: list[SourceFinding] = []
    buffers = sorted({a.buffer for a in contract.accesses})
    globals_ = [b for b in buffers if "(shared)" not in b]
    for fn in contract.functions:
        if fn not in sigs:
            out.append(SourceFinding(f"source: {fn} is not a kernel of {contract.source} "
                                     f"(it has {', '.join(sorted(sigs))})", False))
            continue
        names = {n for _, n in sigs[fn]}
        missing = [p.name for p in contract.params if p.name not in names] + \
            [b for b in globals_ if b not in names]
        out.append(SourceFinding(
            f"source: {fn}'s parameters include the contract's "
            + (f"(missing: {', '.join(missing)})" if missing else "shape parameters and buffers"),
            not missing))
    for buffer in buffers:
        name = buffer.split(" (")[0]
        in_source = _accesses_in(text, name)
        in_contract = {_norm(a.code) for a in contract.accesses if a.buffer == buffer}
        extra, absent = sorted(in_source - in_contract), sorted(in_contract - in_source)
        detail = "; ".join(
            ([f"in the source, not the contract: {', '.join(extra)}"] if extra else [])
            + ([f"in the contract, not the source: {', '.join(absent)}"] if absent else []))
        out.append(SourceFinding(f"source: accesses of {buffer} match the contract"
                                 + (f" ({detail})" if detail else ""), not detail))
    return out
