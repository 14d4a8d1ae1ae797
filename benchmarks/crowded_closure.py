"""Images built from a crowded environment: their size, and what they carry that the model
answers without.

    python benchmarks/crowded_closure.py [--baseline DIR] [--models catboost skorch ...] [--reports DIR]

The machine's Python is the crowded environment: beside each model's own library it holds
pyarrow, polars and xgboost (and every other model's library). Five small notebooks, each trained
on a few rows in seconds: a CatBoost classifier with a categorical feature (a DataFrame), a
skorch classifier over a torch module, a scikit-learn pipeline of a FunctionTransformer over a
function the notebook defines, an imbalanced-learn pipeline with SMOTE, and a LightGBM native
booster (`lgb.train`); all but CatBoost take a numpy array. Each is built into an image through
the CLI (`python -m jupyter_mlcontainer.cli build NB --model VAR --name NAME --json`) in a
subprocess, with this tree first on PYTHONPATH and, with `--baseline DIR`, with DIR's (an earlier
`jupyter_mlcontainer` package, e.g. `git archive <commit> jupyter_mlcontainer | tar -x -C DIR`),
each with an empty cache of its own (the wheel cache is shared) and the offline base image.

For each image it prints its size and the ratio this tree / baseline, then what the image's
/opt/venv holds that the model does not need: the crowded distributions (pyarrow, polars, xgboost
and the other models' libraries; pandas too for the models on a numpy array, scikit-learn for the
native booster), and, read from inside this tree's image, the distributions that neither loading
the model nor answering sample.json (the image's own check) import, the serving runtime's
(uvicorn's h11 fallback, say) aside, with the MB they take on disk. "now without both" deletes
both kinds from a throwaway container of this tree's image, runs the image's check there again
(answers or FAILS), and gives the image's size less their bytes, against the baseline's. Then,
for each image, the packages it pins, and from the slice report (REPORT.md) what was left out and
why each unneeded distribution is in. Images are named `bench-crowded-*`, labelled with this
run's `io.mlcontainer.benchmark` value, and all removed when it ends.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nbformat

REPOSITORY = Path(__file__).resolve().parent.parent
BASE_IMAGE = "mlcontainer/python:3.11-bookworm"
PREFIX = "bench-crowded-"
#: What the crowded environment adds that none of these models uses.
CROWD = {"pyarrow", "polars", "polars-runtime-32", "polars-runtime-64", "xgboost", "xgboost-cpu"}
#: The models' own libraries: each is foreign to the other models' images.
LIBRARIES = {"catboost", "skorch", "torch", "imbalanced-learn", "lightgbm"}

CATBOOST = """import numpy as np
import pandas as pd
from catboost import CatBoostClassifier

frame = pd.DataFrame(
    {"colour": ["red", "green", "blue", "red", "blue", "green"] * 10, "size": np.arange(60) % 7 * 1.5}
)
target = (frame["colour"] == "red").astype(int) ^ (frame["size"] > 4).astype(int)
clf = CatBoostClassifier(
    iterations=20, depth=2, cat_features=["colour"], random_seed=0, verbose=0,
    thread_count=1, allow_writing_files=False,
).fit(frame, target)
"""

SKORCH = """import numpy as np
import torch
from skorch import NeuralNetClassifier
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 3)

    def forward(self, X):
        return torch.softmax(self.layer(X), dim=-1)


rng = np.random.RandomState(0)
X = rng.rand(60, 4).astype("float32")
y = (X[:, 0] * 3).astype("int64")
torch.manual_seed(0)
net = NeuralNetClassifier(Net, max_epochs=3, lr=0.1, train_split=None, verbose=0).fit(X, y)
"""

FUNCTION_TRANSFORMER = """import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer


def log_magnitude(X):
    return np.log1p(np.abs(X))


rng = np.random.RandomState(0)
X = rng.rand(60, 3)
y = (X[:, 0] > 0.5).astype(int)
pipe = make_pipeline(FunctionTransformer(log_magnitude), LogisticRegression()).fit(X, y)
"""

SMOTE = """import numpy as np
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import make_pipeline
from sklearn.linear_model import LogisticRegression

