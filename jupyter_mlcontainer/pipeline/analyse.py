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
from ..shared.errors import NotebookError
from .cells import (
    CODE_KINDS,
    IMPORT,
    INCLUDE_TAG,
    LOADER,
    SKIP_TAG,
    Statement,
    code_cell_hashes,
    file_arguments,
    has_star_import,
    parse_cells,
    python_source,
    receivers_of,
)
from .plan import ExportOptions, ServingPlan, StatementVerdict

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


def contract_overrides(notebook: nbformat.NotebookNode):
    """The notebook's own word on its input columns, metadata["mlcontainer"]["contract"]
    (`{"age": {"nullable": true}}`), as JSON values; pipeline/profile.py applies it."""
    given = notebook_defaults(notebook).get("contract")
    return {} if given is None else _plain(given)


def _plain(value):
    """nbformat's NotebookNode (a dict with attribute access) as plain dicts and lists."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


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
    kept, state, files, decided, unresolved = _slice(
        entry_name, entry_kind, statements, definitions, folder, extra_roots
    )
    verdicts = _verdicts(notebook.cells, statements, decided, definitions, state)

    imports = sorted({m for s in kept if s.kind == IMPORT for m in imported_modules(s)})
    local = sorted(m for m in imports if _local_module_files(folder, m))
    warnings = [p.message for p in problems] + _execution_order_warnings(notebook)
    if not any(has_star_import(s.node) for s in kept):
        warnings += [
            f"`{user}` uses `{name}`, which no kept statement defines and nothing captures: "
            "the served code would fail with a NameError. Define it at the top level of a cell "
            "that is not tagged mlcontainer:skip."
            for name, user in sorted(unresolved.items())
        ]
    reached = kept + [definitions[name] for name in state if name in definitions]
    warnings += _outside_file_warnings(reached, kept, folder)
    # The training data is what the model was fitted on, whatever sample is given: a sample of
    # three rows would make a contract that refuses most real inputs.
    training, training_source = inferred_sample(
        statements, entry_kind, entry_name, state, options.method
    )
    sample, sample_rows = options.sample, None
    if not sample:
        sample, sample_rows = training, SAMPLE_ROWS if training else None
    if not training:
        training, training_source = sample, "the sample given (--sample)" if sample else ""
    return ServingPlan(
        notebook=str(options.notebook),
        notebook_sha256=hashlib.sha256(raw).hexdigest(),
        cells=code_cell_hashes(notebook.cells),
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
        training_expression=training,
        training_source=training_source,
        contract_overrides=contract_overrides(notebook),
        warnings=tuple(warnings),
        verdicts=tuple(verdicts),
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
    """Keep what the entry point needs, transitively. Returns the kept statements, the state
    names, the files to copy, the reason for each statement decided here (position → (kept,
    reason)) and the names used that nothing defines (name → the name that uses it)."""
    kept: dict[int, Statement] = {}
    decided: dict[int, tuple[bool, str]] = {}
    state: set[str] = set()
    files: set[str] = set()
    unresolved: dict[str, str] = {}
    # (name, who needs it): None for the entry point, "" for a name a pickle refers to. A stack:
    # the entry comes off first, so what it reaches is said to be for it, not for a pickle.
    pending: list[tuple[str, str | None]] = [(name, "") for name in extra_roots]
    pending.append((entry_name, None))
    for statement in statements:
        if _included(statement):
            kept[statement.position] = statement
            decided[statement.position] = (True, f"tagged {INCLUDE_TAG}")
            pending.extend((name, _user(statement)) for name in sorted(statement.uses))
    seen: set[str] = set()
    while pending:
        name, user = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        statement = definitions.get(name)
        if statement is None:
            if user:  # a builtin was left out of `uses`; this name is bound nowhere
                unresolved.setdefault(name, user)
            continue
        is_entry_model = entry_kind == "model" and name == entry_name
        if _included(statement) and not is_entry_model:
            continue  # the image runs the tagged statement: what it makes is not captured
        loader_files = _existing_files(statement, folder) if statement.kind == LOADER else []
        if (
            statement.kind in CODE_KINDS
            and not statement.calls_ipython
            and not is_entry_model
            and (statement.kind != LOADER or loader_files)
        ):
            if statement.position not in decided:
                decided[statement.position] = (True, _kept_reason(name, user))
            kept[statement.position] = statement
            files.update(loader_files)
            pending.extend((used, _user(statement)) for used in sorted(statement.uses))
        else:
            state.add(name)
    if entry_kind == "model":
        state.add(entry_name)
    return [kept[p] for p in sorted(kept)], sorted(state), sorted(files), decided, unresolved


def _included(statement: Statement) -> bool:
    return INCLUDE_TAG in statement.tags and not statement.calls_ipython


def _user(statement: Statement) -> str:
    """How a reason names a kept statement that needs another name."""
    names = sorted(statement.defines)
    return names[0] if names else f"cell {statement.cell}"


def _kept_reason(name: str, user: str | None) -> str:
    if user is None:
        return f"defines `{name}`, the entry point"
    if user == "":
        return f"defines `{name}`, which the captured state refers to"
    return f"defines `{name}`, used by `{user}`"


#: Modules whose calls draw a plot, and methods that draw one (`df.plot()`, `df.hist()`).
PLOT_MODULES = ("matplotlib", "seaborn", "plotly", "altair", "bokeh")
PLOT_METHODS = frozenset({"plot", "hist", "scatter", "imshow", "boxplot", "show", "savefig"})


def _verdicts(cells, statements, decided, definitions, state) -> list[StatementVerdict]:
    """Every top-level statement's verdict: the slice's own decisions, then why the others
    stay out. Non-Python cell magics (`%%bash`) count as one dropped statement."""
    plot_names = {
        name
        for s in statements
        if s.kind == IMPORT and any(m in PLOT_MODULES for m in imported_modules(s))
        for name in s.defines
    }
    found: list[tuple[int, int, StatementVerdict]] = []
    for statement in statements:
        kept, reason = decided.get(statement.position) or (
            False,
            _dropped_reason(statement, definitions, state, plot_names),
        )
        found.append(
            (
                statement.cell,
                statement.position,
                StatementVerdict(statement.cell, statement.first_line, kept, reason),
            )
        )
    for index, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and python_source(cell.get("source", "")) is None:
            line = cell.get("source", "").strip().splitlines()[0]
            found.append((index, -1, StatementVerdict(index, line, False, "a magic/shell line")))
    return [verdict for _, _, verdict in sorted(found, key=lambda item: item[:2])]


def _dropped_reason(statement, definitions, state, plot_names) -> str:
    if SKIP_TAG in statement.tags:
        return f"tagged {SKIP_TAG}"
    if statement.calls_ipython:
        return "a magic/shell line"
    if any(owner in state for owner, _ in fit_calls(statement)):
        return "training that the captured value replaces"
    captured = sorted(
        n for n in statement.defines if n in state and definitions.get(n) is statement
    )
    if captured:
        names = ", ".join(f"`{n}`" for n in captured)
        return f"computes {names}, captured by value instead"
    if _is_plot(statement, plot_names):
        return "a plot"
    for name in sorted(statement.defines):
        last = definitions.get(name)
        if last is not None and last is not statement:
            return f"`{name}` is defined again later (cell {last.cell})"
    return "not needed by the entry point"


def _is_plot(statement: Statement, plot_names: set) -> bool:
    for node in ast.walk(statement.node):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            root = node.func
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in plot_names:
                return True
            if node.func.attr in PLOT_METHODS:
                return True
    return False


def _outside_files(statement: Statement, folder: Path) -> list[str]:
    """String arguments of the statement's calls that name an existing file outside the
    notebook's folder (the image never has those)."""
    found = []
    for node in ast.walk(statement.node):
        if not isinstance(node, ast.Call):
            continue
        for argument in [*node.args, *(k.value for k in node.keywords)]:
            if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                continue
            text = argument.value
            if not text or "\n" in text or len(text) > 1024:
                continue
            path = Path(text) if Path(text).is_absolute() else folder / text
            try:
                outside = path.is_file() and not path.resolve().is_relative_to(folder)
            except (OSError, ValueError):
                continue
            if outside and text not in found:
                found.append(text)
    return found


