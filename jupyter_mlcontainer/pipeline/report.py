"""The slice report: what goes into the image and why, before anything is built.

Pure: it reads the plan (each statement's verdict, recorded by the analyse stage), the capture
(each value's type, serialiser and size, the training data's contract), the environment (each package, the import that pulled
it in, its version) and a few measured sizes, and renders them as Markdown (`REPORT.md` in every
build context) and as plain text for terminals. The same inputs give the same bytes.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..runtime.datacontract import CATEGORY_CAP, ColumnContract, DataContract
from .environment import RUNTIME_REQUIREMENTS
from .plan import Capture, Environment, ServingPlan
from .profile import served_contract

#: What a venv, the serving runtime and the generated code add beyond the packages' files.
OVERHEAD_BYTES = 2_000_000


@dataclass(frozen=True)
class CapturedValue:
    name: str
    type: str
    serializer: str  # its name in the registry (pipeline/serializers.py)
    size: int  # bytes of its file in artifacts/state


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    why: tuple  # the imports, pickles or packages that pulled it in
    installed_size: int | None  # bytes its wheel unpacks to; None without wheels


@dataclass(frozen=True)
class SliceReport:
    notebook: str  # the notebook's file name
    entry: str  # what is served, e.g. predict(inputs) or clf.predict(inputs)
    statements: tuple  # StatementVerdict, in notebook order
    values: tuple  # CapturedValue
    packages: tuple  # Package
    local_modules: tuple  # files copied into app/, relative to the notebook's folder
    files: tuple  # files copied into artifacts/files
    system_packages: tuple  # Debian packages installed for the wheels' shared libraries
    base_image: str
    size_estimate: dict  # bytes: base (None when unknown), python_packages, app, total
    warnings: tuple
    left_out: dict = field(default_factory=dict)  # distribution the trial proved unneeded → why
    contract: DataContract | None = None  # the training data's, as serving.json gets it
    overrides: tuple = ()  # what the notebook's metadata changed in it: "`age`: nullable true"

    def to_dict(self) -> dict:
        return asdict(self)

    def markdown(self) -> str:
        return render_markdown(self)

    def text(self) -> str:
        return render_text(self)

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __str__(self) -> str:
        return self.text()


def slice_report(
    plan: ServingPlan,
    capture: Capture,
    environment: Environment,
    base_image: str,
    base_size: int | None = None,
    installed: dict | None = None,
    module_files: tuple = (),
    warnings: tuple = (),
) -> SliceReport:
    """`installed`: distribution → bytes its wheel unpacks to (None without wheels);
    `warnings`: those the stages already gave, which the report repeats."""
    values = tuple(
        CapturedValue(
            item["name"],
            item.get("type", ""),
            item["serializer"],
            item.get("size", 0),
        )
        for item in capture.state
    )
    packages = tuple(
        Package(
            name,
            version,
            tuple(_why(name, plan, capture, environment)),
            (installed or {}).get(canonicalize_name(name)) if installed is not None else None,
        )
        for name, version in sorted(environment.packages.items())
    )
    python_packages = (
        sum(p.installed_size or 0 for p in packages) if installed is not None else None
    )
    app = sum(v.size for v in values) + OVERHEAD_BYTES
    total = (
        base_size + python_packages + app
        if base_size is not None and python_packages is not None
        else None
    )
    contract, overrides, contract_warnings = served_contract(plan, capture)
    found = list(
        dict.fromkeys(
            [
                *plan.warnings,
                *warnings,
                *unimportable_pickles(plan, capture, environment),
                *contract_warnings,
            ]
        )
    )
    return SliceReport(
        notebook=Path(plan.notebook).name,
        entry=_entry(plan),
        statements=tuple(plan.verdicts),
        values=values,
        packages=packages,
        local_modules=tuple(module_files),
        files=tuple(plan.files),
        system_packages=tuple(environment.system_packages),
        base_image=base_image,
        size_estimate={
            "base": base_size,
            "python_packages": python_packages,
            "app": app,
            "total": total,
        },
        warnings=tuple(found),
        left_out=dict(environment.excluded),
        contract=contract,
        overrides=tuple(overrides),
    )


def _entry(plan: ServingPlan) -> str:
    if plan.entry_kind == "model":
        return f"{plan.entry_name}.{plan.method}(inputs)"
    return f"{plan.entry_name}(inputs)"


def _why(name: str, plan: ServingPlan, capture: Capture, environment: Environment) -> list[str]:
    """What pulled distribution `name` in: an import of the kept code, a pickle, the trial
    run's imports, the runtime, a requirement file, or another package."""
    name = canonicalize_name(name)

    def provides(module: str) -> bool:
        return name in {canonicalize_name(d) for d in environment.providers.get(module, [])}

    reasons = [f"import {m}" for m in plan.imports if provides(m)]
    pickled = set()
    for item in capture.state:
        for module in item["modules"]:
            pickled.add(module)
            if provides(module):
                reasons.append(f"pickle of `{item['name']}` ({module})")
    accounted = set(plan.imports) | pickled
    reasons += [
        f"needed by the served code ({m})"
        for m in capture.modules
        if m not in accounted and provides(m)
    ]
    accounted |= set(capture.modules)
    reasons += [
        f"imported when the model loads ({m})"
        for m in environment.imported
        if m not in accounted and provides(m)
    ]
    if name in {canonicalize_name(r) for r in RUNTIME_REQUIREMENTS}:
        reasons.append("the serving runtime")
    for line in environment.requirements:
        try:
            requested = canonicalize_name(Requirement(line).name)
        except InvalidRequirement:
            continue
        if requested == name:
            reasons.append(f"requirements beside the notebook ({line})")
    if name in {canonicalize_name(k) for k in environment.kept}:
        reasons.append("kept with --with")
    if not reasons and name in environment.required_by:
        reasons.append(f"required by {environment.required_by[name]}")
    return list(dict.fromkeys(reasons)) or ["pinned by the trial run"]


