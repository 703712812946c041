"""Deterministic single-literal mutants of the corpus models.

A *site* is an integer literal that is a size (a layer width, a kernel size, stride or
padding, a reshape/view size) or an axis (``dim=``, transpose/permute/flatten arguments, an
index into ``x.shape``) inside a call in one of a model's methods. Each mutant changes exactly
one site by one step (``n -> n + 1`` and ``n -> n - 1`` where that is still a valid size), by
rewriting only that literal's characters in the source, so every other line, comment and
column stays as it is and diagnostics keep their line numbers.

Sites are named by where they sit, not by their position in the file
(``MLP.__init__ Linear#1 arg0``: the first positional argument of the second ``Linear`` call
in ``MLP.__init__``), with module prefixes dropped (``nr.relu`` and ``torch.relu`` are both
``relu``), so the neurarust and PyTorch versions of a model yield the same keys and the same
mutation is applied at corresponding places in both.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass
from typing import Final, Literal

SiteKind = Literal["size", "axis"]

# Calls whose integer arguments are axes, and keywords that name an axis wherever they appear.
AXIS_CALLS: Final = frozenset({
    "transpose", "permute", "flatten", "Flatten", "softmax", "log_softmax", "cat", "concat",
    "stack", "sum", "mean", "amax", "amin", "argmax", "unsqueeze", "squeeze", "movedim",
    "swapaxes", "Softmax", "LogSoftmax",
})
AXIS_KEYWORDS: Final = frozenset({"dim", "dim0", "dim1", "start_dim", "end_dim", "dims"})
# Sizes that may be 0 (every other size must stay >= 1).
ZERO_OK_KEYWORDS: Final = frozenset({"padding"})
# Size arguments that mean "infer this one" rather than a size.
WILDCARD_CALLS: Final = frozenset({"reshape", "view"})


@dataclass(frozen=True)
class Site:
    """One mutable integer literal: where it is in the source and what it means."""

    key: str  # e.g. "MLP.__init__ Linear#1 arg0", identical across the two versions
    kind: SiteKind
    value: int
    line: int  # 1-based, as in diagnostics
    col: int  # 0-based character offsets of the literal (a leading minus sign included)
    end_col: int
    zero_ok: bool = False


@dataclass(frozen=True)
class Mutant:
    """The source of a model with one site changed."""

    model: str
    site: Site
    new_value: int
    source: str

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.model, self.site.key, self.new_value)

    @property
    def description(self) -> str:
        return f"{self.site.kind} {self.site.key}: {self.site.value} -> {self.new_value}"


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return type(func).__name__


def _int_literals(node: ast.expr) -> list[tuple[ast.expr, int]]:
    """Integer literals in an argument: the literal itself, ``-n``, or the literals of an
    arithmetic expression such as ``32 * 7 * 7``."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return [(node, node.value)]
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant) and type(node.operand.value) is int):
        return [(node, -node.operand.value)]
    if isinstance(node, ast.BinOp):
        return _int_literals(node.left) + _int_literals(node.right)
    return []


class _SiteFinder(ast.NodeVisitor):
    def __init__(self) -> None:
        self.sites: list[Site] = []
        self.scope: list[str] = []
        self.calls: Counter[tuple[str, str]] = Counter()
        self.shape_index: Counter[str] = Counter()

    def _enter(self, node: ast.ClassDef | ast.FunctionDef) -> None:
        self.scope.append(node.name)
        for child in node.body:  # decorators and annotations are not sites
            self.visit(child)
        self.scope.pop()

    visit_ClassDef = _enter
    visit_FunctionDef = _enter

    def _add(self, key: str, kind: SiteKind, node: ast.expr, value: int,
             zero_ok: bool = False) -> None:
        assert node.end_col_offset is not None and node.lineno == node.end_lineno
        self.sites.append(Site(key, kind, value, node.lineno, node.col_offset,
                               node.end_col_offset, zero_ok))

    def visit_Call(self, node: ast.Call) -> None:
        if len(self.scope) >= 2:  # inside a method or nested function of a class
            where = ".".join(self.scope)
            name = _call_name(node)
            nth = self.calls[(where, name)]
            self.calls[(where, name)] += 1
            args: list[tuple[str, ast.expr]] = [(f"arg{i}", a) for i, a in enumerate(node.args)]
            args += [(k.arg, k.value) for k in node.keywords if k.arg is not None]
            for label, arg in args:
                literals = _int_literals(arg)
                for j, (lit, value) in enumerate(literals):
                    part = f"[{j}]" if len(literals) > 1 else ""
                    key = f"{where} {name}#{nth} {label}{part}"
                    if label in AXIS_KEYWORDS or (name in AXIS_CALLS and label.startswith("arg")):
                        self._add(key, "axis", lit, value)
                    elif not (value == -1 and name in WILDCARD_CALLS):
                        self._add(key, "size", lit, value, zero_ok=label in ZERO_OK_KEYWORDS)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        # x.shape[i] used as a size: i is an axis.
        if (len(self.scope) >= 2 and isinstance(node.value, ast.Attribute)
                and node.value.attr == "shape"):
            literals = _int_literals(node.slice)
            if len(literals) == 1:
                where = ".".join(self.scope)
                nth = self.shape_index[where]
                self.shape_index[where] += 1
                lit, value = literals[0]
                self._add(f"{where} shape[]#{nth}", "axis", lit, value)
        self.generic_visit(node)


def find_sites(source: str) -> list[Site]:
    """Every mutable literal of ``source``, in source order."""
    finder = _SiteFinder()
    finder.visit(ast.parse(source))
    return finder.sites


def new_values(site: Site) -> list[int]:
    """The one-step mutations of a site: sizes stay valid sizes, axes move by one."""
    up, down = site.value + 1, site.value - 1
    if site.kind == "axis":
        return [up, down]
    return [up] + ([down] if down >= (0 if site.zero_ok else 1) else [])


def apply(source: str, site: Site, value: int) -> str:
    """``source`` with the literal at ``site`` replaced by ``value`` (characters only)."""
    lines = source.splitlines(keepends=True)
    text = lines[site.line - 1]
    lines[site.line - 1] = text[:site.col] + str(value) + text[site.end_col:]
    return "".join(lines)


def mutants(model: str, source: str) -> list[Mutant]:
    """All mutants of one model, in a fixed order (source order, then new value)."""
    return [Mutant(model, site, value, apply(source, site, value))
            for site in find_sites(source) for value in new_values(site)]
