"""The one pipeline every front door calls: notebook → build context → image → instance.

JupyterLab (server extension), the `%containerize` magic, the CLI and the nbconvert exporter
all call `containerize` with an `ExportOptions` and render its `ProgressEvent`s their own way.
Each stage takes values and returns a new one (`ServingPlan`, `Capture`, `Environment`,
`BuildContext`, `Image`, `Instance`); the functions below `containerize` say what each does.
"""

from __future__ import annotations

import hashlib
import threading
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .config import MLContainerConfig, cache_dir, load_config
from .engine import open_engine
from .engine.base import (
    ENTRY_LABEL,
    NAME_LABEL,
    NOTEBOOK_LABEL,
    NOTEBOOK_SHA256_LABEL,
    Image,
    Instance,
    image_tags,
)
from .engine.baseimage import choose_base_image
from .errors import CaptureError, NameTaken
from .events import EventSink, ProgressEvent, ignore_events
from .job import Job
from .locks import exclusive_folder
from .pipeline.analyse import analyse_notebook, local_module_files, third_party_imports_of_files
from .pipeline.environment import requirement_lines
from .pipeline.kernels import executed_notebook
from .pipeline.lean import lean_for_cpu
from .pipeline.native import base_libraries, missing_libraries, system_packages
from .pipeline.plan import Capture, Environment, ExportOptions, ServingPlan
from .pipeline.render import (
    BuildContext,
    prepare_destination,
    render_context,
    render_serving_files,
)
from .pipeline.templates import entry_label, plan_entry
from .pipeline.trial import trial_run
from .pipeline.wheels import download_wheels
from .readiness import wait_ready

#: How many times capture may widen the slice to define notebook classes a pickle refers to.
_MAX_CAPTURE_ROUNDS = 3


@dataclass
class BuildResult:
    context: str  # the build context directory
    name: str = ""  # image name without registry or tag
    image: str = ""  # image id (empty with context_only)
    tag: str = ""  # mlcontainer/<name>:<content hash>
    size: int = 0  # image size in bytes
    instance: Instance | None = None  # with options.run
    sizes: dict | None = None  # bytes: base, system_packages, python_packages, app
    parity: dict | None = None  # ParityReport.to_dict() when an instance answered the sample
    sample: dict | None = None  # {"request": ..., "expected": ...}
    warnings: tuple = ()

    def to_dict(self) -> dict:
        return asdict(self)


def containerize(
    options: ExportOptions,
    kernel=None,
    config: MLContainerConfig | None = None,
    on_event: EventSink = ignore_events,
    cancel: threading.Event | None = None,
    context_only: bool = False,
    out_dir: str | None = None,
) -> BuildResult:
    """Run the whole pipeline.

    `kernel` is a `pipeline.kernels.KernelSession` holding the notebook's live state (magic,
    JupyterLab); None executes the notebook headless first. `cancel` is checked between
    stages and build steps; when set the job stops with `JobCancelled`, leaving no container
    (an image it finished building stays).
    """
    config = config or load_config()
    job = Job(on_event, cancel)
    plan = analyse_stage(job, options)
    destination = Path(out_dir) if out_dir else default_context_folder(plan)
    with exclusive_folder(destination, job.waiting_for(f"with {destination}")):
        state_dir = prepare_destination(destination)
        plan, capture = capture_stage(job, plan, options, kernel, state_dir)
        engine = open_engine(required=not context_only)
        base_image = options.base_image or choose_base_image(engine, config, capture.python)
        environment = environment_stage(job, plan, capture, destination, options, config)
        environment = add_system_packages(environment, engine, base_image, options)
        job.stage("render", f"Writing the build context to {destination}")
        context = render_context(plan, capture, environment, destination, base_image, config.labels)
        done = {"context": str(destination), "name": plan.name, "sample": capture.sample}
        if context_only:
            return BuildResult(**done, warnings=tuple(job.warnings))
        image = build_stage(job, engine, plan, context, config, options.no_cache)
    instance, parity = (
        run_stage(job, engine, image, plan, capture, options, config)
        if options.run
        else (None, None)
    )
    return BuildResult(
        **done,
        image=image.id,
        tag=image.tag,
        size=image.size,
        sizes=image.sizes,
        instance=instance,
        parity=parity,
        warnings=tuple(job.warnings),
    )


def analyse_stage(job: Job, options: ExportOptions) -> ServingPlan:
    job.stage("analyse", f"Analysing {Path(options.notebook).name}")
    plan = analyse_notebook(options)
    for warning in plan.warnings:
        job.warn(warning, "analyse")
    return plan