def unimportable_pickles(
    plan: ServingPlan, capture: Capture, environment: Environment
) -> list[str]:
    """A captured value whose pickle imports a module the image will not have: none of the
    pinned packages provides it and it is no local module."""
    if not environment.providers:  # a trial that did not say which modules come from where
        return []
    pinned = {canonicalize_name(n) for n in environment.packages}
    found = []
    for item in capture.state:
        for module in item["modules"]:
            if module in sys.stdlib_module_names or module in plan.local_modules:
                continue
            providers = {canonicalize_name(d) for d in environment.providers.get(module, [])}
            if providers & pinned:
                continue
            found.append(
                f"`{item['name']}` is pickled with references to the module `{module}`, which the "
                "image will not have (no pinned package provides it and it is not a module "
                "beside the notebook): loading it in the image would fail. Install the package "
                "that provides it where the kernel runs, or move the module beside the notebook."
            )
    return found


# -- rendering ------------------------------------------------------------------------------


def _mb(size: int | None) -> str:
    return "unknown" if size is None else f"{size / 1e6:.1f} MB"


def _kb(size: int) -> str:
    return f"{size / 1e3:.1f} kB" if size < 1e6 else _mb(size)


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _size_line(report: SliceReport) -> str:
    size = report.size_estimate
    if size["total"] is None:
        return (
            f"unknown (base {_mb(size['base'])}, Python packages {_mb(size['python_packages'])}, "
            f"code and state {_mb(size['app'])})"
        )
    return (
        f"about {_mb(size['total'])}, an estimate: base {_mb(size['base'])} + Python packages "
        f"{_mb(size['python_packages'])} (their wheels' unpacked size) + code, state and "
        f"runtime {_mb(size['app'])}"
    )


def _left_out_lines(report: SliceReport) -> list[str]:
    return [f"{name}: {why} (`--with {name}` keeps it)" for name, why in report.left_out.items()]


#: Categories a report line shows before it says how many more there are.
SHOWN_CATEGORIES = 5


def _number(value) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def _values(column: ColumnContract) -> str:
    """What a column held: its range, its values (the first few), or why neither is known."""
    if column.capped:
        return f"more than {CATEGORY_CAP} distinct values: not enforced"
    if column.categories is not None:
        shown = [json.dumps(v, ensure_ascii=False) for v in column.categories[:SHOWN_CATEGORIES]]
        more = len(column.categories) - SHOWN_CATEGORIES
        return ", ".join(shown) + (f", … {more} more" if more > 0 else "")
    if column.numeric:
        if column.low is None or column.high is None:
            return "no finite values"
        return f"{_number(column.low)} to {_number(column.high)}"
    return "not described"


def _contract_head(contract: DataContract) -> str:
    rows = f"{contract.rows:,} rows" if contract.rows else "rows not known"
    head = f"from {contract.source}: {rows}"
    if contract.shape is not None:
        shape = ", ".join(map(str, contract.shape)) + ("," if len(contract.shape) == 1 else "")
        head += f", each an array of shape ({shape})"
    return head


def _contract_lines(report: SliceReport) -> tuple[list, list]:
    """(name, kind, nullable, values) per column, then the predictions' (name None); and the
    notes, the overrides applied first."""
    contract = report.contract
    columns = list(contract.columns)
    if contract.prediction is not None:
        columns.append(contract.prediction)
    rows = [
        (
            None if c is contract.prediction else c.name,  # None: the predictions
            c.kind,
            "nullable" if c.nullable else "not nullable",
            _values(c),
        )
        for c in columns
    ]
    notes = [f"override from the notebook's metadata: {o}" for o in report.overrides]
    return rows, notes + list(contract.notes)


