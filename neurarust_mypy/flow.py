"""The shape a variable holds where it is read, when it was assigned more than once.

mypy gives a variable the type of its first assignment and never narrows it on a later one
when both are ``Tensor`` (a shaped tensor is a ``Tensor`` both ways, so ``narrow_declared_type``
keeps the declared type). Then ``x = self.conv(x); x = self.fc(x.flatten(1))`` would check
``self.fc`` against the parameter's shape: a false error. So where a hook reads a plain name,
the plugin looks for the assignment that reaches the read:

- straight-line code (the assignment's block encloses the read): the type mypy stored for
  that assignment's right-hand side, which is the value the name holds;
- an assignment in a branch or loop that does not enclose the read, or a read inside a loop
  that re-assigns the name: several values may reach it, so the shape is unknown.

Names assigned once (or parameters never re-assigned) keep mypy's type: nothing to do.
"""

from __future__ import annotations

from typing import Any

from mypy.nodes import (
    GDEF,
    AssignmentStmt,
    Block,
    CallExpr,
    ClassDef,
    Decorator,
    Expression,
    ForStmt,
    FuncDef,
    FuncItem,
    IntExpr,
    ListExpr,
    MypyFile,
    NameExpr,
    OperatorAssignmentStmt,
    OverloadedFuncDef,
    StarExpr,
    TryStmt,
    TupleExpr,
    Var,
    WhileStmt,
    WithStmt,
)
from mypy.types import TupleType, Type, get_proper_type

_LOOPS = (ForStmt, WhileStmt)


class _Write:
    """One assignment of a name: where it takes effect, its value (None: unknown), the index
    into a tuple value (``a, b = pair``), and the blocks and loops around it."""

    __slots__ = ("blocks", "end", "loops", "path", "value")

    def __init__(self, end: tuple[int, int], value: Expression | None, path: tuple[int, ...],
                 blocks: tuple[int, ...], loops: tuple[int, ...]) -> None:
        self.end, self.value, self.path, self.blocks, self.loops = end, value, path, blocks, loops


class _Index:
    """The writes of each variable of one function (or module) body, and each block's
    extent, so a read can be placed in its blocks."""

    def __init__(self, body: list[Any]) -> None:
        self.writes: dict[int, list[_Write]] = {}
        self.blocks: list[tuple[tuple[int, int], tuple[int, int], int, bool]] = []
        self.guarded: list[tuple[tuple[int, int], tuple[int, int]]] = []
        self.starts: dict[int, tuple[int, int]] = {}
        self.trips: dict[int, int | None] = {}  # loop body -> its literal trip count
        self._walk(body, (), ())

    def _walk(self, body: list[Any], blocks: tuple[int, ...], loops: tuple[int, ...]) -> None:
        for stmt in body:
            if isinstance(stmt, (FuncDef, Decorator, OverloadedFuncDef, ClassDef)):
                continue  # their own scopes
            if isinstance(stmt, AssignmentStmt):
                for lvalue in stmt.lvalues:
                    self._target(lvalue, stmt.rvalue, (), _end(stmt), blocks, loops)
            elif isinstance(stmt, OperatorAssignmentStmt):
                self._target(stmt.lvalue, None, (), _end(stmt), blocks, loops)
            if isinstance(stmt, ForStmt):
                self._target(stmt.index, None, (), (stmt.line, stmt.column), blocks, loops)
            if isinstance(stmt, TryStmt) and any(
                    getattr(t, "name", None) == "ShapeError" for t in stmt.types):
                self.guarded.append(((stmt.body.line, stmt.body.column), _end(stmt.body)))
            if isinstance(stmt, WithStmt):
                for target in stmt.target:
                    if target is not None:
                        self._target(target, None, (), (stmt.line, stmt.column), blocks, loops)
            for attr in ("body", "else_body", "finally_body", "handlers", "bodies"):
                child = getattr(stmt, attr, None)
                children = [child] if isinstance(child, Block) else [
                    c for c in child if isinstance(c, Block)] if isinstance(child, list) else []
                for block in children:
                    in_loop = isinstance(stmt, _LOOPS) and attr == "body"
                    key = id(block)
                    self.starts[key] = (block.line, block.column)
                    if in_loop:
                        self.trips[key] = _trips(stmt)
                    self.blocks.append(((block.line, block.column), _end(block), key, in_loop))
                    self._walk(block.body, (*blocks, key), (*loops, key) if in_loop else loops)

    def _target(self, lvalue: Expression, value: Expression | None, path: tuple[int, ...],
                end: tuple[int, int], blocks: tuple[int, ...], loops: tuple[int, ...]) -> None:
        if isinstance(lvalue, NameExpr) and isinstance(lvalue.node, Var):
            self.writes.setdefault(id(lvalue.node), []).append(
                _Write(end, value, path, blocks, loops))
        elif isinstance(lvalue, (TupleExpr, ListExpr)):
            for i, item in enumerate(lvalue.items):
                self._target(item, value, (*path, i), end, blocks, loops)
        elif isinstance(lvalue, StarExpr):
            self._target(lvalue.expr, None, path, end, blocks, loops)

    def around(self, pos: tuple[int, int]) -> tuple[set[int], set[int]]:
        """The blocks, and the loop bodies, that contain position ``pos``."""
        inside = {key for start, end, key, _ in self.blocks if start <= pos <= end}
        loops = {key for start, end, key, loop in self.blocks if loop and start <= pos <= end}
        return inside, loops


