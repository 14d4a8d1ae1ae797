"""The one pipeline every front door calls: notebook → build context → image → instance.

JupyterLab (server extension), the `%containerize` magic, the CLI and the nbconvert exporter
all call `containerize` with an `ExportOptions` and render its `ProgressEvent`s their own way.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from .config import MLContainerConfig, cache_dir, load_config
from .engine.base import (
    ENTRY_LABEL,
    NAME_LABEL,
    NOTEBOOK_LABEL,
    NOTEBOOK_SHA256_LABEL,
    Instance,
    docker_name,
    image_tags,
)
from .errors import CaptureError, EngineUnavailable, JobCancelled, NameTaken
from .events import EventSink, ProgressEvent, ignore_events
from .locks import exclusive_folder
from .pipeline.analyse import analyse_notebook, local_module_files, third_party_imports_of_files
from .pipeline.environment import requirement_lines
from .pipeline.kernels import executed_notebook
from .pipeline.lean import lean_for_cpu
from .pipeline.native import missing_libraries, system_packages
from .pipeline.plan import Environment, ExportOptions, ServingPlan
from .pipeline.render import prepare_destination, render_context, render_serving_files
from .pipeline.trial import TrialResult, trial_run
from .pipeline.templates import entry_label, image_name
from .pipeline.wheels import download_wheels

#: How many times capture may widen the slice to define notebook classes a pickle refers to.
_MAX_CAPTURE_ROUNDS = 3


@dataclass
class BuildResult:
    context: str  # the build context directory
    name: str = ""  # image name without registry or tag
    image: str = ""  # image id (empty with context_only)
    tag: str = ""  # mlcontainer/<name>:<content hash>
    size: int = 0  # image size in bytes
    instance: Optional[Instance] = None  # with options.run
    sizes: Optional[dict] = None  # bytes: base, system_packages, python_packages, app
    parity: Optional[dict] = None  # ParityReport.to_dict() when an instance answered the sample
    sample: Optional[dict] = None  # {"request": ..., "expected": ...}
    warnings: tuple = ()

    def to_dict(self) -> dict:
        return asdict(self)


class _Job:
    """Emits events and honours cancellation between steps."""

    def __init__(self, on_event: EventSink, cancel: Optional[threading.Event]):
        self.on_event = on_event
        self.cancel = cancel or threading.Event()
        self.warnings: list[str] = []

    def check(self) -> None:
        if self.cancel.is_set():
            raise JobCancelled("The build was cancelled.")

    def stage(self, stage: str, message: str) -> None:
        self.check()
        self.on_event(ProgressEvent("stage", message, stage))

    def waiting_for(self, what: str) -> Callable[[], None]:
        """A callback for `exclusive_folder`: honours cancellation, says once what it waits for."""
        told = []

        def waiting() -> None:
            self.check()
            if not told:
                told.append(True)
                self.on_event(ProgressEvent("log", f"Waiting for another build to finish {what}"))

        return waiting

    def warn(self, message: str, stage: str = "") -> None:
        self.warnings.append(message)
        self.on_event(ProgressEvent("warning", message, stage))


def containerize(
    options: ExportOptions,
    kernel=None,
    config: Optional[MLContainerConfig] = None,
    on_event: EventSink = ignore_events,
    cancel: Optional[threading.Event] = None,
    context_only: bool = False,
    out_dir: Optional[str] = None,
    no_cache: bool = False,
) -> BuildResult:
    """Run the whole pipeline.

    `kernel` is a `pipeline.kernels.KernelSession` holding the notebook's live state (magic,
    JupyterLab); None executes the notebook headless first. `cancel` is checked between
    stages and build steps; when set the job stops with `JobCancelled`, leaving no container
    (an image it finished building stays).
    """
    config = config or load_config()
    job = _Job(on_event, cancel)
    notebook = Path(options.notebook)
    job.stage("analyse", f"Analysing {notebook.name}")
    plan = analyse_notebook(options)
    for warning in plan.warnings:
        job.warn(warning, "analyse")
    # Also the instance's and the context folder's name, so a free-form name is folded too.
    name = docker_name(options.name) if options.name else image_name(options.notebook)
    destination = Path(out_dir) if out_dir else default_context_folder(notebook, name)
    with exclusive_folder(destination, job.waiting_for(f"with {destination}")):
        state_dir = prepare_destination(destination)

        job.stage(
            "capture",
            "Capturing the model from the live kernel"
            if kernel
            else f"Running {notebook.name} headless",
        )
        with nullcontext(kernel) if kernel else executed_notebook(notebook) as session:
            plan, capture = _capture(session, plan, options, state_dir)

        job.stage("environment", f"Trial run of the served code with {capture['executable']}")
        folder = notebook.resolve().parent
        local_files = local_module_files(folder, plan.local_modules)
        render_serving_files(plan, capture, destination, local_files)
        trial = trial_run(
            capture["executable"],
            destination,
            capture["modules"],
            requirement_lines(folder),
            plan.local_modules,
        )
        on_event(ProgressEvent("log", f"trial run PASS, imports {', '.join(trial.modules)}"))
        for warning in trial.warnings:
            job.warn(warning, "environment")
        wheels_for = _pinned_packages(trial, options, on_event)
        wheels = (
            download_wheels(
                wheels_for,
                capture["python"],
                on_event,
                waiting=job.waiting_for("downloading into the wheel cache"),
            )
            if config.download_wheels
            else None
        )
        engine = _engine(required=not context_only)
        base_image = options.base_image or (
            engine.resolve_base_image(config.base_image, capture["python"])
            if engine
            else config.base_image_for(capture["python"])
        )
        environment = Environment(
            packages=wheels_for,
            system_packages=tuple(_system_packages(engine, base_image, wheels, options)),
        )
        if environment.system_packages:
            on_event(
                ProgressEvent("log", f"system packages: {' '.join(environment.system_packages)}")
            )

        job.stage("render", f"Writing the build context to {destination}")
        context = render_context(
            plan, capture, environment, destination, base_image, wheels, config.labels
        )
        sample = {"request": capture["request"], "expected": capture["expected"]}
        result = BuildResult(
            context=str(destination), name=name, sample=sample, warnings=tuple(job.warnings)
        )
        if context_only:
            return result

        labels = {**image_labels(plan, name), **config.labels}
        result.tag, latest = image_tags(name, context.content_hash)
        job.stage("build", f"Building {result.tag} from {base_image}")
        build_events = engine.build(
            destination, result.tag, labels, extra_tags=(latest,), no_cache=no_cache
        )
        try:
            for event in build_events:
                job.check()
                on_event(event)
        finally:
            build_events.close()
        result.image = engine.image_id(result.tag)
        result.size = engine.image_size(result.tag)
        result.sizes = image_sizes(engine, result.tag, base_image)
        if not options.run:
            return result

    job.stage("run", f"Starting {name}")
    port = options.port if options.port is not None else config.default_port
    instance = _start(engine, result.tag, port, labels, name)
    try:
        result.instance = engine.wait_ready(instance)
        job.stage("check", f"Checking {result.instance.url} against the notebook's answer")
        result.parity = check_parity(result.instance.url, sample)
    except BaseException:
        engine.stop(instance.id)
        raise
    verdict = "PASS" if result.parity["passed"] else "FAIL"
    on_event(ProgressEvent("done", f"{result.instance.url} parity {verdict}", "check"))
    return result


def _capture(session, plan: ServingPlan, options: ExportOptions, state_dir: Path):
    """Capture the state; widen the slice while pickles refer to notebook classes it lacks."""
    folder = Path(options.notebook).resolve().parent
    local_files = local_module_files(folder, plan.local_modules)
    for _ in range(_MAX_CAPTURE_ROUNDS):
        request = {
            "state": plan.state,
            "entry": {"kind": plan.entry_kind, "name": plan.entry_name, "method": plan.method},
            "sample": plan.sample_expression,
            "sample_rows": plan.sample_rows,
            "out_dir": str(state_dir.parent),
            "modules": sorted(set(plan.imports) | set(third_party_imports_of_files(local_files))),
            "loaded": plan.loaded,
        }
        capture = session.capture(request)
        referenced = {name for item in capture["state"] for name in item["main_references"]}
        missing = referenced - set(plan.defined)
        if not missing:
            return plan, capture
        plan = analyse_notebook(options, extra_roots=tuple(sorted(missing | set(plan.defined))))
    raise CaptureError(
        f"The captured state refers to {', '.join(sorted(missing))}, defined in the notebook in a "
        "way that cannot be copied (not a top-level def or class).",
        "Define them at the top level of a cell, or tag the cell that defines them "
        "mlcontainer:include.",
    )


def _pinned_packages(trial: TrialResult, options: ExportOptions, on_event: EventSink) -> dict:
    """The trial's pins, lean for a CPU unless the options keep GPU packages."""
    if options.keep_gpu_packages:
        return trial.packages
    packages, notes = lean_for_cpu(trial.packages, trial.loaded_distributions)
    for note in notes:
        on_event(ProgressEvent("log", note, "environment"))
    return packages


