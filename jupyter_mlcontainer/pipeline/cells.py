"""Turn notebook code cells into top-level Python statements with what each defines and uses.

Cells go through IPython's own input transformer first, so magics, `!shell` lines and `?help`
parse; statements that call into IPython are marked so they never reach the generated code.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import re
import symtable
from dataclasses import dataclass, field

from IPython.core.inputtransformer2 import TransformerManager

SKIP_TAG = "mlcontainer:skip"
INCLUDE_TAG = "mlcontainer:include"

#: Cell magics whose body is ordinary Python that runs in the user namespace.
PYTHON_CELL_MAGICS = {"time", "capture", "prun"}
#: Line magics that run the rest of their line as Python (`%time clf.fit(X, y)`).
_TIMING_LINE_MAGIC = re.compile(r"^(\s*)%(?:time|timeit|prun)\s+(?!-)", re.MULTILINE)
_BUILTINS = frozenset(dir(builtins)) | {"__name__", "__file__", "display", "get_ipython"}

#: Statement kinds. Code kinds are copied into the image; the rest never are, unless a cell
#: is tagged `mlcontainer:include`, and the names they define are captured as state.
IMPORT, FUNCTION, CLASS, CONSTANT, LOADER, OTHER = (
    "import",
    "function",
    "class",
    "constant",
    "loader",
    "other",
)
CODE_KINDS = frozenset({IMPORT, FUNCTION, CLASS, CONSTANT, LOADER})


@dataclass
class Statement:
    cell: int  # index of the cell in the notebook
    position: int  # order of the statement in the whole notebook
    source: str
    kind: str
    defines: set = field(default_factory=set)
    uses: set = field(default_factory=set)
    node: ast.AST = None
    tags: frozenset = frozenset()
    calls_ipython: bool = False
    first_line: str = ""  # as written in the cell, before IPython's transformation


@dataclass
class CellProblem:
    cell: int
    message: str


def python_source(cell_source: str) -> str | None:
    """The cell as plain Python after IPython's transformation; None for non-Python cell magics."""
    first_line, _, body = cell_source.lstrip().partition("\n")
    if first_line.startswith("%%"):
        magic = first_line[2:].split()[0] if first_line[2:].split() else ""
        if magic not in PYTHON_CELL_MAGICS:
            return None
        cell_source = body
    cell_source = _TIMING_LINE_MAGIC.sub(r"\1", cell_source)
    return TransformerManager().transform_cell(cell_source)


def code_cell_hashes(cells: list) -> tuple:
    """One entry per code cell, in order: its index among all cells, its id (nbformat 4.5+,
    else None), the sha256 of its source and its first non-blank line, which is what `check`
    compares to say which cells changed since a build."""
    hashes = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        first = next((line.strip() for line in source.splitlines() if line.strip()), "")
        hashes.append(
            {
                "index": index,
                "id": cell.get("id"),
                "sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
                "first_line": first[:80],
            }
        )
    return tuple(hashes)


def code_sha256(cells: tuple) -> str:
    """One hash for the code cells (`code_cell_hashes`), blind to outputs, markdown and ids."""
    return hashlib.sha256("\n".join(cell["sha256"] for cell in cells).encode()).hexdigest()


def parse_cells(cells: list) -> tuple[list[Statement], list[CellProblem]]:
    """All top-level statements of the code cells, in notebook order."""
    statements: list[Statement] = []
    problems: list[CellProblem] = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        tags = frozenset(cell.get("metadata", {}).get("tags", []))
        source = python_source(cell.get("source", ""))
        if source is None:
            continue
        try:
            module = ast.parse(source)
        except SyntaxError as error:
            problems.append(
                CellProblem(
                    index, f"cell {index} does not parse: {error.msg} (line {error.lineno})"
                )
            )
            continue
        written = cell.get("source", "")
        offset = _body_offset(written)
        for node in module.body:
            statement = _describe(node, source, index, len(statements), tags)
            statement.first_line = (
                _first_line(written, offset, node) or statement.source.splitlines()[0]
            )
            statements.append(statement)
    return statements, problems


def _body_offset(cell_source: str) -> int:
    """Lines before the Python body: a `%%time` line and the blank lines above it."""
    stripped = cell_source.lstrip()
    if not stripped.startswith("%%"):
        return 0
    return cell_source[: len(cell_source) - len(stripped)].count("\n") + 1


