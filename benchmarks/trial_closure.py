"""Seconds the trial run takes to prove the closure, and what the closure holds.

    python benchmarks/trial_closure.py [--baseline DIR] [--rounds N]

Two notebooks: the iris example (a function on a numpy array) and a crowded one (a forest
fitted on a pandas DataFrame, in an environment that also holds pyarrow and polars). For each,
a fresh build (`context_only`, no wheels, an empty cache) is timed from the environment stage
to the trial's verdict, then a re-build that reuses the trial (the trial cache). With
`--baseline DIR`, DIR holds an earlier `jupyter_mlcontainer` package (e.g. `git archive <commit>
jupyter_mlcontainer | tar -x -C DIR`), run alongside on the same notebooks: the ratio is this
tree's first-build trial time over the baseline's. Medians of `--rounds` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPOSITORY = Path(__file__).resolve().parent.parent
#: A model fitted on a DataFrame: pandas imports pyarrow when it is installed, and
#: scikit-learn asks for more (rich, polars through narwhals) when they are.
CROWDED = """import pandas as pd
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

frame = load_iris(as_frame=True).frame
X, y = frame.drop(columns="target"), frame["target"]
clf = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
"""


def notebooks(work: Path) -> list[tuple[str, Path, str | None]]:
    """(label, notebook, model variable or None for the entry function)."""
    crowded = work / "crowded.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CROWDED)]), crowded)
    return [
        ("iris example", REPOSITORY / "examples" / "iris_classifier.ipynb", None),
        ("crowded DataFrame", crowded, "clf"),
    ]


def measure(notebook: Path, model: str | None) -> dict:
    """In the tree on PYTHONPATH: seconds of a first build's trial and of a re-build's."""
    from jupyter_mlcontainer.pipeline.plan import ExportOptions

    try:
        from jupyter_mlcontainer.shared.config import MLContainerConfig
        from jupyter_mlcontainer.workflow.build import containerize
    except ImportError:  # a baseline from before the modules were grouped into packages
        from jupyter_mlcontainer.config import MLContainerConfig
        from jupyter_mlcontainer.workflow import containerize

    def build(out: str) -> tuple[float, str]:
        marks = {}

        def on_event(event):
            if event.kind == "stage" and event.stage == "environment":
                marks["start"] = time.perf_counter()
            elif event.kind == "log" and event.message.startswith("trial run"):
                marks["end"], marks["line"] = time.perf_counter(), event.message

        containerize(
            ExportOptions(notebook=str(notebook), model=model),
            config=MLContainerConfig(download_wheels=False),
            context_only=True,
            out_dir=out,
            on_event=on_event,
        )
        return marks["end"] - marks["start"], marks["line"]

    with tempfile.TemporaryDirectory() as scratch:
        first, line = build(f"{scratch}/context")
        again, reused = build(f"{scratch}/context")
        lock = Path(scratch, "context", "requirements.lock").read_text()
    pins = [row.split("==")[0] for row in lock.splitlines() if "==" in row]
    return {"first": first, "rebuild": again, "line": line, "reused": reused, "pins": pins}


def run_in(tree: Path, notebook: Path, model: str | None) -> dict:
    """`measure` in a child process importing the package from `tree`, with an empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYTHONPATH": str(tree), "XDG_CACHE_HOME": cache}
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(notebook), model or ""],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout.splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="a folder holding an earlier package")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), args.child[1] or None)))
        return 0
    trees = [("this tree", REPOSITORY)]
    if args.baseline:
        trees.append(("baseline", args.baseline.resolve()))
    with tempfile.TemporaryDirectory() as work:
        for label, notebook, model in notebooks(Path(work)):
            firsts = {}
            for tree_label, tree in trees:
                runs = [run_in(tree, notebook, model) for _ in range(args.rounds)]
                first = statistics.median(r["first"] for r in runs)
                rebuild = statistics.median(r["rebuild"] for r in runs)
                firsts[tree_label] = first
                pins = runs[-1]["pins"]
                print(
                    f"{label} [{tree_label}]: first build's trial {first:.2f} s, re-build's "
                    f"{rebuild:.2f} s; {len(pins)} packages pinned"
                )
                print(f"  {runs[-1]['line']}")
                print(f"  pinned: {', '.join(pins)}")
            if len(firsts) == 2:
                ratio = firsts["this tree"] / firsts["baseline"]
                print(f"  first-build trial time, this tree / baseline: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