rng = np.random.RandomState(0)
X = rng.rand(80, 3)
y = (X[:, 0] > 0.8).astype(int)
pipe = make_pipeline(SMOTE(k_neighbors=3, random_state=0), LogisticRegression()).fit(X, y)
"""

LIGHTGBM = """import lightgbm as lgb
import numpy as np

rng = np.random.RandomState(0)
X = rng.rand(100, 4)
y = 2 * X[:, 0] + 0.1 * rng.rand(100)
params = {"objective": "regression", "num_leaves": 4, "min_data_in_leaf": 5, "verbose": -1,
          "num_threads": 1}
booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=10)
predictions = booster.predict(X[:5])
"""

#: key → (label, source, model variable, its own libraries, what else it answers without)
MODELS = {
    "catboost": ("CatBoost, categorical feature", CATBOOST, "clf", {"catboost"}, set()),
    "skorch": ("skorch over torch", SKORCH, "net", {"skorch", "torch"}, {"pandas"}),
    "function": (
        "FunctionTransformer pipeline",
        FUNCTION_TRANSFORMER,
        "pipe",
        set(),
        {"pandas"},
    ),
    "smote": ("imbalanced-learn SMOTE", SMOTE, "pipe", {"imbalanced-learn"}, {"pandas"}),
    "lightgbm": (
        "LightGBM native booster",
        LIGHTGBM,
        "booster",
        {"lightgbm"},
        {"pandas", "scikit-learn"},
    ),
}

#: Runs in an image: load the model and answer sample.json (the image's own check), import what
#: serving imports, then list the distributions installed and those the process imported.
PROBE = """
import contextlib, importlib.metadata as m, importlib.util, io, json, os, re, sys
from mlcontainer_runtime.__main__ import check
with contextlib.redirect_stdout(io.StringIO()):
    rc = check()
import uvicorn
from mlcontainer_runtime import app
for name in ("httptools", "orjson", "uvloop"):
    try:
        __import__(name)
    except ImportError:
        pass
canon = lambda name: re.sub(r"[-_.]+", "-", name).lower()
provides = m.packages_distributions()
tops = {name.partition(".")[0] for name in list(sys.modules)}
imported = {canon(d) for top in tops for d in provides.get(top, [])}
def on_disk(distribution):  # its files and their byte-compiled copies
    total = 0
    for file in distribution.files or []:
        path = str(file.locate())
        paths = [path]
        if path.endswith(".py"):
            paths.append(importlib.util.cache_from_source(path))
        for each in paths:
            try:
                total += os.path.getsize(each)
            except OSError:
                pass
    return total
installed = {canon(d.metadata["Name"]): on_disk(d) for d in m.distributions()}
runtime, pending = set(), ["uvicorn", "httptools", "orjson", "uvloop"]
while pending:
    name = canon(pending.pop())
    if name in runtime or name not in installed:
        continue
    runtime.add(name)
    for line in m.distribution(name).requires or []:
        if "extra ==" not in line:
            pending.append(re.match(r"[A-Za-z0-9_.-]+", line).group(0))
print(json.dumps({"check": rc, "installed": installed, "imported": sorted(imported),
                  "runtime": sorted(runtime)}))
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def write_notebook(folder: Path, key: str) -> Path:
    path = folder / key / f"{key}.ipynb"
    path.parent.mkdir(parents=True)
    source = MODELS[key][1]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), path)
    return path


