"""Build and cold start per engine: Docker's daemon, rootful Podman, rootless Podman.

    PYTHONPATH=. python benchmarks/engines.py [--rounds 2] [--starts 2] [--engines docker,podman,rootless]

For each engine, the scikit-learn example (examples/iris_classifier.ipynb, serving its
`predict` function, as `jupyter mlcontainer build` does by default) is built through the
project's own pipeline, with DOCKER_HOST naming that engine's socket:

1. a full build with the build cache off for it (`--no-cache`: every step of the generated
   Dockerfile runs again; only the base image is reused), under a name unique to the round;
2. a rebuild after a code-only change (a docstring added to `predict`), with the cache on;
3. cold starts: from `engine.run(image)` (what `--run` and `jupyter mlcontainer run` call: the
   port holder, then the instance) to the first 200 on /ready (the model is loaded).

The engines alternate, round by round (the order reversed every other round), since the machine
may be shared. Rootful Podman is started here as `podman system service` on a socket in a
temporary folder; rootless Podman as the user `mlc-bench` (created once and left in place, as the
tests' `rootless_user` in tests/conftest.py does, which this reuses), each with the base image
copied in from Docker when it lacks it. Prints every run, then a table of medians and ratios to
Docker, the storage driver of each engine and the load average. Removes what it built and ran
(label `io.mlcontainer.benchmark=engines`) and stops the services it started.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
sys.path.insert(0, str(HERE))

from build_and_serve import code_only_change  # noqa: E402

from jupyter_mlcontainer.engine.baseimage import base_image_tag  # noqa: E402
from jupyter_mlcontainer.pipeline.plan import ExportOptions  # noqa: E402
from jupyter_mlcontainer.shared.config import MLContainerConfig  # noqa: E402
from jupyter_mlcontainer.workflow.build import containerize  # noqa: E402

LABEL = "io.mlcontainer.benchmark"
LABELS = {LABEL: "engines"}
NOTEBOOK = REPOSITORY / "examples" / "iris_classifier.ipynb"
ROOTLESS_USER = "mlc-bench"
ENGINES = ("docker", "podman", "rootless")
#: A build step's first line: Docker's classic builder says "Step 3/20 : ", Buildah (Podman)
#: "[2/2] STEP 3/22: " (the stage first), which the pipeline's own parser does not read.
STEP_LINE = re.compile(r"^(?:\[\d+/\d+\] )?(?:Step|STEP) (\d+)/(\d+) ?: (.*)")
TITLES = {
    "docker": "Docker (daemon)",
    "podman": "Podman, rootful",
    "rootless": "Podman, rootless",
}


@dataclass
class Figures:
    full: list[float] = field(default_factory=list)  # whole pipeline, no cache
    full_build: list[float] = field(default_factory=list)  # its engine build step
    code: list[float] = field(default_factory=list)  # whole pipeline after a code-only change
    code_build: list[float] = field(default_factory=list)
    start: list[float] = field(default_factory=list)  # engine.run → first 200 on /ready
    driver: str = ""
    version: str = ""
    notes: list[str] = field(default_factory=list)  # what each code-only rebuild's steps did


@dataclass
class Build:
    tag: str
    seconds: float  # the whole pipeline: notebook run, trial, render, engine build
    stages: dict  # seconds per pipeline stage
    steps: list  # (title, seconds, cached) per Dockerfile step, from the build's output
    step_events: int  # `step` events the pipeline itself recognised in that output


def timed_build(options, config, out_dir: str, no_cache: bool = False) -> Build:
    """Run the pipeline; time its stages and, from the build's output, each Dockerfile step."""
    marks, steps, recognised = [], [], []

    def on_event(event):
        now = time.perf_counter()
        if event.kind == "stage":
            marks.append((event.stage, now))
        if event.stage != "build":
            return
        title = event.message if event.kind == "step" else None
        recognised.extend([1] if event.kind == "step" else [])
        line = STEP_LINE.match(event.message.strip()) if event.kind == "log" else None
        if line:
            title = line[3]
        if title is not None:
            steps.append([title, now, False])
        elif steps and (event.kind == "cache" or "Using cache" in event.message):
            steps[-1][2] = True

    start = time.perf_counter()
    result = containerize(
        replace(options, no_cache=no_cache), config=config, on_event=on_event, out_dir=out_dir
    )
    end = time.perf_counter()
    stages = {
        stage: (marks[i + 1][1] if i + 1 < len(marks) else end) - at
        for i, (stage, at) in enumerate(marks)
    }
    build_end = next(
        (marks[i + 1][1] for i, (stage, _) in enumerate(marks[:-1]) if stage == "build"), end
    )
    timed = [
        (title, (steps[i + 1][1] if i + 1 < len(steps) else build_end) - at, cached)
        for i, (title, at, cached) in enumerate(steps)
    ]
    return Build(result.tag, end - start, stages, timed, len(recognised))