def _outside_file_warnings(reached, kept, folder: Path) -> list[str]:
    warnings = []
    kept_positions = {s.position for s in kept}
    for statement in sorted(reached, key=lambda s: s.position):
        for text in _outside_files(statement, folder):
            if statement.position in kept_positions:
                warnings.append(
                    f"cell {statement.cell} reads {text}, outside the notebook's folder: the "
                    "image will not have that file and the served code will fail to find it. "
                    "Move the file beside the notebook and read it by a relative path."
                )
            else:
                names = ", ".join(f"`{n}`" for n in sorted(statement.defines))
                warnings.append(
                    f"cell {statement.cell} reads {text}, outside the notebook's folder: the "
                    f"image does not get the file; {names} is captured by value from the kernel "
                    "instead, so rebuild when the file changes."
                )
    return warnings


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


def infer_sample(statements, entry_kind, entry_name, state, method="predict") -> str | None:
    """The data passed to the last `.fit(...)` of the model, else to the notebook's last call
    of the served method (a model taken from a search, `grid.best_estimator_`, has no `.fit`).
    For an entry function, what the notebook last passed to the function itself (it may
    prepare raw records, or wrap a model that has no `.fit`), else the last raw data (a name,
    not a computed value) fitted by any state the function uses."""
    return inferred_sample(statements, entry_kind, entry_name, state, method)[0]