def build(tree: Path, notebook: Path, model: str, name: str, out: Path, env: dict) -> dict:
    """One build through the CLI of the package in `tree`: the result, its seconds, the lock."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlcontainer.cli", "build", str(notebook)]
        + ["--model", model, "--name", name, "--json", "--out", str(out)],
        env={**env, "PYTHONPATH": str(tree)},
        cwd=notebook.parent,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0 or "{" not in done.stdout:
        return {"error": (done.stderr or done.stdout).strip()[-2000:], "seconds": seconds}
    text = done.stdout[done.stdout.index("{") :]
    result, _ = json.JSONDecoder().raw_decode(text)
    context = Path(result["context"])
    lock = (context / "requirements.lock").read_text()
    report = context / "REPORT.md"
    return {
        "tag": result["tag"],
        "size": result["size"],
        "seconds": seconds,
        "pins": {
            canonical(row.split("==")[0]): row.split("==")[1].split()[0].rstrip("\\")
            for row in lock.splitlines()
            if "==" in row and not row.startswith("#")
        },
        "report": report.read_text() if report.exists() else "",
    }


def probe(tag: str) -> dict | None:
    """What the image installs and what loading, answering and serving import."""
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "/opt/venv/bin/python"]
        + [tag, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        print(f"  probe of {tag} failed: {done.stderr.strip()[-500:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


#: Runs in a throwaway container of an image, as root: delete the files of the distributions
#: named on the command line, then run the image's own check in a fresh interpreter.
WITHOUT = """
import importlib.metadata as m, importlib.util, os, re, shutil, sys
canon = lambda name: re.sub(r"[-_.]+", "-", name).lower()
doomed = set(sys.argv[1:])
for distribution in list(m.distributions()):
    if canon(distribution.metadata["Name"]) in doomed:
        for file in distribution.files or []:
            path = str(file.locate())
            for each in [path] + ([importlib.util.cache_from_source(path)] if path.endswith(".py") else []):
                if os.path.isfile(each):
                    os.remove(each)
        shutil.rmtree(str(distribution._path), ignore_errors=True)
os.execv(sys.executable, [sys.executable, "-m", "mlcontainer_runtime", "check"])
"""


def answers_without(tag: str, names: list[str]) -> bool:
    """Whether the image, with these distributions deleted, still passes its own check."""
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--user", "0", "--entrypoint"]
        + ["/opt/venv/bin/python", tag, "-c", WITHOUT, *names],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode == 0 and "PASS" in done.stdout


def idle(seen: dict) -> list[str]:
    """Installed in the image, imported neither by the model's load and answer nor by serving."""
    return sorted(set(seen["installed"]) - set(seen["imported"]) - set(seen["runtime"]))


def unneeded(key: str, installed) -> list[str]:
    """The distributions of `installed` that this model answers without: the crowd, the
    other models' libraries, and what the model's input makes needless."""
    own = MODELS[key][3]
    foreign = CROWD | (LIBRARIES - own) | MODELS[key][4]
    return sorted(set(installed) & foreign)


def section(report: str, title: str) -> list[str]:
    """The lines of a `## title` section of REPORT.md."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", report, re.M | re.S)
    return [line for line in (match.group(1) if match else "").splitlines() if line.strip()]


def why(report: str, name: str) -> str:
    """The slice report's reason for pinning `name` (its row of the packages table)."""
    for line in section(report, "Python packages"):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells and canonical(cells[0].strip("`")) == name:
            return cells[2] if len(cells) > 2 else line
    return "not in the report"


def remove_images(run_label: str) -> None:
    """Every image this run made: the tags named bench-crowded-*, then whatever carries this
    run's own label (builder stages, a failed build's layers)."""
    listed = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    tags = [tag for tag in listed if tag.startswith(f"mlcontainer/{PREFIX}")]
    if tags:
        subprocess.run(["docker", "rmi", *tags], capture_output=True)
    ids = subprocess.run(
        ["docker", "images", "-q", "--filter", f"label=io.mlcontainer.benchmark={run_label}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rmi", "-f", *sorted(set(ids))], capture_output=True)


