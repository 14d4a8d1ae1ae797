"""Serving speed of the runtime: its stack, micro-batching, worker processes and cold start.

    python benchmarks/serving_stack.py [--before REF] [--duration 5] [--rounds 2] [--parts ...]

Throughput runs the runtime on the host, from serving roots laid out as a build lays them out,
for two scikit-learn models: iris (LogisticRegression) and a random forest (100 trees). "before"
is the runtime at git REF with uvloop, httptools and orjson hidden (an image built then had none of
them); "after" is this working tree's runtime with httptools and orjson, as images pin them. Variants run
alternating, `rounds` times each, and every figure is printed. Cold start builds an image of the
iris notebook and times container start → first correct prediction, with the runtime's own
breakdown read from its log. Load comes from wrk (benchmarks/loadgen.py) on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]  # this working tree's package, not an installed one
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))

from build_and_serve import free_port, start_server, stop  # noqa: E402
from loadgen import run_wrk  # noqa: E402

from jupyter_mlcontainer.pipeline.render import state_digest  # noqa: E402

MODEL_CODE = """\
from mlcontainer_runtime.state import load_state

model = load_state("model.joblib", "joblib", __name__)


def predict(inputs):
    return model.predict_proba(inputs)
"""
#: Hides the modules BENCH_HIDE names (a "before" image had none of the compiled stack).
HIDE_STACK = (
    "import os, sys\n"
    "for name in filter(None, os.environ.get('BENCH_HIDE', '').split(',')):\n"
    "    sys.modules[name] = None\n"
)


def fitted_models() -> dict:
    """name → (fitted model, features): the two models the figures are about."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    features, target = load_iris(return_X_y=True)
    return {
        "iris": (LogisticRegression(max_iter=1000).fit(features, target), features),
        "forest": (
            RandomForestClassifier(n_estimators=100, random_state=0).fit(features, target),
            features,
        ),
    }


def serving_root(folder: Path, runtime: Path, model, features) -> Path:
    """<folder>/app/{serving.json, notebook_code.py, mlcontainer_runtime}, state and sample.json."""
    import hashlib

    import joblib

    from jupyter_mlcontainer.pipeline.batching import batching_for

    state = folder / "artifacts" / "state"
    state.mkdir(parents=True)
    (folder / "artifacts" / "files").mkdir()
    joblib.dump(model, state / "model.joblib")
    shutil.copytree(runtime, folder / "app" / "mlcontainer_runtime")
    rows = features[:3]
    sample = {
        "request": {"instances": rows.tolist()},
        "expected": {"predictions": model.predict_proba(rows).tolist()},
    }
    digest = hashlib.sha256((state / "model.joblib").read_bytes()).hexdigest()
    serving = {
        "module": "notebook_code",
        "name": "bench",
        "entry": {"kind": "function", "name": "predict"},
        "input": {"kind": "ndarray", "dtype": "float64", "shape": [None, 4]},
        "batching": batching_for(lambda x: model.predict_proba(x), rows, model.predict_proba(rows)),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "packages": {},
    }
    record = state_digest(({"file": "model.joblib", "sha256": digest},))
    (folder / "artifacts" / "state.json").write_text(record.to_json())  # beside the state
    (folder / "app" / "serving.json").write_text(json.dumps(serving))
    (folder / "app" / "notebook_code.py").write_text(MODEL_CODE)
    (folder / "sample.json").write_text(json.dumps(sample))
    return folder