def inferred_sample(
    statements, entry_kind, entry_name, state, method="predict"
) -> tuple[str | None, str]:
    """`infer_sample`'s expression, and where it was found, said to a person ("the data passed
    to `clf.fit`"): the data contract's source (pipeline/profile.py)."""
    if entry_kind == "function" and (called := served_call_input(statements, entry_name)):
        return called, f"the data passed to `{entry_name}`"
    owners = {entry_name} if entry_kind == "model" else set(state)
    for statement in reversed(statements):
        for owner, call in reversed(fit_calls(statement)):
            if owner not in owners or not call.args:
                continue
            data = call.args[0]
            if entry_kind == "model" or isinstance(data, (ast.Name, ast.Subscript, ast.Attribute)):
                return ast.unparse(data), f"the data passed to `{owner}.fit`"
    if entry_kind == "model":
        called = served_call_input(statements, entry_name, method)
        return called, f"the data passed to `{entry_name}.{method}`" if called else ""
    return None, ""


def served_call_input(statements, name: str, method: str = "") -> str | None:
    """The argument of the notebook's last top-level call of `name(data)`, or of
    `name.method(data)` when a method is given, outside any function or class body."""
    for statement in reversed(statements):
        for call in reversed(_top_level_calls(statement.node)):
            target = call.func
            if method:
                if not (isinstance(target, ast.Attribute) and target.attr == method):
                    continue
                target = target.value
            if not (isinstance(target, ast.Name) and target.id == name):
                continue
            given = call.args or [keyword.value for keyword in call.keywords]
            if len(given) == 1 and not isinstance(given[0], ast.Starred):
                return ast.unparse(given[0])
    return None


def _predicting(statement: Statement) -> list[str]:
    """Variables whose `.predict(...)` the statement calls at the top level: models, even one
    with no `.fit` of its own (`clf = grid.best_estimator_`)."""
    return [
        call.func.value.id
        for call in _top_level_calls(statement.node)
        if isinstance(call.func, ast.Attribute)
        and call.func.attr == "predict"
        and isinstance(call.func.value, ast.Name)
    ]


def _top_level_calls(node: ast.AST) -> list[ast.Call]:
    """The calls a statement makes when it runs, in source order, not those of the functions,
    lambdas and classes it defines."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
        return []
    calls = [node] if isinstance(node, ast.Call) else []
    for child in ast.iter_child_nodes(node):
        calls += _top_level_calls(child)
    return calls


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
        fitted = [owner for owner, _ in fit_calls(statement)]
        for owner in fitted + _predicting(statement):
            if owner not in models:
                models.append(owner)
        if statement.kind == LOADER:
            models.extend(sorted(n for n in statement.defines if n not in models))
        if statement.kind == "function":
            functions.extend(n for n in statement.defines if n not in functions)
    return {"models": models, "functions": functions}


def find_candidates(path: str | Path) -> dict:
    """Models and functions a user might serve from this notebook, to prefill a dialog: with
    the sample each would get (`samples`, by `model:<name>` and `entry:<name>`)."""
    notebook, _ = read_notebook(path)
    statements, _ = parse_cells(notebook.cells)
    found = candidates_from(statements)
    defaults = notebook_defaults(notebook)
    samples = {f"model:{m}": infer_sample(statements, "model", m, []) for m in found["models"]}
    samples |= {f"entry:{f}": served_call_input(statements, f) for f in found["functions"]}
    model = defaults.get("model") or (found["models"][-1] if found["models"] else None)
    found["sample"] = defaults.get("sample") or (
        infer_sample(statements, "model", model, []) if model else None
    )
    found["samples"] = {target: sample for target, sample in samples.items() if sample}
    found["defaults"] = defaults
    return found