def _contract_markdown(report: SliceReport) -> list[str]:
    lines = ["", "## Data contract", ""]
    if report.contract is None:
        return lines + ["None: the capture recorded no training data."]
    lines += [
        f"What the model's input held, {_contract_head(report.contract)}. The image checks "
        "requests against it and measures drift from it (`app/serving.json`'s `contract`).",
        "",
    ]
    rows, notes = _contract_lines(report)
    if rows:
        lines += ["| column | kind | nulls | values |", "|---|---|---|---|"]
        lines += [
            f"| {'predictions' if n is None else f'`{_cell(n)}`'} | {k} | {u} | {_cell(v)} |"
            for n, k, u, v in rows
        ]
        lines.append("")
    return lines + ([f"- {_cell(note)}" for note in notes] or ["No notes."])


def _contract_text(report: SliceReport) -> list[str]:
    if report.contract is None:
        return ["", "Data contract: none recorded"]
    lines = ["", f"Data contract, {_contract_head(report.contract)}:"]
    rows, notes = _contract_lines(report)
    rows = [("(predictions)" if n is None else n, k, u, v) for n, k, u, v in rows]
    width = max((len(name) for name, *_ in rows), default=0)
    lines += [f"  {n:<{width}}  {k:<8}  {u:<12}  {v}" for n, k, u, v in rows]
    return lines + [f"  - {note}" for note in notes]


def render_markdown(report: SliceReport) -> str:
    lines = [
        f"# What goes into the image: {report.notebook}",
        "",
        f"Serves `{report.entry}`. Generated by jupyter-mlcontainer from the notebook and the "
        "kernel's state; it is not copied into the image.",
        "",
        "## Statements",
        "",
        "| cell | statement | verdict | reason |",
        "|---:|---|---|---|",
    ]
    for verdict in report.statements:
        lines.append(
            f"| {verdict.cell} | `{_cell(_short(verdict.line))}` | "
            f"{'kept' if verdict.kept else 'dropped'} | {_cell(verdict.reason)} |"
        )
    lines += ["", "## Captured values", ""]
    if report.values:
        lines += ["| name | type | serializer | size |", "|---|---|---|---:|"]
        lines += [
            f"| `{v.name}` | `{v.type}` | {v.serializer} | {_kb(v.size)} |" for v in report.values
        ]
    else:
        lines.append("None: the served code needs no value from the kernel.")
    lines += ["", "## Python packages", "", "| package | version | why | installed |"]
    lines.append("|---|---|---|---:|")
    lines += [
        f"| {p.name} | {p.version} | {_cell('; '.join(p.why))} | {_mb(p.installed_size)} |"
        for p in report.packages
    ]
    lines += ["", "## Left out", ""]
    lines += [f"- {_cell(line)}" for line in _left_out_lines(report)] or ["None."]
    lines += _contract_markdown(report)
    lines += ["", "## Files", ""]
    lines.append(
        "- local modules: " + (", ".join(f"`{m}`" for m in report.local_modules) or "none")
    )
    lines.append("- data files: " + (", ".join(f"`{f}`" for f in report.files) or "none"))
    lines.append(
        "- Debian packages: " + (", ".join(f"`{p}`" for p in report.system_packages) or "none")
    )
    lines += [
        "",
        "## Image",
        "",
        f"- base image: `{report.base_image}`",
        f"- expected size: {_size_line(report)}",
        "",
        "## Warnings",
        "",
    ]
    lines += [f"- {w}" for w in report.warnings] or ["None."]
    return "\n".join(lines) + "\n"


def render_text(report: SliceReport) -> str:
    lines = [f"Slice report for {report.notebook}: serving {report.entry}", "", "Statements:"]
    width = max((len(_short(v.line, 50)) for v in report.statements), default=10)
    for v in report.statements:
        verdict = "kept   " if v.kept else "dropped"
        lines.append(f"  [{v.cell:>2}] {_short(v.line, 50):<{width}}  {verdict}  {v.reason}")
    lines += ["", "Captured values:"]
    lines += [f"  {v.name}: {v.type}, {v.serializer}, {_kb(v.size)}" for v in report.values] or [
        "  none"
    ]
    lines += ["", "Python packages:"]
    lines += [
        f"  {p.name}=={p.version}  ({'; '.join(p.why)}; {_mb(p.installed_size)})"
        for p in report.packages
    ]
    lines += ["", "Left out:"]
    lines += [f"  {line}" for line in _left_out_lines(report)] or ["  none"]
    lines += _contract_text(report)
    lines += [
        "",
        "Local modules:   " + (", ".join(report.local_modules) or "none"),
        "Data files:      " + (", ".join(report.files) or "none"),
        "Debian packages: " + (", ".join(report.system_packages) or "none"),
        f"Base image:      {report.base_image}",
        f"Expected size:   {_size_line(report)}",
        "",
        "Warnings:",
    ]
    lines += [f"  ! {w}" for w in report.warnings] or ["  none"]
    return "\n".join(lines) + "\n"