def _system_packages(engine, base_image: str, wheels, options: ExportOptions) -> list[str]:
    """Debian packages for the shared libraries the wheels need and the base lacks."""
    if wheels is None:  # installed from an index at build time: only what the user named
        return system_packages({}, options.system_packages)
    provided = engine.shared_libraries(base_image) if engine else set()
    return system_packages(missing_libraries(wheels, provided), options.system_packages)


def image_sizes(engine, tag: str, base_image: str) -> dict:
    """Bytes of the image by origin: the base, the Debian packages added, the Python
    environment, and what the notebook adds (code, state, runtime)."""
    own_layers = engine.layer_sizes(tag)[len(engine.layer_sizes(base_image)) :]
    sizes = {"base": engine.image_size(base_image), "system_packages": 0, "python_packages": 0}
    for created_by, size in own_layers:
        if "apt-get install" in created_by:
            sizes["system_packages"] += size
        elif "/opt/venv" in created_by and "COPY" in created_by:
            sizes["python_packages"] += size
    sizes["app"] = engine.image_size(tag) - sum(sizes.values())
    return sizes


def check_parity(url: str, sample: dict) -> dict:
    """Send the sample to a running instance and compare its answer with the notebook's."""
    from .client import ServingClient
    from .runtime.parity import compare

    response = ServingClient(url, timeout=60).predict(sample["request"])
    actual = response.body.get("predictions") if isinstance(response.body, dict) else None
    report = compare(sample["expected"]["predictions"], actual).to_dict()
    report.update(status=response.status, latency_ms=response.latency_ms, error=response.error)
    return report


