"""Deployment figures for the scikit-learn example: the front's cost, replicas, and rollouts.

    python benchmarks/deploy.py [--notebook examples/iris_classifier.ipynb] [--duration 10]

Prints requests/s and p50/p99 for single-row predictions at 16 clients (wrk, 127.0.0.1) against
one bare instance, and through the HAProxy front of a deployment at 1 and 3 replicas, measured
alternately, two rounds; then the seconds a rollout takes (new image asked → every replica
replaced) at 1 and 3 replicas, each under a wrk load, with that load's failed requests. Swarm
mode is turned on for the run if it is off, and off again after; everything made is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build_and_serve import code_only_change  # noqa: E402
from cleanup import remove_images  # noqa: E402
from loadgen import run_wrk  # noqa: E402

from jupyter_mlcontainer.deploy import replicas  # noqa: E402
from jupyter_mlcontainer.deploy.plan import DeployOptions  # noqa: E402
from jupyter_mlcontainer.engine import open_engine  # noqa: E402
from jupyter_mlcontainer.engine.baseimage import base_image_tag  # noqa: E402
from jupyter_mlcontainer.pipeline.plan import ExportOptions  # noqa: E402
from jupyter_mlcontainer.running.readiness import wait_ready  # noqa: E402
from jupyter_mlcontainer.shared.config import MLContainerConfig  # noqa: E402
from jupyter_mlcontainer.workflow.build import containerize  # noqa: E402

BENCH_LABELS = {"io.mlcontainer.benchmark": "deploy"}
NAME = "bench-deploy"


def timed_rollout(engine, image: str, body: bytes, seconds: float) -> tuple[float, object]:
    """Roll out to `image` while wrk loads the front at 8 clients; (seconds, wrk's result)."""
    url = replicas.get_deployment(engine, NAME).url + "/predict"
    load: dict = {}
    loader = threading.Thread(
        target=lambda: load.setdefault("result", run_wrk(url, body, seconds, 8))
    )
    loader.start()
    time.sleep(2)
    start = time.perf_counter()
    replicas.rollout(engine, NAME, image)
    took = time.perf_counter() - start
    loader.join()
    return took, load["result"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--notebook", default=str(HERE.parent / "examples" / "iris_classifier.ipynb")
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    args = parser.parse_args(argv)

    engine = open_engine()
    swarm = engine.orchestrator()
    turned_on = swarm.swarm_state() != "active"
    base = os.environ.get("MLCONTAINER_BASE_IMAGE") or base_image_tag()
    config = MLContainerConfig(base_image=base, labels=BENCH_LABELS)
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    notebook = work / "bench.ipynb"
    shutil.copy(args.notebook, notebook)
    options = ExportOptions(notebook=str(notebook), name=NAME)
    bare = None
    figures: dict = {"bare": [], "front, 1 replica": [], "front, 3 replicas": []}
    try:
        first = containerize(options, config=config, out_dir=str(work / "context"))
        code_only_change(notebook, "The same model in a new image, to roll out to.")
        second = containerize(options, config=config, out_dir=str(work / "context"))
        body = json.dumps({"instances": first.sample["request"]["instances"][:1]}).encode()
        bare = wait_ready(engine, engine.run(first.tag, labels=BENCH_LABELS))
        deployment = replicas.deploy(
            engine, DeployOptions(first.tag, replicas=1, name=NAME, init_swarm=True), config
        )
        for _ in range(2):
            for label, url, count in (
                ("bare", bare.url, None),
                ("front, 1 replica", deployment.url, 1),
                ("front, 3 replicas", deployment.url, 3),
            ):
                if count:
                    replicas.scale(engine, NAME, count)  # returns once the front reaches them
                figures[label].append(run_wrk(url + "/predict", body, args.duration, 16))
        rollouts = [("3 replicas", second.tag), ("1 replica", first.tag)]
        rolled = []
        for label, image in rollouts:
            replicas.scale(engine, NAME, 3 if label.startswith("3") else 1)
            rolled.append((label, *timed_rollout(engine, image, body, 30)))
    finally:
        if bare is not None:
            engine.stop(bare.id)
        try:
            replicas.undeploy(engine, NAME)
        except Exception as error:  # noqa: BLE001 (report, and go on cleaning)
            print(f"undeploy: {error}", file=sys.stderr)
        if turned_on and swarm.swarm_state() == "active":
            swarm.leave_swarm()
        remove_images(engine, "io.mlcontainer.benchmark")
        shutil.rmtree(work, ignore_errors=True)

    print(f"notebook: {Path(args.notebook).name}   {os.cpu_count()} cores   wrk 16 clients")
    bare_rps = statistics.mean(r.requests_per_second for r in figures["bare"])
    for label, runs in figures.items():
        rps = [r.requests_per_second for r in runs]
        p99 = [r.p99_ms for r in runs]
        errors = sum(r.errors for r in runs)
        print(
            f"{label:<18} req/s {' '.join(f'{x:8.0f}' for x in rps)}   p99 ms "
            f"{' '.join(f'{x:6.1f}' for x in p99)}   errors {errors}   "
            f"ratio to bare {statistics.mean(rps) / bare_rps:.2f}"
        )
    for label, seconds, load in rolled:
        print(
            f"rollout, {label:<11} {seconds:6.1f} s   under 8 clients: {load.requests} requests, "
            f"{load.errors} failed"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
