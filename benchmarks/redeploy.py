"""Redeploy from a live kernel: seconds from `inst.redeploy()` to the new model answering at
the same URL, and the requests a steady load loses meanwhile.

    python benchmarks/redeploy.py [--rounds 2] [--deployment [--replicas 2]] [--rate 200]

Runs examples/containerize_magic.ipynb in a real kernel up to its `%containerize` (iris, a
scikit-learn pipeline), then, each round, re-trains `clf` on shifted labels and a subset of the
rows drawn for this run (so that no round finds its model in the build cache) and times
`inst.redeploy()` while wrk loads the instance's URL with single-row predictions from 8
connections, as fast as it answers; with --rate, a bounded load of that many requests a second
(paced.py) instead. With --deployment the instance is first deployed as 2 replicas (--replicas)
behind a front (swarm mode turned on for the run if it is off, and off again after) and the
redeploy is a rolling update behind that front. Prints, per round, the seconds redeploy took
(re-capture, a build from cache, then the restart or the rollout, and the parity check), the
load's requests and failures, and whether the URL answers with the new model afterwards.
Everything made is removed, images included.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cleanup import remove_images  # noqa: E402
from loadgen import run_wrk  # noqa: E402
from paced import run_paced  # noqa: E402

from jupyter_mlcontainer.engine import open_engine  # noqa: E402
from jupyter_mlcontainer.engine.baseimage import base_image_tag  # noqa: E402

EXAMPLE = HERE.parent / "examples" / "containerize_magic.ipynb"
BENCH_LABELS = {"io.mlcontainer.benchmark": "redeploy"}
ROW = {
    "sepal length (cm)": 6.1,
    "sepal width (cm)": 2.8,
    "petal length (cm)": 4.7,
    "petal width (cm)": 1.2,
}


def run_cell(client, notebook, source: str) -> str:
    """Execute `source` as a new cell at the end of `notebook`; its printed text."""
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    notebook.cells.append(cell)
    client.execute_cell(cell, len(notebook.cells) - 1)
    return "".join(output.get("text", "") for output in cell.outputs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30, help="wrk's bound per round")
    parser.add_argument("--deployment", action="store_true", help="redeploy a deployment")
    parser.add_argument("--replicas", type=int, default=2, help="the deployment's (default 2)")
    parser.add_argument("--rate", type=float, help="a bounded load: requests a second")
    args = parser.parse_args(argv)

    import nbformat
    from jupyter_client import KernelManager
    from nbclient import NotebookClient

    engine = open_engine()
    swarm = engine.orchestrator()
    swarm_was_on = swarm.swarm_state() == "active"
    folder = Path(tempfile.mkdtemp(prefix="mlcontainer-redeploy-"))
    copy = folder / EXAMPLE.name
    shutil.copy(EXAMPLE, copy)
    os.environ["JPY_SESSION_NAME"] = str(copy)  # as jupyter_server tells a kernel
    os.environ["MLCONTAINER_LABELS"] = ",".join(f"{k}={v}" for k, v in BENCH_LABELS.items())
    os.environ.setdefault("MLCONTAINER_BASE_IMAGE", base_image_tag())
    notebook = nbformat.read(copy, as_version=4)
    *cells, _stop = notebook.cells
    notebook.cells = cells
    client = NotebookClient(notebook, km=KernelManager(kernel_name="python3"), timeout=600)
    body = json.dumps({"instances": [ROW]}).encode()
    try:
        with client.setup_kernel(cwd=str(folder)):
            for index, cell in enumerate(cells):
                client.execute_cell(cell, index)
            if args.deployment:
                if not swarm_was_on:
                    swarm.init_swarm()
                shown = f"deployed = inst.deploy(replicas={args.replicas})\nprint(deployed.url)"
            else:
                shown = "print(inst.url)"
            url = run_cell(client, notebook, shown).strip().splitlines()[-1]
            print(f"{'round':>5} {'redeploy s':>10} {'requests':>9} {'failed':>7}  after")
            skipped_rows = random.sample(range(1, 40), args.rounds)
            for round_, skip in enumerate(skipped_rows, start=1):
                load: dict = {}
                loader = threading.Thread(
                    target=lambda into=load: into.setdefault(
                        "result",
                        run_paced(url + "/predict", body, args.seconds, args.rate)
                        if args.rate
                        else run_wrk(url + "/predict", body, args.seconds, 8),
                    )
                )
                loader.start()
                time.sleep(2)
                printed = run_cell(
                    client,
                    notebook,
                    "import time\n"
                    f"clf.fit(X_train[{skip}:], (y_train[{skip}:] + {round_}) % 3)\n"
                    "started = time.perf_counter()\n"
                    "inst.redeploy()\n"
                    "print('SECONDS', time.perf_counter() - started)\n"
                    "print('NEW', inst.predict(X_test[:20]) == clf.predict(X_test[:20]).tolist())",
                )
                loader.join()
                seconds = float(re.search(r"SECONDS ([\d.]+)", printed).group(1))
                new = "new model" if "NEW True" in printed else "OLD MODEL"
                result = load["result"]
                print(
                    f"{round_:>5} {seconds:>10.2f} {result.requests:>9,} {result.errors:>7}  {new}"
                )
            if args.deployment:
                run_cell(client, notebook, "deployed.undeploy()")
    finally:
        for instance in engine.list_instances(all=True, labels=BENCH_LABELS):
            engine.stop(instance.id)
        from jupyter_mlcontainer.deploy.replicas import remove_parts

        if swarm.swarm_state() == "active":
            for service in swarm.services(BENCH_LABELS):
                remove_parts(swarm, service.name)
            if not swarm_was_on:
                swarm.leave_swarm()
        shutil.rmtree(folder, ignore_errors=True)
        remove_images(engine, "io.mlcontainer.benchmark=redeploy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
