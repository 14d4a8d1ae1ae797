"""Does an image still match its notebook? Pure comparison: what the image recorded and what
is there now go in, a `DriftReport` comes out. Reading the image, the notebook and the
interpreter is `provenance.py`'s job."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher

UP_TO_DATE = "up-to-date"
NOTEBOOK_CHANGED = "notebook-changed"
NOTEBOOK_MISSING = "notebook-missing"
ENVIRONMENT_DRIFTED = "environment-drifted"
MODEL_CHANGED = "model-changed"
#: What the reasons read as in a sentence, and in the sidebar's badge.
WORDS = {
    UP_TO_DATE: "up to date",
    NOTEBOOK_CHANGED: "notebook changed",
    NOTEBOOK_MISSING: "notebook missing",
    ENVIRONMENT_DRIFTED: "environment drifted",
    MODEL_CHANGED: "model changed in the kernel",
}


@dataclass(frozen=True)
class CellChange:
    kind: str  # added | removed | changed | moved
    index: int  # the cell's index in the notebook (now; at the build for a removed cell)
    first_line: str
    id: str | None = None

    def describe(self) -> str:
        return f"cell {self.index} {self.kind}: {self.first_line or '(empty)'}"


@dataclass(frozen=True)
class PackageChange:
    name: str
    pinned: str
    installed: str | None  # None: not installed in the interpreter compared with

    def describe(self) -> str:
        return f"{self.name} {self.pinned} → {self.installed or 'missing'}"


@dataclass
class DriftReport:
    """`status` is the first of `reasons` (the notebook before the environment), else
    up-to-date; `notes` say what could not be compared exactly."""

    name: str
    image: str
    notebook: str
    python: str  # the interpreter the packages were compared with
    status: str = UP_TO_DATE
    reasons: list = field(default_factory=list)
    cells: list = field(default_factory=list)  # CellChange
    packages: list = field(default_factory=list)  # PackageChange
    state: list = field(default_factory=list)  # captured values that differ in the kernel now
    notes: list = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.reasons)

    def summary(self) -> str:
        return ", ".join(WORDS[reason] for reason in self.reasons) or WORDS[UP_TO_DATE]

    def details(self) -> list[str]:
        return (
            [change.describe() for change in self.cells]
            + [change.describe() for change in self.packages]
            + list(self.state)
            + list(self.notes)
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "summary": self.summary(), "details": self.details()}

    def _repr_pretty_(self, printer, cycle) -> None:
        """How IPython shows `inst.check()`: the summary, then one line per difference."""
        printer.text(f"{self.name}: {self.summary()}")
        for line in self.details():
            printer.text(f"\n  - {line}")


def compare_cells(recorded: list[dict], current: list[dict]) -> list[CellChange]:
    """Which code cells were added, removed, changed or moved. Cells are matched by id when
    every cell has one (nbformat 4.5) and some are shared, else by their order and source hashes
    (a notebook written anew has new ids)."""
    by_id = all(cell.get("id") for cell in [*recorded, *current]) and bool(
        {cell["id"] for cell in recorded} & {cell["id"] for cell in current}
    )
    key = "id" if by_id else "sha256"
    before, after = [c[key] for c in recorded], [c[key] for c in current]
    changes: list[CellChange] = []
    matcher = SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        old, new = recorded[i1:i2], current[j1:j2]
        if tag == "equal" or (tag == "replace" and not by_id):
            paired = min(len(old), len(new))
            pairs = zip(old[:paired], new[:paired], strict=True)
            changes += [_change("changed", b) for a, b in pairs if a["sha256"] != b["sha256"]]
            old, new = old[paired:], new[paired:]
        changes += [_change("removed", cell) for cell in old]
        changes += [_change("added", cell) for cell in new]
    if by_id:  # a cell cut and pasted elsewhere is one that moved, not a removal and an addition
        changes = _moves(changes, {c["id"]: c for c in recorded}, {c["id"]: c for c in current})
    return sorted(changes, key=lambda change: (change.index, change.kind))


def _moves(changes: list[CellChange], recorded: dict, current: dict) -> list[CellChange]:
    removed = {c.id for c in changes if c.kind == "removed"}
    added = {c.id for c in changes if c.kind == "added"}
    moved = removed & added
    kept = [c for c in changes if c.id not in moved]
    for cell_id in moved:
        kind = "moved" if recorded[cell_id]["sha256"] == current[cell_id]["sha256"] else "changed"
        kept.append(_change(kind, current[cell_id]))
    return kept


def _change(kind: str, cell: dict) -> CellChange:
    return CellChange(kind, cell["index"], cell.get("first_line", ""), cell.get("id"))


def compare_packages(pinned: dict, installed: dict) -> list[PackageChange]:
    """Pinned versions against those installed (names compared as PEP 503 normalises them)."""
    found = {canonical(name): version for name, version in installed.items()}
    return [
        PackageChange(name, version, found.get(canonical(name)))
        for name, version in sorted(pinned.items())
        if found.get(canonical(name)) != version
    ]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def drift_report(
    *,
    name: str,
    image: str,
    notebook: str,
    python: str,
    recorded_cells: list[dict] | None,
    recorded_sha256: str,
    current_cells: list[dict] | None,
    current_sha256: str | None,
    pinned: dict,
    installed: dict,
    state: tuple = (),
    notes: tuple = (),
) -> DriftReport:
    """`current_cells`/`current_sha256` None: the notebook is not there. `recorded_cells` None:
    the image predates per-cell hashes, so only the whole file's hash can be compared. `state`:
    how captured values differ in the live kernel (only a kernel can say)."""
    report = DriftReport(name, image, notebook, python, notes=list(notes))
    if current_sha256 is None:
        report.reasons.append(NOTEBOOK_MISSING)
        report.notes.append(f"{notebook or 'the notebook'} is not there any more")
    elif recorded_cells is None:
        if current_sha256 != recorded_sha256:
            report.reasons.append(NOTEBOOK_CHANGED)
            report.notes.append("the image records no per-cell hashes (built by an older version)")
    else:
        report.cells = compare_cells(recorded_cells, current_cells or [])
        if report.cells:
            report.reasons.append(NOTEBOOK_CHANGED)
        elif current_sha256 != recorded_sha256:
            report.notes.append("the notebook was saved since the build; its code is unchanged")
    report.packages = compare_packages(pinned, installed)
    if report.packages:
        report.reasons.append(ENVIRONMENT_DRIFTED)
    report.state = list(state)
    if report.state:
        report.reasons.append(MODEL_CHANGED)
    report.status = report.reasons[0] if report.reasons else UP_TO_DATE
    return report
