"""Cold start: our image against a hand-written FastAPI process serving the same model.

    PYTHONPATH=. python benchmarks/cold_start.py [--rounds 5]

Builds the iris notebook's image with the project's own pipeline, then alternates, round by
round: our container (`docker start` → first correct prediction), the same image started as a
local instance is (`CHECK_AT=start`: it checks sample.json before it answers), and
`benchmarks/baseline_fastapi.py` serving the very object the build captured (process start →
first correct prediction), all from this machine's Python. Prints each run, the medians and
their ratios to FastAPI's; then the runtime's own timeline inside the image (interpreter,
server imports, model imports, unpickling, warm-up) and the five slowest imports from
`python -X importtime`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cleanup import remove_images  # noqa: E402
from notebook_image import IRIS, build_notebook_image  # noqa: E402
from peer_servers import HostServer, OurContainer  # noqa: E402

LABELS = {"io.mlcontainer.benchmark": "cold-start"}
#: Run inside the image: the runtime's start, step by step, as `serve` goes through it.
TIMELINE = """
import json, subprocess, sys, time
t = time.perf_counter(); subprocess.run([sys.executable, "-S", "-c", "pass"]); bare = time.perf_counter() - t
t = time.perf_counter()
import uvicorn
from mlcontainer_runtime.app import App
from mlcontainer_runtime.model import ModelService
from mlcontainer_runtime.paths import root
imports = time.perf_counter() - t
t = time.perf_counter(); import sklearn.linear_model; model_imports = time.perf_counter() - t
service = ModelService(root())
t = time.perf_counter(); service.load(); load = time.perf_counter() - t
print(json.dumps({"interpreter": bare, "server imports": imports,
                  "model's library imports": model_imports, "unpickling and warm-up": load}))
"""


def slowest_imports(engine, tag: str, count: int = 5) -> list[tuple[float, str]]:
    """The cumulative import times (s) of the model load's slowest top-level imports."""
    script = "import joblib, glob; joblib.load(glob.glob('/srv/artifacts/state/*.joblib')[0])"
    done = engine.client.containers.run(
        tag,
        ["-X", "importtime", "-c", script],
        entrypoint="python",
        labels=LABELS,
        remove=True,
        stdout=False,
        stderr=True,
    ).decode()
    rows = []
    for line in done.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            if not name.startswith("  "):  # a top-level import of the script
                rows.append((int(parts[1]) / 1e6, name.strip()))
    return sorted(rows, reverse=True)[:count]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    args = parser.parse_args(argv)

    from jupyter_mlcontainer.engine import open_engine

    engine = open_engine()
    work = Path(tempfile.mkdtemp(prefix="cold-start-"))
    try:
        image = build_notebook_image(IRIS, "cold-start", work, LABELS)
        model_file = work / "model.joblib"
        shutil.copy(image.context / "artifacts" / "state" / "model.joblib", model_file)
        rows = image.sample["request"]["instances"][:1]
        expected = image.sample["expected"]["predictions"][:1]
        fastapi = HostServer(
            "fastapi",
            [
                sys.executable,
                str(HERE / "baseline_fastapi.py"),
                "--model",
                str(model_file),
                "--port",
                "{port}",
            ],
        )
        servers = {
            "mlcontainer": OurContainer(engine.client, image.tag, LABELS),
            "mlcontainer CHECK_AT=start": OurContainer(
                engine.client, image.tag, LABELS, environment={"CHECK_AT": "start"}
            ),
            "fastapi": fastapi,
        }
        seconds: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(args.rounds):
            for name, server in servers.items():
                running = server.start(rows, expected)
                running.stop()
                seconds[name].append(running.cold_start_s)
        baseline = statistics.median(seconds["fastapi"])
        for name, runs in seconds.items():
            median = statistics.median(runs)
            listed = ", ".join(f"{s:.2f}" for s in runs)
            print(f"{name:>27}: {listed} s (median {median:.2f}, {median / baseline:.2f}× fastapi)")
        timeline = json.loads(
            engine.client.containers.run(
                image.tag, ["-c", TIMELINE], entrypoint="python", labels=LABELS, remove=True
            )
            .decode()
            .splitlines()[-1]
        )
        print("in the image: " + ", ".join(f"{k} {v:.3f} s" for k, v in timeline.items()))
        print(
            "slowest imports of the model's load: "
            + ", ".join(f"{name} {s:.3f} s" for s, name in slowest_imports(engine, image.tag))
        )
    finally:
        remove_images(engine, "io.mlcontainer.benchmark=cold-start")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