def image_labels(plan: ServingPlan, name: str) -> dict:
    return {
        NAME_LABEL: name,
        NOTEBOOK_LABEL: str(Path(plan.notebook).resolve()),
        NOTEBOOK_SHA256_LABEL: plan.notebook_sha256,
        ENTRY_LABEL: entry_label(plan),
    }


def default_context_folder(notebook: Path, name: str) -> Path:
    """A stable folder per notebook, so rebuilds reuse the same files (and Docker's cache)."""
    key = hashlib.sha256(str(notebook.resolve()).encode()).hexdigest()[:8]
    return cache_dir("contexts", f"{name}-{key}")


def _start(engine, tag: str, port: int, labels: dict, name: str, attempts: int = 5) -> Instance:
    """Run `tag` under a free form of `name`; a concurrent build may take the name between
    looking and starting, so a taken name means trying the next one."""
    for _ in range(attempts - 1):
        try:
            return engine.run(tag, port=port, labels=labels, name=_instance_name(engine, name))
        except NameTaken:
            pass  # the next look at the instances finds the name taken and moves on
    return engine.run(tag, port=port, labels=labels, name=_instance_name(engine, name))


def _instance_name(engine, name: str) -> str:
    """`name`, or `name-2`, `name-3`... when a container of that name already exists."""
    taken = engine.container_names()
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}-{number}"
    return candidate


def _engine(required: bool):
    """The Docker engine; for a context-only render it is optional (it picks the base image)."""
    from .engine import DockerEngine

    try:
        return DockerEngine()
    except EngineUnavailable:
        if required:
            raise
        return None
