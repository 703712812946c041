"""Checks run once a module has been type-checked: return values against shaped return
annotations, and the undecided-condition notes that cannot be emitted where they arise.

mypy has no hook on ``return`` statements, and ``return h`` of a local variable triggers no
hook at all. But :meth:`Plugin.get_additional_indirect_deps` is called for each module right
after it is type-checked (both passes), while its type map is still alive: the plugin then
walks the module's functions, reads the type mypy inferred for each returned expression and
checks it against the function's shaped return annotation.

The type checker itself is captured from the module's hook calls (every module defining a
class makes at least one: ``object.__init_subclass__`` is checked for each class). Anything
this module reads beyond the plugin API is guarded: a future mypy without it gives no
deferred diagnostics, never a crash.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mypy.nodes import (
    Block,
    ClassDef,
    Context,
    Decorator,
    FuncDef,
    MypyFile,
    OverloadedFuncDef,
    ReturnStmt,
)
from mypy.types import CallableType, get_proper_type

_CHECKERS: dict[str, Any] = {}  # module fullname -> its TypeChecker, while it is checked
_NOTES: dict[str, list[tuple[Context, str, Any]]] = {}  # module -> notes to emit at its end

ReturnCheck = Callable[[Any, FuncDef, ReturnStmt, Any], None]


def reset() -> None:
    """Forget every module (a new build starts)."""
    _CHECKERS.clear()
    _NOTES.clear()


def remember(api: Any) -> None:
    """Keep the type checker of the module a hook runs in (cheap: one dict store)."""
    tree = getattr(api, "tree", None)
    name = getattr(tree, "fullname", None)
    if isinstance(name, str) and name not in _CHECKERS:
        _CHECKERS[name] = api


def note_later(api: Any, context: Context, message: str, code: Any) -> bool:
    """Queue a note for the module's end; False when the module's checker is unknown."""
    name = getattr(getattr(api, "tree", None), "fullname", None)
    if not isinstance(name, str):
        return False
    remember(api)
    _NOTES.setdefault(name, []).append((context, message, code))
    return True


def _returns(nodes: list[Any], defn: FuncDef | None,
             out: list[tuple[FuncDef, ReturnStmt]]) -> None:
    """Every ``return <expr>`` under ``nodes`` with the function it returns from (lambdas
    aside: their bodies are expressions, their returns are not annotated)."""
    for node in nodes:
        if isinstance(node, ReturnStmt):
            if defn is not None and node.expr is not None:
                out.append((defn, node))
            continue
        if isinstance(node, FuncDef):
            _returns(node.body.body, node, out)
            continue
        if isinstance(node, Block):
            _returns(node.body, defn, out)
            continue
        if isinstance(node, Decorator):
            _returns([node.func], defn, out)
            continue
        if isinstance(node, OverloadedFuncDef):
            _returns([*node.items, *([node.impl] if node.impl is not None else [])], defn, out)
            continue
        if isinstance(node, ClassDef):
            _returns(node.defs.body, None, out)
            continue
        for attr in _BODIES:  # if/for/while/with/try/match: their blocks
            child = getattr(node, attr, None)
            if isinstance(child, Block):
                _returns(child.body, defn, out)
            elif isinstance(child, list):
                _returns([c for c in child if isinstance(c, Block)], defn, out)


_BODIES = ("body", "else_body", "finally_body", "handlers", "bodies")


@contextmanager
def _reporting_in(api: Any) -> Iterator[None]:
    """Point mypy's error collector at ``api``'s file for a while (mypy checks a cycle of
    modules before it finishes any, so it may be pointing at another one)."""
    errors = api.errors
    saved = (errors.file, errors.target_module, errors.options, errors.scope)
    errors.set_file(api.path, api.tree.fullname, options=api.options, scope=api.tscope)
    try:
        with api.tscope.module_scope(api.tree.fullname):
            yield
    finally:
        errors.file, errors.target_module, errors.options, errors.scope = saved


def finish(file: MypyFile, check_return: ReturnCheck, has_shaped_return: Callable[[Any], bool],
           ) -> None:
    """Run the deferred checks of ``file`` (called once mypy has type-checked it)."""
    api = _CHECKERS.pop(file.fullname, None)
    notes = _NOTES.pop(file.fullname, [])
    if api is None:
        return
    try:
        with _reporting_in(api):
            seen: set[tuple[int, int, str]] = set()
            for context, message, code in notes:
                key = (context.line, context.column, message)
                if key not in seen:
                    seen.add(key)
                    api.note(message, context, code=code)
            if not any(_shaped_defs(file, has_shaped_return)):
                return
            found: list[tuple[FuncDef, ReturnStmt]] = []
            _returns(file.defs, None, found)
            for defn, stmt in found:
                sig = defn.type
                if isinstance(sig, CallableType) and has_shaped_return(sig.ret_type):
                    got = api.lookup_type_or_none(stmt.expr)
                    if got is not None:
                        check_return(api, defn, stmt, get_proper_type(got))
    except Exception:
        if os.environ.get("NEURARUST_MYPY_DEBUG"):
            raise
        return  # e.g. a mypy without these attributes: no deferred diagnostics


def _shaped_defs(file: MypyFile, has_shaped_return: Callable[[Any], bool]) -> Iterator[bool]:
    """Cheap pre-test: does any function of the module (nested ones aside) declare a shaped
    return type? Most modules of a code base do not, and need no walk."""
    stack: list[Any] = list(file.defs)
    while stack:
        node = stack.pop()
        if isinstance(node, Decorator):
            node = node.func
        if isinstance(node, OverloadedFuncDef):
            stack.extend(node.items)
            continue
        if isinstance(node, ClassDef):
            stack.extend(node.defs.body)
            continue
        if isinstance(node, FuncDef) and isinstance(node.type, CallableType):
            if has_shaped_return(node.type.ret_type):
                yield True
                return
            stack.extend(s for s in node.body.body if isinstance(s, (FuncDef, Decorator)))
