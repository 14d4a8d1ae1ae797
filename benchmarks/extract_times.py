"""Seconds to analyse and render each example notebook (the extract half of the pipeline).

    python benchmarks/extract_times.py [examples/*.ipynb]

For each notebook: analyse (slicing, no kernel), capture (executing the notebook headless and
serialising its state), environment (pinning and wheels, from the wheel cache after the first
run) and render, as seen in the pipeline's own stage events; the baseline alongside is
`jupyter nbconvert --execute` of the same notebook, the cost of merely running it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.workflow.build import containerize

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def stage_seconds(notebook: Path, out_dir: str) -> dict:
    marks = []
    containerize(
        ExportOptions(notebook=str(notebook)),
        context_only=True,
        out_dir=out_dir,
        on_event=lambda e: (
            marks.append((e.stage, time.perf_counter())) if e.kind == "stage" else None
        ),
    )
    end = time.perf_counter()
    return {
        s: (marks[i + 1][1] if i + 1 < len(marks) else end) - t for i, (s, t) in enumerate(marks)
    }


def execute_seconds(notebook: Path, out_dir: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--output-dir",
            out_dir,
            str(notebook),
        ],
        check=True,
        capture_output=True,
        cwd=notebook.parent,
    )
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    notebooks = [Path(a) for a in argv] or sorted(
        p for p in EXAMPLES.glob("*.ipynb") if p.stem != "containerize_magic"
    )
    header = f"{'notebook':<22} {'analyse':>8} {'capture':>8} {'environ':>8} {'render':>8} {'total':>7} {'nbconvert --execute':>20}"
    print(header)
    for notebook in notebooks:
        with tempfile.TemporaryDirectory() as scratch:
            stages = stage_seconds(notebook, f"{scratch}/context")
            baseline = execute_seconds(notebook, scratch)
        total = sum(stages.values())
        print(
            f"{notebook.stem:<22} {stages['analyse']:>8.2f} {stages['capture']:>8.2f} "
            f"{stages['environment']:>8.2f} {stages['render']:>8.2f} {total:>7.2f} {baseline:>20.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
