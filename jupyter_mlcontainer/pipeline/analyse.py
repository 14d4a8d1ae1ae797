"""Analyse: a notebook and the options → a `ServingPlan` (what code to copy, what state to capture).

Slicing works on top-level statements, since real notebooks often put everything in one cell.
Imports, functions, classes, literal constants and file loaders the entry point needs are copied
as code, transitively; every other global it needs is state, captured by value from the kernel.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from dataclasses import replace
from pathlib import Path

import nbformat

from ..engine.base import docker_name, image_name
from ..errors import NotebookError
from .cells import (
    CODE_KINDS,
    IMPORT,
    INCLUDE_TAG,
    LOADER,
    SKIP_TAG,
    Statement,
    file_arguments,
    parse_cells,
    receivers_of,
)
from .plan import ExportOptions, ServingPlan

DEFAULT_ENTRY = "predict"
SAMPLE_ROWS = 3


def read_notebook(path: str | Path) -> tuple[nbformat.NotebookNode, bytes]:
    path = Path(path)
    if not path.is_file():
        raise NotebookError(
            f"No notebook at {path}.", "Check the path (it is relative to where you run)."
        )
    raw = path.read_bytes()
    try:
        notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as error:  # nbformat raises several unrelated types for broken files
        raise NotebookError(
            f"{path} is not a readable notebook: {error}",
            "Open it in Jupyter to repair it, or restore it from a checkpoint.",
        ) from error
    return notebook, raw


def notebook_defaults(notebook: nbformat.NotebookNode) -> dict:
    """Defaults saved in the notebook's metadata["mlcontainer"] (model, entry, method, sample)."""
    defaults = notebook.get("metadata", {}).get("mlcontainer", {})
    return dict(defaults) if isinstance(defaults, dict) else {}


def with_notebook_defaults(
    options: ExportOptions, notebook: nbformat.NotebookNode
) -> ExportOptions:
    """A copy of `options` with what the caller left empty taken from the notebook's metadata."""
    defaults = notebook_defaults(notebook)
    if options.model or options.entry:
        defaults.pop("model", None)
        defaults.pop("entry", None)
    filled = {
        key: defaults[key]
        for key in ("model", "entry", "sample", "name")
        if getattr(options, key) is None and defaults.get(key)
    }
    options = replace(options, **filled)
    if options.method == "predict" and defaults.get("method") and options.model:
        options = replace(options, method=defaults["method"])
    return options


def analyse_notebook(options: ExportOptions, extra_roots: tuple = ()) -> ServingPlan:
    """`extra_roots`: names the slice must also define, e.g. notebook classes a pickle refers to."""
    notebook, raw = read_notebook(options.notebook)
    options = with_notebook_defaults(options, notebook)
    statements, problems = parse_cells(notebook.cells)
    folder = Path(options.notebook).resolve().parent

    entry_kind, entry_name = _entry(options, statements)
    definitions = _last_definitions(statements)
    kept, state, files = _slice(
        entry_name, entry_kind, statements, definitions, folder, extra_roots
    )

    imports = sorted({m for s in kept if s.kind == IMPORT for m in imported_modules(s)})
    local = sorted(m for m in imports if _local_module_files(folder, m))
    warnings = [p.message for p in problems] + _execution_order_warnings(notebook)
    sample = options.sample
    sample_rows = None
    if not sample:
        sample = infer_sample(statements, entry_kind, entry_name, state)
        sample_rows = SAMPLE_ROWS if sample else None
    return ServingPlan(
        notebook=str(options.notebook),
        notebook_sha256=hashlib.sha256(raw).hexdigest(),
        name=docker_name(options.name) if options.name else image_name(options.notebook),
        entry_kind=entry_kind,
        entry_name=entry_name,
        method=options.method,
        code=tuple(s.source for s in kept),
        defined=tuple(sorted({name for s in kept for name in s.defines})),
        loaded=tuple(sorted({name for s in kept if s.kind == LOADER for name in s.defines})),
        state=tuple(state),
        imports=tuple(sorted(set(imports) - set(local))),
        local_modules=tuple(local),
        files=tuple(files),
        sample_expression=sample,
        sample_rows=sample_rows,
        warnings=tuple(warnings),
    )


def _entry(options: ExportOptions, statements: list[Statement]) -> tuple[str, str]:
    defined = {name for s in statements for name in s.defines}
    if options.model:
        if options.model not in defined:
            raise NotebookError(
                f"The notebook never assigns a variable named {options.model!r}.",
                _candidates_hint(statements),
            )
        return "model", options.model
    name = options.entry or DEFAULT_ENTRY
    functions = {n for s in statements if s.kind == "function" for n in s.defines}
    if name not in functions:
        raise NotebookError(
            f"The notebook defines no function named {name!r} to serve.",
            _candidates_hint(statements),
        )
    return "function", name


def _candidates_hint(statements: list[Statement]) -> str:
    found = candidates_from(statements)
    parts = []
    if found["models"]:
        parts.append("a model with --model " + " | ".join(found["models"]))
    if found["functions"]:
        parts.append("a function with --entry " + " | ".join(found["functions"]))
    return (
        "Choose " + ", or ".join(parts) + "."
        if parts
        else "Define a predict(X) function in the notebook."
    )


def _last_definitions(statements: list[Statement]) -> dict[str, Statement]:
    """Each global's last defining statement: what the kernel holds after an in-order run."""
    definitions: dict[str, Statement] = {}
    for statement in statements:
        if SKIP_TAG in statement.tags:
            continue
        for name in statement.defines:
            definitions[name] = statement
    return definitions