def step_note(build: Build) -> str:
    """How many steps the engine took from its cache, and the slowest it ran."""
    ran = sorted((s for s in build.steps if not s[2]), key=lambda s: -s[1])
    slowest = ", ".join(f"{title[:40]!r} {seconds:.1f} s" for title, seconds, _ in ran[:3])
    return (
        f"{len(build.steps) - len(ran)}/{len(build.steps)} steps cached "
        f"(the pipeline recognised {build.step_events} step lines); slowest run: {slowest}"
    )


def load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def open_engine(host: str):
    import docker

    from jupyter_mlcontainer.engine import DockerEngine

    return DockerEngine(docker.DockerClient(base_url=host, timeout=600))


def answering(host: str, seconds: float):
    deadline = time.monotonic() + seconds
    while True:
        try:
            return open_engine(host)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def copy_base_image(base: str, load_command: list[str]) -> None:
    """`docker save base | load_command`: the base image copied from Docker's store."""
    saved = subprocess.Popen(["docker", "save", base], stdout=subprocess.PIPE)
    subprocess.run(load_command, stdin=saved.stdout, check=True, capture_output=True)
    saved.wait(timeout=300)


@contextlib.contextmanager
def rootful_podman(base: str):
    """`podman system service` on a socket in a temporary folder; yields its DOCKER_HOST."""
    folder = Path(tempfile.mkdtemp(prefix="bench-podman-"))
    host = f"unix://{folder}/podman.sock"
    with open(folder / "service.log", "w") as log:
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", host], stdout=log, stderr=log
        )
    try:
        engine = answering(host, 30)
        if not engine.image_exists(base):
            copy_base_image(base, ["podman", "load", "-q"])
        yield host
    finally:
        service.terminate()
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def rootless_podman(base: str):
    """ROOTLESS_USER's own Podman socket, through the tests' `rootless_user`; yields its
    DOCKER_HOST. Raises RuntimeError saying why when this machine cannot have it."""
    sys.path.insert(0, str(REPOSITORY / "tests"))
    try:
        import pytest
        from conftest import rootless_user
    except ImportError as error:
        raise RuntimeError(f"tests/conftest.py cannot be imported: {error}") from error
    try:
        # The registry is only written into the user's registries.conf: none is used here.
        with rootless_user(ROOTLESS_USER, "127.0.0.1:5000", base) as user:
            yield user.docker_host
    except pytest.skip.Exception as skipped:
        raise RuntimeError(str(skipped)) from skipped


def remove_ours(host: str) -> None:
    """Remove the containers and images this benchmark made on the engine at `host`."""
    engine = open_engine(host)
    selector = {"label": f"{LABEL}=engines"}
    for container in engine.client.containers.list(all=True, filters=selector):
        container.remove(force=True)
    images = engine.client.images.list(filters=selector)
    for image in sorted(images, key=lambda image: image.attrs["Created"], reverse=True):
        with contextlib.suppress(Exception):
            engine.client.images.remove(image.id, force=True)
    with contextlib.suppress(Exception):
        engine.client.images.prune(filters={"dangling": True, **selector})


def ready_seconds(engine, tag: str) -> float:
    """Seconds from `engine.run(tag)` to the first 200 on the instance's /ready."""
    started = time.perf_counter()
    instance = engine.run(tag, labels=LABELS, name=f"bench-engines-{secrets.token_hex(3)}")
    try:
        url = instance.url.rstrip("/") + "/ready"
        while time.perf_counter() - started < 120:
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{tag} was not ready at {url} within 120 s")
    finally:
        engine.stop(instance.id)