def _first_line(cell_source: str, offset: int, node: ast.AST) -> str:
    """The statement's first line as the user wrote it (its decorator's, for a decorated
    def), so a magic line reads `%matplotlib inline`, not IPython's translation."""
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    lines = cell_source.splitlines()
    index = start - 1 + offset
    return lines[index].strip() if 0 <= index < len(lines) else ""


def _describe(node: ast.AST, source: str, cell: int, position: int, tags: frozenset) -> Statement:
    kind, defines = _classify(node)
    return Statement(
        cell=cell,
        position=position,
        source=_segment(source, node),
        kind=kind,
        defines=defines,
        uses=global_uses(node) - _BUILTINS,
        node=node,
        tags=tags,
        calls_ipython=_calls_ipython(node),
    )


def _classify(node: ast.AST) -> tuple[str, set]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return IMPORT, {
            alias.asname or alias.name.split(".")[0] for alias in node.names if alias.name != "*"
        }
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return FUNCTION, {node.name}
    if isinstance(node, ast.ClassDef):
        return CLASS, {node.name}
    targets = assigned_names(node)
    value = getattr(node, "value", None)
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and value is not None and targets:
        if _is_literal(value):
            return CONSTANT, targets
        if file_arguments(value):
            return LOADER, targets
    return OTHER, targets


def assigned_names(node: ast.AST) -> set:
    """Global names a top-level statement binds (assignments, loops, with-targets, walrus)."""
    names = set()
    for child in ast.walk(node):
        if (
            isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and child is not node
        ):
            names.add(child.name)
        elif isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
            names.add(child.id)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in child.names if a.name != "*"}
    return names


def _is_literal(value: ast.AST) -> bool:
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def file_arguments(value: ast.AST) -> list[str]:
    """String arguments of a loader call like `joblib.load("model.joblib")`.

    A call counts as a loader when every argument is a literal and it names an attribute of a
    module-like name; whether the strings are files is decided against the notebook's folder.
    """
    if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Attribute):
        return []
    arguments = list(value.args) + [keyword.value for keyword in value.keywords]
    if not arguments or not all(_is_literal(argument) for argument in arguments):
        return []
    root = value.func
    while isinstance(root, ast.Attribute):
        root = root.value
    if not isinstance(root, ast.Name):
        return []
    return [a.value for a in arguments if isinstance(a, ast.Constant) and isinstance(a.value, str)]


def has_star_import(node: ast.AST) -> bool:
    return isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)


def global_uses(node: ast.AST) -> set:
    """Module-level names a statement reads, including inside its functions and classes.

    Uses the compiler's own symbol tables, so a function's parameters and locals never count
    as uses of notebook globals that happen to share their names.
    """
    table = symtable.symtable(ast.unparse(node), "<cell>", "exec")
    uses = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    return uses | _nested_globals(table)


def _nested_globals(table: symtable.SymbolTable) -> set:
    names = set()
    for child in table.get_children():
        for symbol in child.get_symbols():
            if symbol.is_global() and symbol.is_referenced():
                names.add(symbol.get_name())
        names |= _nested_globals(child)
    return names


def _calls_ipython(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "get_ipython" for n in ast.walk(node))


def _segment(source: str, node: ast.AST) -> str:
    """The statement's own text, comments and formatting included, decorators too, and the
    comment that ends its last line (a `# pragma: allowlist secret` must stay with its line)."""
    lines = source.split("\n")  # as ast counts lines; splitlines also splits at \x0c, \u2028…
    decorators = getattr(node, "decorator_list", None)
    if decorators:  # whole lines, so a closing comment is already in
        start = min(d.lineno for d in decorators)
        return "\n".join(line.rstrip("\r") for line in lines[start - 1 : node.end_lineno])
    text = ast.get_source_segment(source, node) or ast.unparse(node)
    rest = lines[node.end_lineno - 1].encode()[node.end_col_offset :].decode(errors="replace")
    return text + rest.rstrip() if rest.lstrip().startswith("#") else text


def receivers_of(statement: Statement, method: str) -> list[tuple[str, ast.Call]]:
    """`(name, call)` for each `name.<method>(...)` call in a statement."""
    found = []
    for child in ast.walk(statement.node):
        if (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Attribute)
            and child.func.attr == method
            and isinstance(child.func.value, ast.Name)
        ):
            found.append((child.func.value.id, child))
    return found