def table(keys: list[str], results: dict, baseline: bool) -> str:
    """One row per model: the sizes, what each image carries that the model answers without,
    and what this tree's image would weigh without that."""
    header = ["model", "MB now"]
    if baseline:
        header += ["MB before", "now/before", "unneeded before"]
    header += ["unneeded now", "never imported now", "now without both"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for key in keys:
        now, base = results.get((key, "now"), {}), results.get((key, "base"), {})
        row = [MODELS[key][0], mb(now["size"]) if "size" in now else "FAILED"]
        if baseline:
            row.append(mb(base["size"]) if "size" in base else "FAILED")
            both = "size" in now and "size" in base
            row.append(f"{now['size'] / base['size']:.2f}" if both else "-")
            row.append(names(unneeded(key, base["pins"])) if "pins" in base else "-")
        if "pins" not in now:
            lines.append("| " + " | ".join(row + ["-"] * 3) + " |")
            continue
        row.append(names(unneeded(key, now["pins"])))
        seen = now.get("probe")
        if not seen:
            lines.append("| " + " | ".join(row + ["(probe failed)"] * 2) + " |")
            continue
        sizes = seen["installed"]
        never = idle(seen)
        row.append(f"{names(never)} ({mb(sum(sizes[n] for n in never))} MB)" if never else "none")
        lighter = now["size"] - sum(sizes[n] for n in seen["without"])
        verdict = "answers" if seen["answers_without"] else "FAILS"
        ratio = f", {lighter / base['size']:.2f}x before" if baseline and "size" in base else ""
        row.append(f"{mb(lighter)} MB{ratio}, {verdict}" if seen["without"] else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def details(key: str, tree_label: str, outcome: dict) -> None:
    """The packages an image pins, why the unneeded ones are in, what was left out."""
    if "pins" not in outcome:
        return
    pins = outcome["pins"]
    print(f"  [{tree_label}] {mb(outcome['size'])} MB, {len(pins)} pinned: {', '.join(pins)}")
    for name in unneeded(key, pins):
        print(f"  [{tree_label}] unneeded {name}: {why(outcome['report'], name)}")
    seen = outcome.get("probe")
    if seen:
        print(f"  [{tree_label}] the image's check: {'PASS' if seen['check'] == 0 else 'FAIL'}")
        for name in idle(seen):
            size = mb(seen["installed"][name])
            print(
                f"  [{tree_label}] never imported {name} ({size} MB): {why(outcome['report'], name)}"
            )
        if seen.get("without"):
            verdict = "passes" if seen["answers_without"] else "FAILS"
            print(
                f"  [{tree_label}] its check with {', '.join(seen['without'])} deleted: {verdict}"
            )
    if tree_label == "now":
        for line in section(outcome["report"], "Left out"):
            print(f"  [now] left out {line.lstrip('- ')}")


def names(listed: list[str]) -> str:
    return ", ".join(listed) or "none"


def mb(size: int) -> str:
    return f"{size / 1e6:.1f}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="a folder holding an earlier package")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--reports", type=Path, help="keep each build's REPORT.md here")
    args = parser.parse_args(argv)
    trees = [("now", REPOSITORY)]
    if args.baseline:
        trees.append(("base", args.baseline.resolve()))
    run_label = f"crowded-closure-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="bench-crowded-"))
    (work / "wheels").mkdir()
    envs = {}
    for tree_label, _ in trees:
        cache = work / f"cache-{tree_label}" / "jupyter-mlcontainer"
        cache.mkdir(parents=True)
        (cache / "wheels").symlink_to(work / "wheels")
        envs[tree_label] = {
            **os.environ,
            "XDG_CACHE_HOME": str(cache.parent),
            "MLCONTAINER_BASE_IMAGE": BASE_IMAGE,
            "MLCONTAINER_LABELS": f"io.mlcontainer.benchmark={run_label}",
        }
    results: dict = {}
    try:
        for key in args.models:
            notebook = write_notebook(work, key)
            for tree_label, tree in trees:
                name = f"{PREFIX}{key}-{tree_label}"
                outcome = build(
                    tree, notebook, MODELS[key][2], name, work / f"ctx-{name}", envs[tree_label]
                )
                if "tag" in outcome:
                    outcome["probe"] = seen = probe(outcome["tag"])
                    if seen and tree_label == "now":
                        gone = sorted(set(idle(seen)) | set(unneeded(key, seen["installed"])))
                        seen["without"] = gone
                        seen["answers_without"] = answers_without(outcome["tag"], gone)
                results[key, tree_label] = outcome
                if args.reports and outcome.get("report"):
                    args.reports.mkdir(parents=True, exist_ok=True)
                    (args.reports / f"{name}.md").write_text(outcome["report"])
                state = mb(outcome["size"]) + " MB" if "size" in outcome else "FAILED"
                print(f"built {key} [{tree_label}] in {outcome['seconds']:.0f} s: {state}")
                if "error" in outcome:
                    print("  " + outcome["error"].replace("\n", "\n  "))
                sys.stdout.flush()
    finally:
        remove_images(run_label)
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"base image {BASE_IMAGE}; crowded: {', '.join(sorted(CROWD))} and every model's library")
    print(table(args.models, results, baseline=len(trees) == 2))
    for key in args.models:
        print()
        print(f"{MODELS[key][0]} ({key}):")
        for tree_label, _ in trees:
            details(key, tree_label, results.get((key, tree_label), {}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