def runtime_at(ref: str, destination: Path) -> Path:
    """The runtime package as it was at git `ref`."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "jupyter_mlcontainer/runtime"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")
    return destination / "jupyter_mlcontainer" / "runtime"


def variants(work: Path, before_ref: str) -> dict:
    """name → (runtime folder, extra environment) for each server variant."""
    hide = work / "hide-stack"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_STACK)
    before = runtime_at(before_ref, work / "before")
    after = REPO / "jupyter_mlcontainer" / "runtime"
    # Images pin neither uvloop (measured no faster) nor, before, httptools and orjson.
    image = {"PYTHONPATH_EXTRA": str(hide), "BENCH_HIDE": "uvloop"}
    return {
        "before": (before, {**image, "BENCH_HIDE": "uvloop,httptools,orjson"}),
        "after+uvloop": (after, {"MLCONTAINER_BATCHING": "0"}),
        "after": (after, {**image, "MLCONTAINER_BATCHING": "0"}),
        "after+batching": (after, image),
        "after+batching+2workers": (after, {**image, "MLCONTAINER_WORKERS": "2"}),
    }


def serve(root: Path, env: dict, body: bytes):
    port = free_port()
    path = os.pathsep.join(p for p in (env.get("PYTHONPATH_EXTRA"), str(root / "app")) if p)
    extra = {k: v for k, v in env.items() if k != "PYTHONPATH_EXTRA"}
    environment = {"PYTHONPATH": path, "PORT": str(port), "MLCONTAINER_HOST": "127.0.0.1", **extra}
    environment.setdefault("MLCONTAINER_WORKERS", "1")
    url = f"http://127.0.0.1:{port}/predict"
    process = start_server(
        [sys.executable, "-m", "mlcontainer_runtime"],
        root / "artifacts" / "files",
        environment,
        url,
        body,
    )
    return process, url


#: (model, rows per request, clients) → the load each variant gets.
LOADS = (("iris", 1, 16), ("forest", 1, 16), ("forest", 1, 64), ("forest", 100, 4))


def throughput(work: Path, before_ref: str, duration: float, rounds: int, chosen: list) -> dict:
    models = fitted_models()
    servers = {name: spec for name, spec in variants(work, before_ref).items() if name in chosen}
    roots = {
        (variant, model): serving_root(work / f"{variant}-{model}", runtime, *models[model])
        for variant, (runtime, _) in servers.items()
        for model in models
    }
    figures = {}
    for _ in range(rounds):
        for model in models:
            features = models[model][1]
            for variant, (_, env) in servers.items():
                loads = [load for load in LOADS if load[0] == model]
                body = json.dumps({"instances": features[:1].tolist()}).encode()
                process, url = serve(roots[variant, model], env, body)
                try:
                    for _, rows, clients in loads:
                        request = json.dumps({"instances": features[:rows].tolist()}).encode()
                        result = run_wrk(url, request, duration, clients)
                        figures.setdefault((model, rows, clients), {}).setdefault(
                            variant, []
                        ).append(result)
                finally:
                    stop(process)
    return figures


def print_throughput(figures: dict) -> None:
    print(
        f"{'model':>7} {'rows':>4} {'clients':>7} {'server':>26} {'rows/s (each round)':>24} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
    )
    for (model, rows, clients), by_variant in figures.items():
        for variant, results in by_variant.items():
            rates = " / ".join(f"{r.requests_per_second * rows:.0f}" for r in results)
            p50 = statistics.median(r.p50_ms for r in results)
            p99 = statistics.median(r.p99_ms for r in results)
            errors = sum(r.errors for r in results)
            print(
                f"{model:>7} {rows:>4} {clients:>7} {variant:>26} {rates:>24} {p50:>7.2f} {p99:>7.2f} {errors:>6}"
            )
        base = by_variant.get("before")
        if base:
            mean_base = statistics.mean(r.requests_per_second for r in base)
            ratios = ", ".join(
                f"{variant} {statistics.mean(r.requests_per_second for r in results) / mean_base:.2f}"
                for variant, results in by_variant.items()
                if variant != "before"
            )
            print(f"{'':>21} ratio to before: {ratios}")


NOTEBOOK = [
    "from sklearn.datasets import load_iris\nfrom sklearn.linear_model import LogisticRegression",
    "X, y = load_iris(return_X_y=True)\nclf = LogisticRegression(max_iter=1000).fit(X, y)",
    "def predict(X):\n    return clf.predict_proba(X)",
]


BUILD = """
import json, sys
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.workflow.build import containerize
config = MLContainerConfig(base_image=sys.argv[3], labels={"io.mlcontainer.benchmark": "stack"})
result = containerize(ExportOptions(notebook=sys.argv[1], name="bench-cold"), config=config,
                      out_dir=sys.argv[2])