def capture_stage(
    job: Job, plan: ServingPlan, options: ExportOptions, kernel, state_dir: Path
) -> tuple[ServingPlan, Capture]:
    """Capture the state from the live kernel, or from one that runs the notebook headless;
    widen the slice while pickles refer to notebook classes it lacks."""
    notebook = Path(options.notebook)
    job.stage(
        "capture",
        "Capturing the model from the live kernel"
        if kernel
        else f"Running {notebook.name} headless",
    )
    folder = notebook.resolve().parent
    with nullcontext(kernel) if kernel else executed_notebook(notebook) as session:
        for _ in range(_MAX_CAPTURE_ROUNDS):
            local_files = local_module_files(folder, plan.local_modules)
            taken = session.capture(
                {
                    "state": plan.state,
                    "entry": plan_entry(plan),
                    "sample": plan.sample_expression,
                    "sample_rows": plan.sample_rows,
                    "out_dir": str(state_dir.parent),
                    "modules": sorted(
                        set(plan.imports) | set(third_party_imports_of_files(local_files))
                    ),
                    "loaded": plan.loaded,
                }
            )
            missing = taken.main_references() - set(plan.defined)
            if not missing:
                return plan, taken
            plan = analyse_notebook(options, extra_roots=tuple(sorted(missing | set(plan.defined))))
    raise CaptureError(
        f"The captured state refers to {', '.join(sorted(missing))}, defined in the notebook in a "
        "way that cannot be copied (not a top-level def or class).",
        "Define them at the top level of a cell, or tag the cell that defines them "
        "mlcontainer:include.",
    )


def environment_stage(
    job: Job,
    plan: ServingPlan,
    capture: Capture,
    destination: Path,
    options: ExportOptions,
    config: MLContainerConfig,
) -> Environment:
    """The trial run's pins, lean for a CPU unless asked otherwise, with their wheels."""
    job.stage("environment", f"Trial run of the served code with {capture.executable}")
    folder = Path(plan.notebook).resolve().parent
    render_serving_files(plan, capture, destination, local_module_files(folder, plan.local_modules))
    trial = trial_run(
        capture.executable,
        destination,
        list(capture.modules),
        requirement_lines(folder),
        list(plan.local_modules),
    )
    job.log(f"trial run PASS, imports {', '.join(trial.modules)}", "environment")
    for warning in trial.warnings:
        job.warn(warning, "environment")
    packages = trial.packages
    if not options.keep_gpu_packages:
        packages, notes = lean_for_cpu(trial.packages, trial.loaded_distributions)
        for note in notes:
            job.log(note, "environment")
    wheels = None
    if config.download_wheels:
        waiting = job.waiting_for("downloading into the wheel cache")
        wheels = tuple(download_wheels(packages, capture.python, job.on_event, waiting=waiting))
    return Environment(packages=packages, wheels=wheels)


def add_system_packages(
    environment: Environment, engine, base_image: str, options: ExportOptions
) -> Environment:
    """The Debian packages for the shared libraries the wheels need and the base lacks, plus
    the ones the options name."""
    if environment.wheels is None:  # installed from an index at build time: what was named
        packages = system_packages({}, options.system_packages)
    else:
        provided = base_libraries(engine, base_image) if engine else set()
        missing = missing_libraries(environment.wheels, provided)
        packages = system_packages(missing, options.system_packages)
    return replace(environment, system_packages=tuple(packages))


def build_stage(
    job: Job,
    engine,
    plan: ServingPlan,
    context: BuildContext,
    config: MLContainerConfig,
    no_cache: bool,
) -> Image:
    """Build and tag the image; its last step is the image's own check against the sample."""
    tag, latest = image_tags(plan.name, context.content_hash)
    job.stage("build", f"Building {tag} from {context.base_image}")
    labels = {**image_labels(plan), **config.labels}
    events = engine.build(context.path, tag, labels, extra_tags=(latest,), no_cache=no_cache)
    try:
        for event in events:
            job.check()
            job.on_event(event)
    finally:
        events.close()
    return Image(
        tag=tag,
        id=engine.image_id(tag),
        size=engine.image_size(tag),
        sizes=image_sizes(engine, tag, context.base_image),
        labels=labels,
    )


def run_stage(
    job: Job,
    engine,
    image: Image,
    plan: ServingPlan,
    capture: Capture,
    options: ExportOptions,
    config,
) -> tuple[Instance, dict]:
    """Start the image on 127.0.0.1 and check that it answers the sample as the notebook did."""
    job.stage("run", f"Starting {plan.name}")
    port = options.port if options.port is not None else config.default_port
    instance = _start(engine, image.tag, port, image.labels, plan.name)
    try:
        instance = wait_ready(engine, instance)
        job.stage("check", f"Checking {instance.url} against the notebook's answer")
        parity = check_parity(instance.url, capture.sample)
    except BaseException:
        engine.stop(instance.id)
        raise
    verdict = "PASS" if parity["passed"] else "FAIL"
    job.on_event(ProgressEvent("done", f"{instance.url} parity {verdict}", "check"))
    return instance, parity


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


def image_labels(plan: ServingPlan) -> dict:
    return {
        NAME_LABEL: plan.name,
        NOTEBOOK_LABEL: str(Path(plan.notebook).resolve()),
        NOTEBOOK_SHA256_LABEL: plan.notebook_sha256,
        ENTRY_LABEL: entry_label(plan),
    }


def default_context_folder(plan: ServingPlan) -> Path:
    """A stable folder per notebook, so rebuilds reuse the same files (and Docker's cache)."""
    key = hashlib.sha256(str(Path(plan.notebook).resolve()).encode()).hexdigest()[:8]
    return cache_dir("contexts", f"{plan.name}-{key}")


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
