"""Push figures for the scikit-learn example, to Debian's reference registry on 127.0.0.1.

    python benchmarks/push.py [--notebook examples/iris_classifier.ipynb]

Prints, for a registry that starts empty: the seconds and bytes of the first push, of pushing the
same image again (nothing to send), and of pushing after a code-only change (only the changed
layers are sent); the ratio of the last to the first. Needs `docker-registry`
(`apt-get install docker-registry`); the registry, its storage and the images are removed after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from build_and_serve import code_only_change  # noqa: E402
from cleanup import remove_images  # noqa: E402

from jupyter_mlcontainer.deploy.plan import PushOptions  # noqa: E402
from jupyter_mlcontainer.deploy.push import push_image  # noqa: E402
from jupyter_mlcontainer.engine import open_engine  # noqa: E402
from jupyter_mlcontainer.engine.baseimage import base_image_tag  # noqa: E402
from jupyter_mlcontainer.pipeline.plan import ExportOptions  # noqa: E402
from jupyter_mlcontainer.shared.config import MLContainerConfig  # noqa: E402
from jupyter_mlcontainer.workflow.build import containerize  # noqa: E402

from ports import free_port, wait_until_answers  # noqa: E402

BENCH_LABELS = {"io.mlcontainer.benchmark": "push"}


def timed_push(engine, source: str, target: str):
    start = time.perf_counter()
    result = push_image(engine, PushOptions(source, target))
    return result, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--notebook", default=str(HERE.parent / "examples" / "iris_classifier.ipynb")
    )
    args = parser.parse_args(argv)

    engine = open_engine()
    base = os.environ.get("MLCONTAINER_BASE_IMAGE") or base_image_tag()
    config = MLContainerConfig(base_image=base, labels=BENCH_LABELS)
    work = Path(tempfile.mkdtemp(prefix="bench-push-"))
    address = f"127.0.0.1:{free_port()}"
    (work / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {work / 'data'}\n"
        f"http:\n  addr: {address}\n"
    )
    log = work / "registry.log"
    with open(log, "w") as out:
        registry = subprocess.Popen(
            [
                shutil.which("docker-registry") or "docker-registry",
                "serve",
                str(work / "config.yml"),
            ],
            stdout=out,
            stderr=out,
        )
    notebook = work / "bench.ipynb"
    shutil.copy(args.notebook, notebook)
    options = ExportOptions(notebook=str(notebook), name="bench-push")
    try:
        wait_until_answers(f"http://{address}/v2/", registry, log, 20)
        first = containerize(options, config=config, out_dir=str(work / "context"))
        cold, cold_s = timed_push(engine, first.tag, f"{address}/bench/iris")
        again, again_s = timed_push(engine, first.tag, f"{address}/bench/iris:again")
        code_only_change(notebook, "Pushed again after a code-only change.")
        second = containerize(options, config=config, out_dir=str(work / "context"))
        changed, changed_s = timed_push(engine, second.tag, f"{address}/bench/iris")
    finally:
        registry.terminate()
        registry.wait(timeout=10)
        remove_images(engine, "io.mlcontainer.benchmark")
        shutil.rmtree(work, ignore_errors=True)

    print(f"notebook: {Path(args.notebook).name}   image: {first.size / 1e6:.1f} MB")
    for what, result, seconds in (
        ("first push (empty registry)", cold, cold_s),
        ("same image again", again, again_s),
        ("after a code-only change", changed, changed_s),
    ):
        print(
            f"{what:<28} {seconds:6.2f} s  {result.layers_sent} of {result.layers} layers sent, "
            f"{result.bytes_sent / 1e6:8.2f} MB"
        )
    print(f"bytes ratio, code-only change / first push: {changed.bytes_sent / cold.bytes_sent:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