def _slice(entry_name, entry_kind, statements, definitions, folder, extra_roots):
    kept: dict[int, Statement] = {}
    state: set[str] = set()
    files: set[str] = set()
    pending = [entry_name, *extra_roots]
    for statement in statements:
        if INCLUDE_TAG in statement.tags and not statement.calls_ipython:
            kept[statement.position] = statement
            pending.extend(statement.uses)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        statement = definitions.get(name)
        if statement is None:
            continue  # a builtin, or a name the notebook never binds
        is_entry_model = entry_kind == "model" and name == entry_name
        loader_files = _existing_files(statement, folder) if statement.kind == LOADER else []
        if (
            statement.kind in CODE_KINDS
            and not statement.calls_ipython
            and not is_entry_model
            and (statement.kind != LOADER or loader_files)
        ):
            kept[statement.position] = statement
            files.update(loader_files)
            pending.extend(statement.uses)
        else:
            state.add(name)
    if entry_kind == "model":
        state.add(entry_name)
    return [kept[p] for p in sorted(kept)], sorted(state), sorted(files)


def _existing_files(statement: Statement, folder: Path) -> list[str]:
    found = []
    for argument in file_arguments(statement.node.value):
        candidate = Path(argument)
        if not candidate.is_absolute() and (folder / candidate).is_file():
            if (folder / candidate).resolve().is_relative_to(folder):
                found.append(candidate.as_posix())
    return found


def imported_modules(statement: Statement) -> list[str]:
    """Top-level module names an import statement brings in (relative imports excluded)."""
    node = statement.node
    if hasattr(node, "module"):  # ImportFrom
        return [node.module.split(".")[0]] if node.module and not node.level else []
    return [alias.name.split(".")[0] for alias in node.names]


def _local_module_files(folder: Path, module: str) -> list[Path]:
    """`module.py` beside the notebook, or every file of the package `module/` (its data
    files too), leaving out bytecode."""
    single = folder / f"{module}.py"
    if single.is_file():
        return [single]
    package = folder / module
    if not (package / "__init__.py").is_file():
        return []
    return sorted(
        path
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def _top_level_imports(path: Path) -> set[str]:
    """Top-level names of the modules a Python file imports (relative imports excluded);
    none for data files and files that do not parse, which ship as they are."""
    if path.suffix != ".py":
        return set()
    try:
        tree = ast.parse(path.read_text())
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return set()
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module.split(".")[0])
    return modules


def local_module_files(folder: Path, modules: list[str]) -> list[Path]:
    """Local modules and packages, and the local ones they import in turn, as files beside
    the notebook."""
    found: dict[str, list[Path]] = {}
    pending = list(modules)
    while pending:
        module = pending.pop()
        if module in found:
            continue
        files = _local_module_files(folder, module)
        if files:
            found[module] = files
            pending += sorted(set().union(*map(_top_level_imports, files)))
    return [path for module in sorted(found) for path in found[module]]


def third_party_imports_of_files(paths: list[Path]) -> list[str]:
    modules = set().union(*map(_top_level_imports, paths))
    return sorted(m for m in modules if m not in sys.stdlib_module_names)


def infer_sample(statements, entry_kind, entry_name, state) -> str | None:
    """The data passed to the last `.fit(...)` of the model, or, for an entry function, the
    last raw data (a name, not a computed value) fitted by any state the function uses."""
    owners = {entry_name} if entry_kind == "model" else set(state)
    for statement in reversed(statements):
        for owner, call in reversed(fit_calls(statement)):
            if owner not in owners or not call.args:
                continue
            data = call.args[0]
            if entry_kind == "model" or isinstance(data, (ast.Name, ast.Subscript, ast.Attribute)):
                return ast.unparse(data)
    return None


def fit_calls(statement: Statement) -> list[tuple[str, ast.Call]]:
    """`(owner, call)` for `owner.fit(...)` and for `owner = Estimator(...).fit(...)`."""
    found = receivers_of(statement, "fit")
    node = statement.node
    if (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
    ):
        value = node.value
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and value.func.attr == "fit"
        ):
            if not isinstance(value.func.value, ast.Name):
                found.append((node.targets[0].id, value))
    return found


def _execution_order_warnings(notebook) -> list[str]:
    counts = [
        (index, cell.get("execution_count"))
        for index, cell in enumerate(notebook.cells)
        if cell.get("cell_type") == "code" and cell.get("execution_count")
    ]
    for (_, previous), (index, count) in zip(counts, counts[1:], strict=False):
        if count < previous:
            return [
                f"Cells ran out of order (cell {index} ran as [{count}] after [{previous}]): the "
                "kernel's state may not match the code. Restart and run all to be sure."
            ]
    return []


def candidates_from(statements: list[Statement]) -> dict:
    models, functions = [], []
    for statement in statements:
        for owner, _ in fit_calls(statement):
            if owner not in models:
                models.append(owner)
        if statement.kind == LOADER:
            models.extend(sorted(n for n in statement.defines if n not in models))
        if statement.kind == "function":
            functions.extend(n for n in statement.defines if n not in functions)
    return {"models": models, "functions": functions}


def find_candidates(path: str | Path) -> dict:
    """Models and functions a user might serve from this notebook, to prefill a dialog."""
    notebook, _ = read_notebook(path)
    statements, _ = parse_cells(notebook.cells)
    found = candidates_from(statements)
    defaults = notebook_defaults(notebook)
    model = defaults.get("model") or (found["models"][-1] if found["models"] else None)
    found["sample"] = defaults.get("sample") or (
        infer_sample(statements, "model", model, []) if model else None
    )
    found["defaults"] = defaults
    return found
