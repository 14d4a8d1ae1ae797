"""Batch scoring rows/s: the image's `predict` against the notebook's own model on the host.

    python benchmarks/batch.py [--rows 1000000] [--rounds 2]

Builds the scikit-learn example, writes --rows iris rows as CSV, then alternately times
`jupyter mlcontainer predict IMAGE rows.csv -o out.csv` (a container: reading, converting and
predicting in chunks of 10,000, writing CSV) and, on the host, pandas.read_csv + the captured
model's own predict + writing CSV over the same file. Prints rows/s for each round and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

from cleanup import remove_images  # noqa: E402

from jupyter_mlcontainer.engine import open_engine  # noqa: E402
from jupyter_mlcontainer.engine.baseimage import base_image_tag  # noqa: E402
from jupyter_mlcontainer.pipeline.plan import ExportOptions  # noqa: E402
from jupyter_mlcontainer.shared.config import MLContainerConfig  # noqa: E402
from jupyter_mlcontainer.workflow.build import containerize  # noqa: E402

BENCH_LABELS = {"io.mlcontainer.benchmark": "batch"}


def notebook_predict(context: Path):
    """The notebook's own `predict` over its captured state, in this process (the generated
    module is the notebook's code)."""
    import importlib

    sys.path.insert(0, str(context / "app"))
    return importlib.import_module("notebook_code").predict


def host_predict(predict, rows: Path, out: Path) -> None:
    """What the notebook would do: read the CSV, predict, write CSV."""
    import pandas as pd

    frame = pd.read_csv(rows)
    pd.DataFrame({"prediction": predict(frame.to_numpy())}).to_csv(out, index=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    engine = open_engine()
    base = os.environ.get("MLCONTAINER_BASE_IMAGE") or base_image_tag()
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    notebook = HERE.parent / "examples" / "iris_classifier.ipynb"
    built = containerize(
        ExportOptions(notebook=str(notebook), name="bench-batch"),
        config=MLContainerConfig(base_image=base, labels=BENCH_LABELS),
        out_dir=str(work / "context"),
    )
    sample = built.sample["request"]["instances"]
    rows = work / "rows.csv"
    with open(rows, "w") as file:
        file.write("a,b,c,d\n")
        for index in range(args.rows):
            file.write(",".join(map(str, sample[index % len(sample)])) + "\n")
    timings: dict = {"image predict": [], "notebook model on the host": []}
    predict = notebook_predict(work / "context")
    try:
        for _ in range(args.rounds):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "jupyter_mlcontainer.cli", "predict", built.tag, str(rows)]
                + ["-o", str(work / "image.csv")],
                check=True,
                stderr=subprocess.DEVNULL,
            )
            timings["image predict"].append(time.perf_counter() - start)
            start = time.perf_counter()
            host_predict(predict, rows, work / "host.csv")
            timings["notebook model on the host"].append(time.perf_counter() - start)
        same = (work / "image.csv").read_text() == (work / "host.csv").read_text()
    finally:
        remove_images(engine, "io.mlcontainer.benchmark")
    print(f"{args.rows:,} iris rows, CSV in and out; identical predictions: {same}")
    rates = {}
    for label, seconds in timings.items():
        rates[label] = args.rows / statistics.mean(seconds)
        each = " ".join(f"{args.rows / s:10,.0f}" for s in seconds)
        print(f"{label:<28} rows/s {each}   mean {rates[label]:10,.0f}")
    ratio = rates["image predict"] / rates["notebook model on the host"]
    print(f"ratio image / host: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