def measure(host: str, figures: Figures, round_: int, base: str, starts: int, work: Path) -> None:
    """One round on the engine at `host`: a full build, a code-only rebuild, cold starts."""
    os.environ["DOCKER_HOST"] = host  # what the pipeline's open_engine() connects to
    engine = open_engine(host)
    figures.driver, figures.version = engine.storage_driver, f"{engine.flavour} {engine.version}"
    folder = work / f"{secrets.token_hex(4)}"
    folder.mkdir()
    notebook = folder / "iris.ipynb"
    shutil.copy(NOTEBOOK, notebook)
    name = f"bench-engines-{round_}-{secrets.token_hex(3)}"  # nothing built before has it
    options = ExportOptions(notebook=str(notebook), name=name)
    config = MLContainerConfig(base_image=base, labels=LABELS)
    context = str(folder / "context")
    full = timed_build(options, config, context, no_cache=True)
    figures.full.append(full.seconds)
    figures.full_build.append(full.stages["build"])
    code_only_change(notebook, f"Code-only change, round {round_}.")
    built = timed_build(options, config, context)
    figures.code.append(built.seconds)
    figures.code_build.append(built.stages["build"])
    figures.notes.append(step_note(built))
    for _ in range(starts):
        figures.start.append(ready_seconds(engine, built.tag))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument("--starts", type=int, default=2, help="cold starts per round (default 2)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="of docker,podman,rootless")
    args = parser.parse_args(argv)
    wanted = [name for name in args.engines.split(",") if name]

    base = os.environ.get("MLCONTAINER_BASE_IMAGE") or base_image_tag()
    saved_host = os.environ.get("DOCKER_HOST")
    print(f"start: {load()}; base image {base}; notebook {NOTEBOOK.name}", flush=True)
    hosts: dict[str, str] = {}
    skipped: dict[str, str] = {}
    work = Path(tempfile.mkdtemp(prefix="bench-engines-"))
    with contextlib.ExitStack() as stack:
        try:
            for name in wanted:
                setup_started = time.perf_counter()
                try:
                    if name == "docker":
                        hosts[name] = "unix:///var/run/docker.sock"
                        open_engine(hosts[name])
                    elif name == "podman":
                        hosts[name] = stack.enter_context(rootful_podman(base))
                    elif name == "rootless":
                        hosts[name] = stack.enter_context(rootless_podman(base))
                    else:
                        parser.error(f"unknown engine {name!r}")
                except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
                    hosts.pop(name, None)
                    skipped[name] = str(error)
                    print(f"{name}: not measured: {error}", flush=True)
                    continue
                stack.callback(remove_ours, hosts[name])
                print(
                    f"{name}: {hosts[name]} ready in {time.perf_counter() - setup_started:.1f} s",
                    flush=True,
                )
            figures = {name: Figures() for name in hosts}
            for round_ in range(args.rounds):
                order = list(hosts) if round_ % 2 == 0 else list(reversed(hosts))
                for name in order:
                    before = load()
                    measure(hosts[name], figures[name], round_, base, args.starts, work)
                    f = figures[name]
                    print(
                        f"round {round_ + 1} {name:>8}: full build {f.full[-1]:.1f} s "
                        f"(build step {f.full_build[-1]:.1f}), code-only rebuild "
                        f"{f.code[-1]:.1f} s (build step {f.code_build[-1]:.1f}), cold starts "
                        + ", ".join(f"{s:.2f}" for s in f.start[-args.starts :])
                        + f" s [{before} → {load()}]",
                        flush=True,
                    )
                    print(f"  code-only rebuild: {f.notes[-1]}", flush=True)
        finally:
            if saved_host is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = saved_host
            shutil.rmtree(work, ignore_errors=True)
    print(f"end: {load()}")
    report(figures, skipped)
    return 0


def report(figures: dict[str, Figures], skipped: dict[str, str]) -> None:
    rows = (
        ("full build, no cache (s)", "full"),
        ("  of which the engine's build step", "full_build"),
        ("code-only rebuild (s)", "code"),
        ("  of which the engine's build step", "code_build"),
        ("cold start to /ready 200 (s)", "start"),
    )
    names = list(figures)
    print()
    print("| median (ratio to Docker) | " + " | ".join(TITLES[n] for n in names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for title, attribute in rows:
        cells = []
        docker = figures.get("docker")
        for name in names:
            median = statistics.median(getattr(figures[name], attribute))
            ratio = ""
            if docker is not None:
                ratio = f" ({median / statistics.median(getattr(docker, attribute)):.2f})"
            cells.append(f"{median:.2f}{ratio}")
        print(f"| {title} | " + " | ".join(cells) + " |")
    print(
        "| engine, storage driver | "
        + " | ".join(f"{figures[n].version}, {figures[n].driver}" for n in names)
        + " |"
    )
    for name, reason in skipped.items():
        print(f"{TITLES.get(name, name)}: not measured ({reason})")


if __name__ == "__main__":
    sys.exit(main())
