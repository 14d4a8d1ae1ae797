"""Image sizes for the examples, lean (the default) against --keep-gpu-packages, built in one run.

    python benchmarks/image_sizes.py [--examples xgboost_churn lightgbm_booster ...]

For each example notebook: the image built by default (GPU-only packages the trial run never
loaded left out, CPU-only builds swapped in) and the image built with --keep-gpu-packages (every
distribution the kernel had), each split into base, system packages, Python packages and what
the notebook adds; then the ratio lean / kept. The images are removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from cleanup import remove_images  # noqa: E402

from jupyter_mlcontainer.engine import DockerEngine
from jupyter_mlcontainer.engine.baseimage import base_image_tag
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.workflow.build import containerize

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BENCH_LABELS = {"io.mlcontainer.benchmark": "image-sizes"}
DEFAULT_EXAMPLES = ("xgboost_churn", "lightgbm_booster", "torch_numpy", "pandas_output_pipeline")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", nargs="+", default=list(DEFAULT_EXAMPLES))
    args = parser.parse_args(argv)

    engine = DockerEngine()
    base = os.environ.get("MLCONTAINER_BASE_IMAGE") or base_image_tag()
    config = MLContainerConfig(base_image=base, labels=BENCH_LABELS)
    work = Path(tempfile.mkdtemp(prefix="bench-sizes-"))
    rows = []
    try:
        for name in args.examples:
            options = ExportOptions(notebook=str(EXAMPLES / f"{name}.ipynb"), name=f"bench-{name}")
            for variant, keep in (("lean", False), ("kept", True)):
                result = containerize(
                    replace(options, keep_gpu_packages=keep),
                    config=config,
                    out_dir=str(work / f"{name}-{variant}"),
                )
                rows.append((name, variant, result.size, result.sizes))
    finally:
        remove_images(engine, "io.mlcontainer.benchmark")
        shutil.rmtree(work, ignore_errors=True)

    print(f"base image: {base} ({engine.image_size(base) / 1e6:.1f} MB)")
    header = ("example", "variant", "image MB", "base", "system", "python", "notebook")
    print("{:<24} {:<8} {:>9} {:>7} {:>7} {:>8} {:>9}".format(*header))
    for name, variant, size, sizes in rows:
        print(
            f"{name:<24} {variant:<8} {size / 1e6:>9.1f} {sizes['base'] / 1e6:>7.1f} "
            f"{sizes['system_packages'] / 1e6:>7.1f} {sizes['python_packages'] / 1e6:>8.1f} "
            f"{sizes['app'] / 1e6:>9.2f}"
        )
    sizes_by = {(name, variant): size for name, variant, size, _ in rows}
    for name in args.examples:
        ratio = sizes_by[name, "lean"] / sizes_by[name, "kept"]
        print(f"{name}: lean / kept = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