print(result.tag)
"""
#: Run inside an image: seconds for a bare interpreter, the server's imports, and the model's load.
BREAKDOWN = """
import json, subprocess, sys, time
t = time.perf_counter(); subprocess.run([sys.executable, "-c", "pass"]); bare = time.perf_counter() - t
t = time.perf_counter()
import uvicorn
from mlcontainer_runtime import app, stack
from mlcontainer_runtime.model import ModelService
from mlcontainer_runtime.paths import root
imports = time.perf_counter() - t
t = time.perf_counter(); service = ModelService(root()); service.load(); load = time.perf_counter() - t
print(json.dumps({"python": bare, "server imports": imports, "model load and warm-up": load}))
"""


def build_image(source: Path, work: Path, name: str) -> str:
    """Build the iris notebook's image with the package in `source`; its tag."""
    import nbformat

    from jupyter_mlcontainer.engine.baseimage import base_image_tag

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK])
    path = work / f"{name}.ipynb"
    nbformat.write(notebook, path)
    base = os.environ.get("MLCONTAINER_BASE_IMAGE") or base_image_tag()
    done = subprocess.run(
        [sys.executable, "-c", BUILD, str(path), str(work / f"{name}-context"), base],
        env={**os.environ, "PYTHONPATH": str(source)},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()[-1]


def cold_starts(work: Path, before_ref: str, runs: int) -> None:
    """Build the iris image before and after, then alternate cold starts and print them."""
    from build_and_serve import BENCH_LABELS, cold_start

    from jupyter_mlcontainer.engine import DockerEngine

    old = work / "before-tree"
    old.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", before_ref], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(old, filter="data")
    engine = DockerEngine()
    tags = {"before": build_image(old, work, "before"), "after": build_image(REPO, work, "after")}
    sample = json.loads((work / "after-context" / "sample.json").read_text())
    try:
        timings = {name: [] for name in tags}
        for _ in range(runs):
            for name, tag in tags.items():
                timings[name] += cold_start(
                    engine, tag, sample["request"], sample["expected"], runs=1
                )
        for name, tag in tags.items():
            starts = ", ".join(f"{a:.2f} → {p:.2f}" for a, p in timings[name])
            median = statistics.median(p for _, p in timings[name])
            print(
                f"cold start {name:>6} (start → first answer → first correct prediction, s): "
                f"{starts} (median {median:.2f})"
            )
            parts = json.loads(
                engine.run_command(tag, ["python", "-c", BREAKDOWN], labels=BENCH_LABELS)
            )
            print(
                f"  {name:>6} in the image: "
                + ", ".join(f"{k} {v:.3f} s" for k, v in parts.items())
            )
    finally:
        for tag in tags.values():
            engine.client.images.remove(tag, force=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--before", default="7abc908", help="git ref of the runtime to compare with"
    )
    parser.add_argument("--duration", type=float, default=5, help="seconds per load run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per variant")
    parser.add_argument(
        "--variants",
        default="before,after,after+batching",
        help="comma-separated: before, after+uvloop, after, after+batching, after+batching+2workers",
    )
    parser.add_argument(
        "--cold-start",
        type=int,
        default=0,
        metavar="RUNS",
        help="also time RUNS cold starts of an iris image",
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    try:
        if args.variants:
            figures = throughput(
                work, args.before, args.duration, args.rounds, args.variants.split(",")
            )
            print_throughput(figures)
        if args.cold_start:
            cold_starts(work, args.before, args.cold_start)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
