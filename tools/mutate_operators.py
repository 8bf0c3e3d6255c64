"""The mutants of a file for tools/mutate.py: one change at a time on its syntax tree.

Comparison swaps, ``True``/``False`` swapped, integer constants +1 and -1, ``return x`` to ``return
None``, conditions negated and ``not`` dropped, ``min``/``max`` and ``any``/``all`` swapped, ``or``/``and``
swapped, one element dropped from a constant set, tuple, list or dict or from a validator's field
names. Annotations, docstrings, ``Literal[...]``, f-strings and logging calls are passed over. A
mutant replaces the source of one node's span, so the rest of the file stays as written.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass

LOG_NAMES = ("logger", "log", "logging")

_COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_CALL_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any"}
_OP_TEXT = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to the repository
    line: int
    col: int
    end_line: int
    end_col: int
    operator: str  # e.g. "< -> <=", "+1", "drop 'JOINED'", "return None"
    replacement: str  # source for the span (line, col)..(end_line, end_col)

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}:{self.col} {self.operator}"

    def apply(self, source: bytes) -> bytes:
        starts = [0]
        for chunk in source.splitlines(keepends=True):
            starts.append(starts[-1] + len(chunk))
        begin = starts[self.line - 1] + self.col  # ast offsets are UTF-8 bytes
        end = starts[self.end_line - 1] + self.end_col
        return source[:begin] + self.replacement.encode() + source[end:]


def mutants_of(path: str, source: str, region: tuple[str, ...] | None = None) -> list[Mutant]:
    """The mutants of ``source`` (the file ``path``); ``region``: only in these top-level names."""
    tree = ast.parse(source)
    found: list[Mutant] = []
    roots: list[ast.AST] = [tree] if region is None else [n for n in tree.body if _defines(n) & set(region)]
    for node in roots:
        _Finder(path, found).visit(node)
    unique = {m.id: m for m in found}  # one mutant per span and operator
    return sorted(unique.values(), key=lambda m: (m.line, m.col, m.operator))


def _defines(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


class _Finder(ast.NodeVisitor):
    """Collects the mutants of a tree; annotations, docstrings, ``Literal[...]``, f-strings and
    logging calls are passed over."""

    def __init__(self, path: str, found: list[Mutant]) -> None:
        self.path, self.found = path, found

    def _add(self, node: ast.AST, operator: str, new: ast.AST | str, *, statement: bool = False) -> None:
        text = new if isinstance(new, str) else ast.unparse(new)
        self.found.append(
            Mutant(
                self.path,
                node.lineno,  # type: ignore[attr-defined]
                node.col_offset,  # type: ignore[attr-defined]
                node.end_lineno,  # type: ignore[attr-defined]
                node.end_col_offset,  # type: ignore[attr-defined]
                operator,
                text if statement else f"({text})",
            )
        )

    # -- what is passed over ---------------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._visit_arguments(node.args)
        self._visit_body(node.body)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def _visit_arguments(self, args: ast.arguments) -> None:
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit(default)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        for keyword in node.keywords:
            self.visit(keyword)
        self._visit_body(node.body)

    def _visit_body(self, body: list[ast.stmt]) -> None:
        start = 1 if body and _is_docstring(body[0]) else 0
        for statement in body[start:]:
            self.visit(statement)

    def visit_Module(self, node: ast.Module) -> None:
        self._visit_body(node.body)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_Assign(self, node: ast.Assign) -> None:
        if isinstance(node.targets[0], ast.Tuple) and isinstance(node.value, ast.Tuple):
            for element in node.value.elts:  # a, b = x, y: dropping one only breaks the unpacking
                self.visit(element)
            return
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        return

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return

    def visit_Expr(self, node: ast.Expr) -> None:
        if not _is_docstring(node):
            self.visit(node.value)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == "Literal":
            return
        self.generic_visit(node)

    # -- the operators ---------------------------------------------------------------------------
    def visit_Compare(self, node: ast.Compare) -> None:
        for index, op in enumerate(node.ops):
            swap = _COMPARE_SWAPS.get(type(op))
            if swap is None:
                continue
            new = copy.deepcopy(node)
            new.ops[index] = swap()
            self._add(node, f"{_OP_TEXT[type(op)]} -> {_OP_TEXT[swap]}", new)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool):
            self._add(node, f"{value} -> {not value}", repr(not value))
        elif isinstance(value, int):
            self._add(node, "+1", repr(value + 1))
            self._add(node, "-1", repr(value - 1))

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            self._add(node, "return None", "return None", statement=True)
        self.generic_visit(node)

    def _negate(self, test: ast.expr) -> None:
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return  # visit_UnaryOp drops the not
        self._add(test, "negated", ast.UnaryOp(op=ast.Not(), operand=test))

    def visit_If(self, node: ast.If) -> None:
        self._negate(node.test)
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self._negate(node.test)
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._negate(node.test)
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        for condition in node.ifs:
            self._negate(condition)
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self._add(node, "not dropped", node.operand)
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        swapped = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        label = "and -> or" if isinstance(node.op, ast.And) else "or -> and"
        self._add(node, label, ast.BoolOp(op=swapped, values=node.values))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in LOG_NAMES
        ):
            return
        if isinstance(func, ast.Name) and func.id == "field_validator":
            self._drop_each_argument(node)
        if isinstance(func, ast.Name) and func.id in _CALL_SWAPS:
            new = copy.deepcopy(node)
            new.func = ast.Name(id=_CALL_SWAPS[func.id], ctx=ast.Load())
            self._add(node, f"{func.id} -> {_CALL_SWAPS[func.id]}", new)
        self.generic_visit(node)

    def _drop_each(self, node: ast.Set | ast.Tuple | ast.List) -> None:
        if len(node.elts) < 2 or not all(isinstance(e, ast.Constant) for e in node.elts):
            return
        for index, element in enumerate(node.elts):
            new = copy.deepcopy(node)
            del new.elts[index]
            self._add(node, f"drop {ast.unparse(element)}", new)

    def _drop_each_argument(self, node: ast.Call) -> None:
        """A validator's field names: one dropped switches its check off for that field."""
        if len(node.args) < 2 or not all(isinstance(a, ast.Constant) for a in node.args):
            return
        for index, argument in enumerate(node.args):
            new = copy.deepcopy(node)
            del new.args[index]
            self._add(node, f"drop {ast.unparse(argument)}", new)

    def visit_Set(self, node: ast.Set) -> None:
        self._drop_each(node)
        self.generic_visit(node)

    def visit_Tuple(self, node: ast.Tuple) -> None:
        self._drop_each(node)
        self.generic_visit(node)

    def visit_List(self, node: ast.List) -> None:
        self._drop_each(node)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        keys = node.keys
        if len(keys) >= 2 and all(isinstance(k, ast.Constant) for k in keys):
            for index, key in enumerate(keys):
                new = copy.deepcopy(node)
                del new.keys[index], new.values[index]
                self._add(node, f"drop {ast.unparse(key)}:", new)  # type: ignore[arg-type]
        self.generic_visit(node)


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )
