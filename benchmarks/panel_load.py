"""The test panel's load test against wrk on the same running iris image.

    python benchmarks/panel_load.py [--rounds 2] [--duration 3]

Both send the iris sample's first row at 4 clients to one container on 127.0.0.1,
alternating, `--rounds` times each; prints req/s and p50/p99 per run and the panel's
throughput as a share of wrk's.
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

from loadgen import run_wrk  # noqa: E402
from notebook_image import IRIS, build_notebook_image  # noqa: E402
from peer_servers import OurContainer  # noqa: E402

from jupyter_mlcontainer.engine import DockerEngine  # noqa: E402
from jupyter_mlcontainer.notebook.widget.loadtest import MAX_REQUESTS, run_load_test  # noqa: E402

LABELS = {"io.mlcontainer.benchmark": "panel-load"}
CLIENTS = 4


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=3, help="seconds per wrk run")
    args = parser.parse_args(argv)
    engine = DockerEngine()
    work = Path(tempfile.mkdtemp(prefix="bench-panel-"))
    try:
        image = build_notebook_image(IRIS, "panel-load-iris", work, LABELS)
        rows = image.sample["request"]["instances"][:1]
        expected = image.sample["expected"]["predictions"][:1]
        payload = {"instances": rows}
        server = OurContainer(engine.client, image.tag, LABELS).start(rows, expected)
        try:
            figures = {"wrk": [], "panel": []}
            for _ in range(args.rounds):
                wrk = run_wrk(server.url, json.dumps(payload), args.duration, CLIENTS)
                figures["wrk"].append((wrk.requests_per_second, wrk.p50_ms, wrk.p99_ms))
                panel = run_load_test(
                    server.url.removesuffix("/predict"), payload, MAX_REQUESTS, CLIENTS
                )
                if panel.errors:
                    raise RuntimeError(panel.summary())
                figures["panel"].append((panel.requests_per_second, panel.p50, panel.p99))
        finally:
            server.stop()
    finally:
        for found in engine.client.images.list(
            filters={"label": "io.mlcontainer.benchmark=panel-load"}
        ):
            engine.client.images.remove(found.id, force=True)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{'client':>6} {'req/s (each round)':>20} {'p50 ms':>7} {'p99 ms':>7}  ({CLIENTS} clients)"
    )
    for name, runs in figures.items():
        rates = " / ".join(f"{rate:.0f}" for rate, _, _ in runs)
        p50 = statistics.median(p for _, p, _ in runs)
        p99 = statistics.median(p for _, _, p in runs)
        print(f"{name:>6} {rates:>20} {p50:>7.2f} {p99:>7.2f}")
    share = statistics.mean(r for r, _, _ in figures["panel"]) / statistics.mean(
        r for r, _, _ in figures["wrk"]
    )
    print(f"panel / wrk throughput: {share:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
