"""A bounded steady load on one instance: errors, latency over time, and whether memory grows.

    python benchmarks/soak.py [--image mlcontainer/iris_classifier:latest] [--minutes 10]
                              [--clients 8] [--slice 30]

Without --image, the scikit-learn example is built first. wrk loads single-row predictions from
--clients connections in back-to-back slices of --slice seconds; after each slice the
container's memory is read as `docker stats` counts it. Prints one row per slice (req/s, p50,
p99, errors, memory), then the totals and the memory slope (least squares over the slices, in
MB per 10 minutes) with the first slice left out as warm-up. Targets: 0 errors, a slope within
noise (a few MB). The instance is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loadgen import run_wrk  # noqa: E402

from jupyter_mlcontainer.engine import open_engine  # noqa: E402
from jupyter_mlcontainer.engine.baseimage import base_image_tag  # noqa: E402
from jupyter_mlcontainer.pipeline.plan import ExportOptions  # noqa: E402
from jupyter_mlcontainer.running.readiness import wait_ready  # noqa: E402
from jupyter_mlcontainer.shared.config import MLContainerConfig  # noqa: E402
from jupyter_mlcontainer.workflow.build import containerize  # noqa: E402

BENCH_LABELS = {"io.mlcontainer.benchmark": "soak"}


def slope_per_10_minutes(minutes: list[float], megabytes: list[float]) -> float:
    """Least-squares slope of memory over time, in MB per 10 minutes."""
    mean_t, mean_m = statistics.mean(minutes), statistics.mean(megabytes)
    spread = sum((t - mean_t) ** 2 for t in minutes)
    if not spread:
        return 0.0
    return (
        10
        * sum((t - mean_t) * (m - mean_m) for t, m in zip(minutes, megabytes, strict=False))
        / spread
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="an image to soak (default: build the iris example)")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--slice", type=float, default=30, help="seconds per wrk run")
    args = parser.parse_args(argv)

    engine = open_engine()
    image, sample = args.image, None
    if image is None:
        base = os.environ.get("MLCONTAINER_BASE_IMAGE") or base_image_tag()
        notebook = HERE.parent / "examples" / "iris_classifier.ipynb"
        with tempfile.TemporaryDirectory(prefix="bench-soak-") as folder:
            built = containerize(
                ExportOptions(notebook=str(notebook), name="bench-soak"),
                config=MLContainerConfig(base_image=base, labels=BENCH_LABELS),
                out_dir=folder,
            )
        image, sample = built.tag, built.sample["request"]
    instance = wait_ready(engine, engine.run(image, labels=BENCH_LABELS))
    try:
        if sample is None:
            sample = json.loads(engine.run_command(image, ["cat", "/srv/sample.json"]))["request"]
        key = "instances" if "instances" in sample else next(iter(sample))
        body = json.dumps({key: sample[key][:1]}).encode()
        slices = max(1, round(args.minutes * 60 / args.slice))
        rows = []
        print(f"{'minute':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'MB':>7}")
        for index in range(slices):
            result = run_wrk(instance.url + "/predict", body, args.slice, args.clients)
            megabytes = engine.memory_usage(instance.id) / 1e6
            minute = (index + 1) * args.slice / 60
            rows.append((minute, result, megabytes))
            print(
                f"{minute:6.1f} {result.requests_per_second:8.0f} {result.p50_ms:7.2f} "
                f"{result.p99_ms:7.2f} {result.errors:6d} {megabytes:7.1f}",
                flush=True,
            )
    finally:
        engine.stop(instance.id)
    requests = sum(r.requests for _, r, _ in rows)
    errors = sum(r.errors for _, r, _ in rows)
    steady = rows[1:] or rows
    slope = slope_per_10_minutes([t for t, _, _ in steady], [m for _, _, m in steady])
    print(
        f"\n{args.minutes:g} min at {args.clients} clients: {requests} requests, {errors} errors; "
        f"p99 {min(r.p99_ms for _, r, _ in rows):.2f}–{max(r.p99_ms for _, r, _ in rows):.2f} ms; "
        f"memory {steady[0][2]:.1f} → {steady[-1][2]:.1f} MB, slope {slope:+.2f} MB per 10 min"
    )
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
