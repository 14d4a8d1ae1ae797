"""The loop a data scientist lives in: re-train, run `%containerize` again, the new model answers
at the same URL. Seconds per step, for this checkout and another one, alternating.

    python benchmarks/loop.py [--rounds 3] [--baseline SRC] [--rate 100] [--headless]

Each round and each variant starts a fresh kernel on a copy of examples/containerize_magic.ipynb
(iris, a scikit-learn pipeline), runs it up to its `%containerize` (the first build, not timed),
re-trains `clf` on a random subset of rows with shifted labels (a model no cache has seen), and
times `%containerize` run again on the same name, while a bounded load of --rate requests a
second (paced.py) is sent to the instance's URL. With --headless the timed step is instead
`jupyter mlcontainer build NB --run` again after the notebook itself was changed to re-train.

--baseline SRC runs the same rounds with the package found in SRC (a checkout of other code, put
first on PYTHONPATH of the kernel and the CLI), alternating with this checkout, so the floor and
the gain show as a ratio measured in one run. Steps are read off the pipeline's own progress
events: capture, environment (trial), render (context), each build step, run (start and swap),
check; "first new answer" is when the URL first answers the sample with the new model.
Everything made is removed, images included.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXAMPLE = REPO / "examples" / "containerize_magic.ipynb"
LABEL = "io.mlcontainer.benchmark=loop"
ROW = {
    "sepal length (cm)": 6.1,
    "sepal width (cm)": 2.8,
    "petal length (cm)": 4.7,
    "petal width (cm)": 1.2,
}

#: Runs in the kernel: wraps `containerize` so its progress events are timed, as the magic runs it.
RECORDER = """
import time as _time
try:
    import jupyter_mlcontainer.workflow.build as _workflow
except ImportError:  # a tree from before the modules were grouped into packages
    import jupyter_mlcontainer.workflow as _workflow
_loop_events = []
_original = getattr(_workflow, "_loop_original", _workflow.containerize)
def _timed(options, *args, on_event=None, **kwargs):
    started = _time.perf_counter()
    def record(event):
        _loop_events.append((_time.perf_counter() - started, event.kind, event.stage, event.message[:70]))
        if on_event:
            on_event(event)
    return _original(options, *args, on_event=record, **kwargs)
