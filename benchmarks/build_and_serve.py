"""Build and serving figures for the scikit-learn example, against baselines run alongside.

    python benchmarks/build_and_serve.py [--notebook examples/iris_classifier.ipynb] [--duration 5]

Prints: cold build seconds (per stage); code-only rebuild seconds and its ratio to the cold
build; image size minus the base image and the installed dependencies (overhead); cold start
(container start → first correct prediction); requests/s and p50/p99 latency for single-row
predictions at 1 and 16 clients on 127.0.0.1 against a hand-written FastAPI + uvicorn server
serving the same fitted objects, both run on the host, alternating, twice each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cleanup import remove_images  # noqa: E402
from loadgen import run_wrk  # noqa: E402

from jupyter_mlcontainer.engine import DockerEngine  # noqa: E402
from jupyter_mlcontainer.engine.baseimage import base_image_tag  # noqa: E402
from jupyter_mlcontainer.pipeline.kernels import executed_notebook  # noqa: E402
from jupyter_mlcontainer.pipeline.plan import ExportOptions  # noqa: E402
from jupyter_mlcontainer.shared.config import MLContainerConfig  # noqa: E402
from jupyter_mlcontainer.workflow.build import containerize  # noqa: E402

BENCH_LABELS = {"io.mlcontainer.benchmark": "build-and-serve"}
SERVING_STACK = ("uvicorn", "h11", "click")


def timed_build(options, config, out_dir, no_cache=False, kernel=None):
    """Run the pipeline; return the result and seconds per stage (from the event stream)."""
    marks = []

    def on_event(event):
        if event.kind == "stage":
            marks.append((event.stage, time.perf_counter()))

    start = time.perf_counter()
    result = containerize(
        replace(options, no_cache=no_cache),
        kernel=kernel,
        config=config,
        on_event=on_event,
        out_dir=out_dir,
    )
    end = time.perf_counter()
    stages = {
        stage: (marks[i + 1][1] if i + 1 < len(marks) else end) - at
        for i, (stage, at) in enumerate(marks)
    }
    return result, end - start, stages


def code_only_change(notebook: Path, note: str) -> None:
    """Add a docstring line to predict(X) in the saved notebook: a change to the code only."""
    text = notebook.read_text()
    changed = text.replace("def predict(X):", f'def predict(X):\\n    \\"\\"\\"{note}\\"\\"\\"', 1)
    assert changed != text, "the benchmark notebook must define predict(X)"
    notebook.write_text(changed)


def image_overhead(engine, tag: str, base: str) -> dict:
    """Sizes in MB: the image, its base, the venv, and the serving stack inside the venv."""
    script = (
        "import json, os, importlib.metadata as m\n"
        "def du(p):\n"
        "    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(p) for f in fs"
        " if not os.path.islink(os.path.join(d, f)))\n"
        f"stack = sum(f.locate().stat().st_size for n in {SERVING_STACK!r} for f in m.files(n))\n"
        "print(json.dumps(dict(venv=du('/opt/venv'), app=du('/srv'), stack=stack)))\n"
    )
    inside = json.loads(engine.run_command(tag, ["python", "-c", script], labels=BENCH_LABELS))
    image, base_size = engine.image_size(tag), engine.image_size(base)
    dependencies = inside["venv"] - inside["stack"]
    return {
        "image_mb": image / 1e6,
        "base_mb": base_size / 1e6,
        "dependencies_mb": dependencies / 1e6,
        "serving_stack_mb": inside["stack"] / 1e6,
        "app_and_state_mb": inside["app"] / 1e6,
        "overhead_mb": (image - base_size - dependencies) / 1e6,
    }


def cold_start(engine, tag: str, request: dict, expected: dict, runs: int = 3) -> list[tuple]:
    """Seconds from `docker start` to the first HTTP answer of any kind (the runtime is up,
    the model may still be loading) and to the first correct prediction."""
    body = json.dumps(request).encode()
    timings = []
    for _ in range(runs):
        container = engine.client.containers.create(
            tag, ports={"8080/tcp": ("127.0.0.1", None)}, labels=BENCH_LABELS
        )
        try:
            start = time.perf_counter()
            container.start()
            container.reload()
            port = container.ports["8080/tcp"][0]["HostPort"]
            answered = None
            while time.perf_counter() - start < 30:
                outcome = _predicts(f"http://127.0.0.1:{port}/predict", body, expected)
                if outcome is not None and answered is None:
                    answered = time.perf_counter() - start
                if outcome:
                    timings.append((answered, time.perf_counter() - start))
                    break
                time.sleep(0.005)
        finally:
            container.remove(force=True)
    return timings


def _predicts(url: str, body: bytes, expected: dict):
    """True for the expected answer, False for any other HTTP answer, None for no answer."""
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            return json.load(answer)["predictions"] == expected["predictions"]
    except urllib.error.HTTPError:
        return False
    except (OSError, ValueError, KeyError):
        return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    command: list[str], cwd: Path, env: dict, url: str, body: bytes
) -> subprocess.Popen:
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{command} did not answer on {url}")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def throughput(context: Path, single_row: dict, duration: float, rounds: int) -> dict:
    """Ours and the FastAPI baseline on the host, alternating, `rounds` times per concurrency."""
    import joblib
    from sklearn.pipeline import make_pipeline

    state = context / "artifacts" / "state"
    work = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    joblib.dump(
        make_pipeline(joblib.load(state / "scaler.joblib"), joblib.load(state / "clf.joblib")),
        work / "model.joblib",
    )
    body = json.dumps(single_row).encode()
    servers = {
        "mlcontainer": lambda port: (
            [sys.executable, "-m", "mlcontainer_runtime"],
            context / "artifacts" / "files",
            {
                "PYTHONPATH": str(context / "app"),
                "PORT": str(port),
                "MLCONTAINER_HOST": "127.0.0.1",
            },
        ),
        "fastapi": lambda port: (
            [
                sys.executable,
                str(HERE / "baseline_fastapi.py"),
                "--model",
                str(work / "model.joblib"),
                "--port",
                str(port),
            ],
            work,
            {},
        ),
    }
    figures = {name: {1: [], 16: []} for name in servers}
    for _ in range(rounds):
        for name, spec in servers.items():
            port = free_port()
            command, cwd, env = spec(port)
            url = f"http://127.0.0.1:{port}/predict"
            process = start_server(command, cwd, env, url, body)
            try:
                for concurrency in (1, 16):
                    figures[name][concurrency].append(run_wrk(url, body, duration, concurrency))
            finally:
                stop(process)
    shutil.rmtree(work)
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--notebook", default=str(HERE.parent / "examples" / "iris_classifier.ipynb")
    )
    parser.add_argument("--duration", type=float, default=5, help="seconds per load run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per server")
    args = parser.parse_args(argv)

    engine = DockerEngine()
    base = os.environ.get("MLCONTAINER_BASE_IMAGE") or base_image_tag()
    config = MLContainerConfig(base_image=base, labels=BENCH_LABELS)
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    notebook = work / "bench.ipynb"
    shutil.copy(args.notebook, notebook)
    context = work / "context"
    options = ExportOptions(notebook=str(notebook), name="bench-sklearn")
    try:
        cold, cold_s, cold_stages = timed_build(options, config, str(context), no_cache=True)
        code_only_change(notebook, "Headless rebuild.")
        warm, warm_s, warm_stages = timed_build(options, config, str(context))
        with executed_notebook(notebook) as kernel:  # JupyterLab's and the magic's path
            code_only_change(notebook, "Live-kernel rebuild.")
            _, live_s, live_stages = timed_build(options, config, str(context), kernel=kernel)
        sizes = image_overhead(engine, warm.tag, base)
        sample = json.loads((context / "sample.json").read_text())
        starts = cold_start(engine, warm.tag, sample["request"], sample["expected"])
        single = {"instances": sample["request"]["instances"][:1]}
        load = throughput(context, single, args.duration, args.rounds)
    finally:
        remove_images(engine, "io.mlcontainer.benchmark")
        shutil.rmtree(work, ignore_errors=True)

    print(f"notebook: {Path(args.notebook).name}   base image: {base}")
    print(
        f"cold build (no cache, headless):                    {cold_s:6.1f} s   "
        + _stages(cold_stages)
    )
    print(
        f"code-only rebuild, headless (re-runs the notebook): {warm_s:6.1f} s   "
        + _stages(warm_stages)
    )
    print(
        f"code-only rebuild, live kernel (JupyterLab, magic): {live_s:6.1f} s   "
        + _stages(live_stages)
    )
    print(
        f"  docker build step: cold {cold_stages['build']:.1f} s, code-only {warm_stages['build']:.1f} s "
        f"(ratio {warm_stages['build'] / cold_stages['build']:.3f}); whole pipeline ratio headless "
        f"{warm_s / cold_s:.3f}, live kernel {live_s / cold_s:.3f}"
    )
    print(
        "image: {image_mb:.1f} MB = base {base_mb:.1f} + dependencies {dependencies_mb:.1f} "
        "+ overhead {overhead_mb:.2f} MB (serving stack {serving_stack_mb:.2f}, app and state "
        "{app_and_state_mb:.2f})".format(**sizes)
    )
    answers, predictions = zip(*starts, strict=False)
    print(
        "cold start (start → runtime answers → first correct prediction): "
        + ", ".join(f"{a:.2f} → {p:.2f}" for a, p in starts)
        + f" s (median {statistics.median(answers):.2f} → {statistics.median(predictions):.2f} s)"
    )
    print(f"{'server':>12} {'clients':>7} {'req/s (each round)':>24} {'p50 ms':>8} {'p99 ms':>8}")
    for name, by_concurrency in load.items():
        for concurrency, results in by_concurrency.items():
            rates = " / ".join(f"{r.requests_per_second:.0f}" for r in results)
            p50 = statistics.median(r.p50_ms for r in results)
            p99 = statistics.median(r.p99_ms for r in results)
            print(f"{name:>12} {concurrency:>7} {rates:>24} {p50:>8.2f} {p99:>8.2f}")
    for concurrency in (1, 16):
        ours = statistics.mean(r.requests_per_second for r in load["mlcontainer"][concurrency])
        theirs = statistics.mean(r.requests_per_second for r in load["fastapi"][concurrency])
        print(
            f"throughput ratio at {concurrency:>2} clients (mlcontainer / fastapi): {ours / theirs:.2f}"
        )
    return 0


def _stages(stages: dict) -> str:
    return " ".join(f"{stage} {seconds:.1f}" for stage, seconds in stages.items())


if __name__ == "__main__":
    raise SystemExit(main())