def _trips(loop: Any) -> int | None:
    """The number of trips of ``for _ in range(k)`` with a literal ``k`` (else None)."""
    it = getattr(loop, "expr", None)
    if isinstance(loop, ForStmt) and isinstance(it, CallExpr) and isinstance(
            it.callee, NameExpr) and it.callee.fullname == "builtins.range" \
            and len(it.args) == 1 and isinstance(it.args[0], IntExpr):
        return it.args[0].value
    return None


def again(api: Any, expr: Expression, context: Any) -> int:
    """How many more times the call ``context`` runs with its own result in place of the
    name ``expr`` it reads: ``h = f(h)`` in ``for _ in range(k)`` gives ``k - 1``."""
    scope = current_scope(api)
    if not isinstance(expr, NameExpr) or not isinstance(expr.node, Var) or scope is None:
        return 0
    index = _index(scope)
    writes = index.writes.get(id(expr.node), [])
    mine = [w for w in writes if w.value is context and not w.path]
    if len(mine) != 1 or not mine[0].loops:
        return 0
    loop = mine[0].loops[-1]
    if sum(1 for w in writes if loop in w.loops) != 1:
        return 0  # other writes in the loop: the next trip's value is not this result
    trips = index.trips.get(loop)
    return max(trips - 1, 0) if trips is not None else 0


def _end(node: Any) -> tuple[int, int]:
    line = node.end_line if node.end_line is not None else node.line
    column = node.end_column if node.end_column is not None else 10**6
    return line, column


_INDEXES: dict[int, tuple[Any, _Index]] = {}


def reset() -> None:
    """Forget the indexes (a new build starts)."""
    _INDEXES.clear()


def _index(scope: FuncItem | MypyFile) -> _Index:
    key = id(scope)
    found = _INDEXES.get(key)
    if found is None or found[0] is not scope:
        body = scope.defs if isinstance(scope, MypyFile) else scope.body.body
        found = _INDEXES[key] = (scope, _Index(body))
    return found[1]


def current_scope(api: Any) -> FuncItem | MypyFile | None:
    """The function (or module) whose body the checker is in."""
    try:
        fn = api.scope.current_function()
        return fn if fn is not None else api.tree
    except AttributeError:
        return None


def reaching_type(api: Any, scope: FuncItem | MypyFile | None, expr: Expression,
                  given: Type) -> Type | None:
    """The type ``expr`` (a plain name read in ``scope``) holds, when mypy's ``given`` type
    may be stale: the right-hand side's type of the reaching assignment, or None for
    "unknown"; ``given`` itself when mypy's type is right."""
    if not isinstance(expr, NameExpr) or not isinstance(expr.node, Var) or scope is None:
        return given
    index = _index(scope)
    writes = index.writes.get(id(expr.node), [])
    is_param = isinstance(scope, FuncItem) and any(
        a.variable is expr.node for a in scope.arguments)
    if len(writes) + is_param <= 1:
        return given
    pos = (expr.line, expr.column)
    inside, loops = index.around(pos)
    before = [w for w in writes if w.end < pos]
    last = max(before, key=lambda w: w.end) if before else None
    carried = {key for w in writes if w.end >= pos for key in set(w.loops) & loops}
    if carried and not (last is not None and carried <= set(last.loops)
                        and set(last.blocks) <= inside):
        # written later in a loop around the read: on the first trip the name holds what it
        # held before the loop (later trips: see ``again``)
        start = min(index.starts[key] for key in carried)
        before = [w for w in writes if w.end < start]
        last = max(before, key=lambda w: w.end) if before else None
    if last is None:
        return given if is_param else None
    if not set(last.blocks) <= inside or last.value is None:
        return None  # assigned in a branch that may or may not have run
    found = api.lookup_type_or_none(last.value)
    for i in last.path:
        p = get_proper_type(found) if found is not None else None
        found = p.items[i] if isinstance(p, TupleType) and i < len(p.items) else None
    return found


def reaching_value(api: Any, scope: FuncItem | MypyFile | None, expr: NameExpr,
                   ) -> tuple[Expression, tuple[int, ...]] | None:
    """The right-hand side (and tuple index path) of the one assignment that reaches the
    read ``expr`` in straight-line code; None when there is none, or several may reach it."""
    if not isinstance(expr.node, Var) or scope is None:
        return None
    if isinstance(scope, FuncItem) and any(a.variable is expr.node for a in scope.arguments):
        return None
    index = _index(scope)
    writes = index.writes.get(id(expr.node), [])
    if not writes and expr.kind == GDEF and not isinstance(scope, MypyFile):
        # a module constant (``HIDDEN = 64``) read in a function: its one top-level write
        tree = getattr(api, "tree", None)
        top = _index(tree).writes.get(id(expr.node), []) if isinstance(tree, MypyFile) else []
        if len(top) == 1 and not top[0].blocks and top[0].value is not None:
            return top[0].value, top[0].path
        return None
    pos = (expr.line, expr.column)
    inside, loops = index.around(pos)
    if not writes or any(set(w.loops) & loops for w in writes):
        return None
    before = [w for w in writes if w.end < pos]
    if not before:
        return None
    last = max(before, key=lambda w: w.end)
    if not set(last.blocks) <= inside or last.value is None:
        return None
    return last.value, last.path


def expects_shape_error(api: Any, context: Any) -> bool:
    """Whether ``context`` sits in the body of a ``try`` that catches ``ShapeError``: there
    the code means to provoke one (a demo, a test), so it is no mistake to report."""
    scope = current_scope(api)
    if scope is None:
        return False
    pos = (context.line, context.column)
    return any(start <= pos <= end for start, end in _index(scope).guarded)