_workflow._loop_original = _original
_workflow.containerize = _timed
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="a checkout of other code to compare with")
    parser.add_argument("--rate", type=float, default=100, help="requests a second during it")
    parser.add_argument("--headless", action="store_true", help="time `build --run` instead")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one round of one variant
    parser.add_argument("--skip", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.worker:  # this checkout's package, whatever is installed; a worker's is its own
        sys.path.insert(0, str(REPO))
    if args.worker:
        result = one_round(Path(args.worker), args.skip, args.rate, args.headless)
        print("RESULT " + json.dumps(result))
        return 0
    variants = {"this": REPO}
    if args.baseline:
        variants = {"baseline": Path(args.baseline).resolve(), **variants}
    results: dict[str, list[dict]] = {name: [] for name in variants}
    skips = random.sample(range(1, 60), args.rounds)
    try:
        for round_, skip in enumerate(skips, start=1):
            for name, source in variants.items():
                result = run_worker(source, skip, args)
                results[name].append(result)
                print(f"round {round_} {name:>8}: {describe(result)}", flush=True)
        print()
        print_table(results)
    finally:
        remove_everything()
    return 0


def run_worker(source: Path, skip: int, args) -> dict:
    """One round of one variant, in a process whose package comes from `source`."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    command = [sys.executable, __file__, "--worker", str(source), "--skip", str(skip)]
    command += ["--rate", str(args.rate)] + (["--headless"] if args.headless else [])
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(f"the round failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def one_round(source: Path, skip: int, rate: float, headless: bool) -> dict:
    """Build once, re-train, then time the rebuild under a paced load; the figures."""
    import nbformat
    from jupyter_client import KernelManager
    from nbclient import NotebookClient

    sys.path.insert(0, str(HERE))
    from paced import run_paced

    from jupyter_mlcontainer.engine.baseimage import base_image_tag

    folder = Path(tempfile.mkdtemp(prefix="mlcontainer-loop-"))
    copy = folder / EXAMPLE.name
    shutil.copy(EXAMPLE, copy)
    os.environ["JPY_SESSION_NAME"] = str(copy)
    os.environ["MLCONTAINER_LABELS"] = LABEL
    os.environ.setdefault("MLCONTAINER_BASE_IMAGE", base_image_tag())
    name = f"loop-{skip}"
    notebook = nbformat.read(copy, as_version=4)
    cells = [c for c in notebook.cells if c.cell_type == "code"][:5]
    cells[-1].source = f'inst = %containerize clf --sample "X_test[:5]" --name {name}'
    if headless:
        cells = cells[:3]
    notebook.cells = cells
    nbformat.write(notebook, copy)
    client = NotebookClient(notebook, km=KernelManager(kernel_name="python3"), timeout=600)
    retrain = f"clf.fit(X_train[{skip}:], (y_train[{skip}:] + {1 + skip % 2}) % 3)"
    with client.setup_kernel(cwd=str(folder)):
        for index, cell in enumerate(cells):
            client.execute_cell(cell, index)
        if headless:
            url = build_headless(copy, name)["url"]
        else:
            url = run_cell(client, notebook, "print(inst.url)").strip().splitlines()[-1]
            run_cell(client, notebook, RECORDER)
        run_cell(client, notebook, retrain)
        expected = json.loads(
            run_cell(
                client, notebook, "import json; print(json.dumps(clf.predict(X_test[:5]).tolist()))"
            )
            .strip()
            .splitlines()[-1]
        )
        body = json.dumps({"instances": [ROW]}).encode()
        load: dict = {}
        loader = threading.Thread(
            target=lambda: load.setdefault("result", run_paced(url + "/predict", body, 40, rate))
        )
        loader.start()
        time.sleep(1)
        watch = NewAnswerWatch(url, run_cell_json(client, notebook, "X_test[:5]"), expected)
        watch.start()
        started = time.perf_counter()
        if headless:
            cells[2].source += "\n" + retrain  # the notebook as saved: its own cells only
            nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=notebook.metadata), copy)
            summary = build_headless(copy, name)
            total = time.perf_counter() - started
            events = []
        else:
            printed = run_cell(
                client,
                notebook,
                f'inst = %containerize clf --sample "X_test[:5]" --name {name}\n'
                "print('EVENTS', json.dumps(_loop_events))",
            )
            total = time.perf_counter() - started
            events = json.loads(printed.split("EVENTS ", 1)[1].splitlines()[0])
            summary = {"url": run_cell(client, notebook, "print(inst.url)").strip()}
        watch.stop.set()
        loader.join()
    shutil.rmtree(folder, ignore_errors=True)
    result = load["result"]
    return {
        "total": total,
        "first_new_answer": (watch.first - started) if watch.first else None,
        "same_url": summary["url"] == url,
        "requests": result.requests,
        "failed": result.errors,
        "steps": steps_of(events),
    }


class NewAnswerWatch(threading.Thread):
    """Asks the URL for the sample every 50 ms; notes when it first answers as the new model."""

    def __init__(self, url: str, records: list, expected: list):
        super().__init__(daemon=True)
        self.url, self.expected = url, expected
        self.body = json.dumps({"instances": records}).encode()
        self.first: float | None = None
        self.stop = threading.Event()

    def run(self):
        import urllib.request

        while not self.stop.is_set() and self.first is None:
            request = urllib.request.Request(
                self.url + "/predict", self.body, {"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    if json.loads(answer.read()).get("predictions") == self.expected:
                        self.first = time.perf_counter()
            except (OSError, ValueError):
                pass
            time.sleep(0.05)


def build_headless(notebook: Path, name: str) -> dict:
    command = [sys.executable, "-m", "jupyter_mlcontainer.cli", "build", str(notebook)]
    command += ["--model", "clf", "--sample", "X_test[:5]", "--name", name, "--run", "--json"]
    # in the notebook's folder: `python -m` puts the working folder first, before PYTHONPATH
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=notebook.parent)
    if done.returncode != 0:
        raise SystemExit(f"build failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    return {"url": summary["instance"]["url"]}


def run_cell(client, notebook, source: str) -> str:
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    notebook.cells.append(cell)
    client.execute_cell(cell, len(notebook.cells) - 1)
    return "".join(output.get("text", "") for output in cell.outputs)


def run_cell_json(client, notebook, expression: str):
    printed = run_cell(client, notebook, f"print({expression}.to_json(orient='records'))")
    return json.loads(printed.strip().splitlines()[-1])


def steps_of(events: list) -> dict:
    """Seconds per stage, and per build step, from (seconds, kind, stage, message) events."""
    marks = [(t, stage) for t, kind, stage, _ in events if kind == "stage"]
    marks += [(t, f"build: {message}") for t, kind, _, message in events if kind == "step"]
    marks += [
        (t, f"log: {message}")
        for t, kind, stage, message in events
        if kind == "log" and stage != "build"
    ]
    marks.sort()
    if not marks:  # a headless build's events stay in its own process
        return {}
    end = events[-1][0] if events else 0.0
    steps: dict[str, float] = {}
    for (at, what), (after, _) in zip(marks, marks[1:] + [(end, "")], strict=True):
        what = VARYING.sub("…", what)  # the same step in every round, whatever it names
        steps[what] = steps.get(what, 0.0) + after - at
    return steps


#: What differs from round to round in a step's name: folders, hashes, names, the URL's port.
VARYING = re.compile(r"/tmp/\S+|\b[0-9a-f]{12,}\b|loop-\d+|127\.0\.0\.1:\d+|:[0-9a-f]{12}")


def describe(result: dict) -> str:
    first = result["first_new_answer"]
    return (
        f"{result['total']:.2f} s, new model at the URL after {first:.2f} s, "
        if first
        else f"{result['total']:.2f} s, new model NOT seen, "
    ) + f"{result['failed']} of {result['requests']} requests failed, same URL {result['same_url']}"


def print_table(results: dict) -> None:
    names = list(results)
    print(f"{'median seconds':<50}" + "".join(f"{n:>12}" for n in names))
    for figure in ("total", "first_new_answer", "failed"):
        row = [statistics.median([r[figure] or 0 for r in results[n]]) for n in names]
        print(f"{figure:<50}" + "".join(f"{v:>12.2f}" for v in row))
    steps = sorted({s for n in names for r in results[n] for s in r["steps"]})
    for step in steps:
        row = [statistics.median([r["steps"].get(step, 0.0) for r in results[n]]) for n in names]
        print(f"  {step[:48]:<48}" + "".join(f"{v:>12.2f}" for v in row))
    if len(names) == 2:
        base, this = (statistics.median([r["total"] for r in results[n]]) for n in names)
        print(f"ratio this/baseline (total): {this / base:.2f}")


def remove_everything() -> None:
    """Stop every instance the rounds left and remove their images (prune removes the
    containers that published their ports)."""
    from jupyter_mlcontainer.engine import open_engine

    engine = open_engine()
    key, value = LABEL.split("=")
    for instance in engine.list_instances(all=True, labels={key: value}):
        engine.stop(instance.id)
    engine.prune(labels={key: value})
    for image in engine.client.images.list(filters={"label": LABEL}):
        engine.client.images.remove(image.id, force=True)


if __name__ == "__main__":
    sys.exit(main())
