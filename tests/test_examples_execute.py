"""The example notebooks run headless from a fresh copy, reproduce their saved outputs, and
serve what their metadata["mlcontainer"] promises: the names exist and the entry answers the
sample with a batch of the input kind examples/README.md lists."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

pytestmark = pytest.mark.usefixtures("kernel")  # each test runs notebooks

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: The serving examples: notebooks that carry metadata["mlcontainer"]. Others (walkthroughs of
#: a front door that drive a Docker engine themselves) are not executed here.
NOTEBOOKS = sorted(
    p for p in EXAMPLES.glob("*.ipynb") if "mlcontainer" in nbformat.read(p, as_version=4).metadata
)
INPUT_KINDS = {
    "pandas DataFrame": "dataframe",
    "numpy array": "ndarray",
    "torch tensor": "tensor",
    "list of rows": "list",
}
#: Cells whose output depends on the machine or the clock (timings, `!shell`, `%who`).
IPYTHON_SYNTAX = re.compile(r"^\s*[%!]|\?\s*$", re.MULTILINE)
REPORT_MARK = "mlcontainer-check:"
#: Files a notebook writes are committed beside it only while they stay this small.
MAX_COMMITTED_FILE = 200_000

#: Appended to a copy of the notebook: reports what the metadata's entry does with its sample.
CHECK_CELL = """
import json as _json, sys as _sys
_meta = {meta!r}
_names = [n for n in (_meta.get("entry"), _meta.get("model")) if n]
_report = {{"missing": [n for n in _names if n not in globals()]}}
if not _report["missing"]:
    _sample = eval(_meta["sample"])
    _entry = globals()[_meta["entry"]] if "entry" in _meta else getattr(
        globals()[_meta["model"]], _meta.get("method", "predict"))
    _answer = _entry(_sample)
    _torch = _sys.modules.get("torch")
    _report["input"] = (
        "dataframe" if type(_sample).__name__ == "DataFrame"
        else "tensor" if _torch is not None and isinstance(_sample, _torch.Tensor)
        else "ndarray" if type(_sample).__name__ == "ndarray" else type(_sample).__name__)
    _report["rows"] = len(_sample)
    _report["answers"] = len(_answer)
print({mark!r} + _json.dumps(_report))
"""


def readme_table() -> dict[str, tuple[str, str]]:
    """Notebook → (serves, input) from the first table of examples/README.md."""
    rows = {}
    for line in (EXAMPLES / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`") and cells[2] in INPUT_KINDS:
            rows[cells[0].strip("`")] = (cells[1], INPUT_KINDS[cells[2]])
    return rows


def text_outputs(cell) -> list[str]:
    """A cell's stdout/stderr and plain-text results, with stream chunks joined."""
    texts: list[str] = []
    joinable = False
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            if joinable:
                texts[-1] += output.text
            else:
                texts.append(output.text)
            joinable = True
            continue
        joinable = False
        if output.output_type in ("execute_result", "display_data"):
            texts.append(output.get("data", {}).get("text/plain", ""))
        elif output.output_type == "error":
            texts.append(f"{output.ename}: {output.evalue}")
    return texts


def files_under(root: Path) -> set[Path]:
    """Files below root, relative to it (caches excluded)."""
    return {
        f.relative_to(root) for f in root.rglob("*") if f.is_file() and "__pycache__" not in f.parts
    }


@pytest.fixture
def fresh_examples(tmp_path) -> Path:
    """A copy of examples/ without files the notebooks write, so they must write them again."""
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy, ignore=shutil.ignore_patterns("models", "__pycache__", ".*"))
    return copy


def test_every_notebook_is_listed_in_the_readme():
    assert NOTEBOOKS, "examples/ has no notebooks with metadata['mlcontainer']"
    assert sorted(readme_table()) == sorted(p.name for p in NOTEBOOKS)
    readme = (EXAMPLES / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"### `{path.name}`" in readme, f"README has no slicing section for {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_example_executes_and_serves_its_sample(path, fresh_examples):
    saved = nbformat.read(path, as_version=4)
    meta = saved.metadata["mlcontainer"]
    assert isinstance(meta, dict) and meta.get("sample"), "metadata['mlcontainer'] needs a sample"
    assert ("entry" in meta) != ("model" in meta), "give exactly one of entry and model"

    copied = files_under(fresh_examples)
    executed = nbformat.read(path, as_version=4)
    executed.cells.append(new_code_cell(CHECK_CELL.format(meta=meta, mark=REPORT_MARK)))
    NotebookClient(
        executed,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(fresh_examples)}},
    ).execute()

    report_line = "".join(text_outputs(executed.cells[-1])).strip()
    assert report_line.startswith(REPORT_MARK), report_line
    report = json.loads(report_line[len(REPORT_MARK) :])
    assert report["missing"] == []
    assert report["answers"] == report["rows"] > 0

    serves, kind = readme_table()[path.name]
    assert report["input"] == kind
    expected = f"function `{meta['entry']}`" if "entry" in meta else f"model `{meta['model']}`"
    assert serves.startswith(expected)

    for index, (before, after) in enumerate(zip(saved.cells, executed.cells, strict=False)):
        if before.cell_type != "code" or IPYTHON_SYNTAX.search(before.source):
            continue
        assert text_outputs(after) == text_outputs(before), (
            f"cell {index} of {path.name} no longer prints what the notebook saved; "
            "re-execute the notebook (jupyter execute --inplace) or fix its seeding"
        )
    for written in sorted(files_under(fresh_examples) - copied):
        committed = EXAMPLES / written
        assert committed.is_file(), f"{path.name} wrote {written}, which examples/ does not hold"
        assert committed.stat().st_size < MAX_COMMITTED_FILE, f"{written} is too big to commit"

    counts = [c.execution_count for c in saved.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "saved notebook was not run top to bottom"
