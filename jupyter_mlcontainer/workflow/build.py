"""The one pipeline every front door calls: notebook → build context → image → instance.

JupyterLab (server extension), the `%containerize` magic, the CLI and the nbconvert exporter
all call `containerize` with an `ExportOptions` and render its `ProgressEvent`s their own way.
Each stage takes values and returns a new one (`ServingPlan`, `Capture`, `Environment`,
`BuildContext`, `Image`, `Instance`); the functions below `containerize` say what each does.
"""

from __future__ import annotations

import tempfile
import threading
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..engine import open_engine
from ..engine.base import (
    BELOW_STATE_LABEL,
    CODE_SHA256_LABEL,
    ENTRY_LABEL,
    KERNEL_PYTHON_LABEL,
    NAME_LABEL,
    NOTEBOOK_LABEL,
    NOTEBOOK_SHA256_LABEL,
    Image,
    Instance,
    image_tags,
)
from ..engine.baseimage import choose_base_image
from ..pipeline.analyse import analyse_notebook, local_module_files, third_party_imports_of_files
from ..pipeline.cells import code_sha256
from ..pipeline.environment import requirement_lines
from ..pipeline.kernels import executed_notebook
from ..pipeline.lean import cpu_providers, lean_for_cpu
from ..pipeline.native import base_libraries, missing_libraries, system_packages
from ..pipeline.plan import Capture, CaptureRequest, Environment, ExportOptions, ServingPlan
from ..pipeline.probes import trial_probes
from ..pipeline.render import (
    BuildContext,
    prepare_destination,
    render_context,
    render_serving_files,
    state_archive,
)
from ..pipeline.report import SliceReport, slice_report
from ..pipeline.secrets import refuse_secrets, scan_context
from ..pipeline.templates import entry_label, final_labels, plan_entry
from ..pipeline.trial import trial_run
from ..pipeline.trialcache import remember_trial, reused_trial, trial_key
from ..pipeline.wheels import download_wheels, installed_sizes, with_wheels
from ..running.readiness import wait_ready
from ..running.tokens import lock_for, remember, token_for
from ..runtime.model import CHECK_AT, CHECK_AT_START, EXIT_ON_FAILED_LOAD
from ..runtime.parity import ParityReport, compare
from ..shared.config import MLContainerConfig, load_config
from ..shared.errors import CaptureError, EngineUnavailable, NameTaken
from ..shared.events import EventSink, ProgressEvent, ignore_events
from ..shared.locks import exclusive_folder
from .contexts import context_folder
from .diskspace import clear_when_full
from .job import Job
from .replace import (
    Replacement,
    Successor,
    deployment_under,
    replace_instance,
    roll_out,
    serving_under,
)

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
    parity: ParityReport | None = None  # when an instance answered the sample
    sample: dict | None = None  # {"request": ..., "expected": ...}
    warnings: tuple = ()
    replacement: Replacement | None = None  # when the name already served
    report: SliceReport | None = None  # what went into the image and why
    token: str = ""  # the instance's bearer token when --auth token locked it: shown once

    def to_dict(self) -> dict:
        data = asdict(self)
        data["report"] = self.report.to_dict() if self.report else None
        return data


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
    if options.explain:
        return explain(job, plan, options, kernel, config)
    destination = Path(out_dir) if out_dir else context_folder(plan.name, plan.notebook)
    with (
        exclusive_folder(destination, job.waiting_for(f"with {destination}")),
        clear_when_full(destination),
    ):
        prepared = prepare(job, plan, options, kernel, config, destination)
        plan, capture, environment = prepared.plan, prepared.capture, prepared.environment
        engine, base_image, report = prepared.engine, prepared.base_image, prepared.report
        job.stage("render", f"Writing the build context to {destination}")
        context = render_context(
            plan, capture, environment, destination, base_image, config.labels, report.markdown()
        )
        done = {
            "context": str(destination),
            "name": plan.name,
            "sample": capture.sample,
            "report": report,
        }
        if context_only:
            return BuildResult(**done, warnings=tuple(job.warnings))
        if engine is None:
            raise no_engine(destination, image_tags(plan.name, context.content_hash)[0])
        image = build_stage(
            job, engine, plan, capture, context, config, options.no_cache, options.run
        )
    instance = parity = replacement = None
    if options.run:
        instance, parity, replacement = run_stage(
            job, engine, image, plan, capture, options, config
        )
    if parity is None or parity.passed:
        engine.tag_image(image.tag, image_tags(plan.name, context.content_hash)[1])
    return BuildResult(
        **done,
        image=image.id,
        tag=image.tag,
        size=image.size,
        sizes=image.sizes,
        instance=instance,
        parity=parity,
        replacement=replacement,
        warnings=tuple(job.warnings),
        token=(token_for(instance.url) or "") if instance and options.auth else "",
    )


def explain(
    job: Job, plan: ServingPlan, options: ExportOptions, kernel, config: MLContainerConfig
) -> BuildResult:
    """The slice report without an image: capture and the environment run (the values' sizes
    and the packages come from them) in a scratch folder that is deleted afterwards; nothing
    is rendered into a context and nothing is built."""
    with tempfile.TemporaryDirectory(prefix="mlcontainer-explain-") as scratch:
        prepared = prepare(job, plan, options, kernel, config, Path(scratch) / "context")
    job.on_event(ProgressEvent("done", "explained; nothing was built", "environment"))
    return BuildResult(
        context="",
        name=prepared.plan.name,
        sample=prepared.capture.sample,
        warnings=tuple(job.warnings),
        report=prepared.report,
    )


def no_engine(destination: Path, tag: str) -> EngineUnavailable:
    """No engine answers, and the context is written: say where, and how to finish elsewhere."""
    try:
        open_engine()
    except EngineUnavailable as error:
        why, hint = error.message, error.hint
    else:  # one came up meanwhile
        why, hint = "No container engine answered during the build.", ""
    return EngineUnavailable(
        f"{why} The build context is written to {destination}; nothing was built.",
        f"Build it where an engine runs: `docker build -t {tag} {destination}` (or `podman "
        f"build`), then `jupyter mlcontainer run {tag}`. Or start one here: {hint}",
    )


@dataclass(frozen=True)
class Prepared:
    """What both the slice report and the build context rest on."""

    plan: ServingPlan  # widened if pickles needed notebook classes
    capture: Capture
    environment: Environment  # proved by the trial, with wheels and Debian packages
    engine: object  # a ContainerEngine, or None when none answers and none was required
    base_image: str
    report: SliceReport


def prepare(
    job: Job,
    plan: ServingPlan,
    options: ExportOptions,
    kernel,
    config: MLContainerConfig,
    destination: Path,
) -> Prepared:
    """Capture into `destination`, prove the environment, add the Debian packages the wheels
    need on the chosen base image, and write the slice report: every stage before rendering."""
    state_dir = prepare_destination(destination)
    plan, capture = capture_stage(job, plan, options, kernel, state_dir)
    engine = open_engine(required=False)  # without one, the context is still written
    base_image = options.base_image or choose_base_image(engine, config, capture.python)
    environment = environment_stage(job, plan, capture, destination, options, config)
    environment = add_system_packages(environment, engine, base_image, options)
    report = report_stage(job, plan, capture, environment, engine, base_image)
    return Prepared(plan, capture, environment, engine, base_image, report)


def report_stage(
    job: Job, plan: ServingPlan, capture: Capture, environment: Environment, engine, base_image
) -> SliceReport:
    """The slice report, with what only this machine can measure: the base image's size and
    the wheels' unpacked sizes. Its own warnings join the job's."""
    job.check()
    folder = Path(plan.notebook).resolve().parent
    module_files = tuple(
        path.relative_to(folder).as_posix()
        for path in local_module_files(folder, plan.local_modules)
    )
    base_size = None
    if engine is not None and engine.image_exists(base_image):
        base_size = engine.image_size(base_image)
    report = slice_report(
        plan,
        capture,
        environment,
        base_image,
        base_size=base_size,
        installed=installed_sizes(environment.wheels) if environment.wheels is not None else None,
        module_files=module_files,
        warnings=tuple(job.warnings),
    )
    for warning in report.warnings:
        if warning not in job.warnings:
            job.warn(warning, "report")
    return report


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
            imports = set(plan.imports) | set(third_party_imports_of_files(local_files))
            taken = session.capture(
                CaptureRequest(
                    state=plan.state,
                    entry=plan_entry(plan).to_dict(),
                    sample=plan.sample_expression,
                    sample_rows=plan.sample_rows,
                    training=plan.training_expression,
                    out_dir=str(state_dir.parent),
                    modules=tuple(sorted(imports)),
                    loaded=plan.loaded,
                )
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
    findings = scan_context(destination)
    for finding in findings:  # the slice report lists them too
        job.warn(f"looks like a credential: {finding}", "environment")
    if not (options.allow_secrets or options.explain):
        refuse_secrets(findings)
    requirements = requirement_lines(folder)
    keep = options.with_packages
    key = trial_key(destination, capture, requirements, plan.local_modules, keep)
    trial = reused_trial(key, capture.executable)
    if trial is None:
        trial = trial_run(
            capture.executable,
            destination,
            list(capture.modules),
            requirements,
            list(plan.local_modules),
            keep=keep,
            probes=tuple(trial_probes(capture)),
        )
        remember_trial(key, trial)
        job.log(
            f"trial run PASS ({trial.trials} trial{'s' if trial.trials > 1 else ''}), "
            f"imports {', '.join(trial.modules)}",
            "environment",
        )
    else:
        job.log(
            "trial run reused: the served code, the values' modules and the packages are those "
            f"of an earlier trial (imports {', '.join(trial.modules)})",
            "environment",
        )
    for name, why in trial.excluded.items():
        job.log(f"left out {name}: {why} (--with {name} keeps it)", "environment")
    for warning in trial.warnings:
        job.warn(warning, "environment")
    packages, providers = trial.packages, trial.providers
    if not options.keep_gpu_packages:
        packages, notes = lean_for_cpu(trial.packages, trial.loaded_distributions)
        providers = cpu_providers(trial.providers)
        for note in notes:
            job.log(note, "environment")
    wheels = None
    if config.download_wheels:
        waiting = job.waiting_for("downloading into the wheel cache")
        wheels = tuple(download_wheels(packages, capture.python, job.on_event, waiting=waiting))
        packages = with_wheels(packages, wheels)
    return Environment(
        packages=packages,
        wheels=wheels,
        providers=providers,
        required_by=trial.required_by,
        imported=trial.modules,
        requirements=tuple(requirements),
        kept=tuple(keep),
        excluded=trial.excluded,
    )


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
    capture: Capture,
    context: BuildContext,
    config: MLContainerConfig,
    no_cache: bool,
    check_at_start: bool = False,
) -> Image:
    """Build the image under its content tag; `:latest` follows once it is proven. Its last
    step is the image's own check against the sample or, when an instance or replicas are
    started from it (`check_at_start`), the check is left to them as they start: they load the
    model anyway, and loading it in the build too would double the wait."""
    tag = image_tags(plan.name, context.content_hash)[0]
    labels = {
        **image_labels(plan, capture),
        BELOW_STATE_LABEL: below_state(engine, context),
        **config.labels,
    }
    stated = final_labels(plan, config.labels)
    below = None
    if check_at_start and not no_cache:
        below = engine.layers_below_state(labels[BELOW_STATE_LABEL])
    if below is not None:
        job.stage("build", f"Building {tag}: only the state changed since an earlier build")
        job.log("The new state is committed over that build's other layers", "build")
        events = engine.commit_state(
            below,
            state_archive(context.path),
            tag,
            {**stated, **labels},
        )
    else:
        job.stage("build", f"Building {tag} from {context.base_image}")
        events = build_events(job, engine, context, tag, labels, stated, no_cache, check_at_start)
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


def build_events(
    job: Job,
    engine,
    context: BuildContext,
    tag: str,
    labels: dict,
    stated: dict,
    no_cache: bool,
    check_at_start: bool,
):
    """The engine's build of the whole context. It is given only the `labels` the Dockerfile
    does not state (`stated`): the engine adds a build step for each."""
    unstated = {key: value for key, value in labels.items() if stated.get(key) != value}
    build_args = None
    if check_at_start:
        build_args = {CHECK_AT: CHECK_AT_START}
        job.log("The instance checks the sample as it starts, before it takes a request", "build")
    return engine.build(context.path, tag, unstated, no_cache=no_cache, build_args=build_args)


def below_state(engine, context: BuildContext) -> str:
    """BELOW_STATE_LABEL's value for `context`: what the layers under its state depend on."""
    base = engine.image_id(context.base_image) if engine.image_exists(context.base_image) else ""
    return f"{context.below_state_hash}-{base.removeprefix('sha256:')[:12] or 'none'}"


def run_stage(
    job: Job,
    engine,
    image: Image,
    plan: ServingPlan,
    capture: Capture,
    options: ExportOptions,
    config,
) -> tuple[Instance, ParityReport, Replacement | None]:
    """Start the image on 127.0.0.1 and check that it answers the sample as the notebook did:
    the instance checks it as it loads the model (and exits when it cannot), then parity is
    asked over HTTP. Under a name that already serves, replace what serves (replace.py): a
    deployment is rolled out, an instance handed over on its own port."""
    deployment = deployment_under(engine, plan.name)
    previous = serving_under(engine, plan.name)
    replacement = parity = None
    environment = {EXIT_ON_FAILED_LOAD: "1", **options.environment()}
    run_options = {**config.run_options(), "environment": environment}
    token_file = None if deployment else lock_for(engine, options, previous and previous.url)
    if token_file is not None:
        run_options["token_file"] = token_file
        if previous is not None:  # its successor answers at its URL, checked through the lock
            remember(previous.url, token_file)
    if deployment is not None:
        job.stage("run", f"Rolling the deployment {plan.name} out to {image.tag}")
        instance, replacement = roll_out(
            engine, deployment, image.tag, capture.sample, job.on_event
        )
    elif previous is not None:
        job.stage("run", f"Replacing {plan.name} at {previous.url}")
        successor = Successor(image.tag, image.labels, capture.sample, check_parity, run_options)
        instance, replacement, parity = replace_instance(engine, previous, successor, job.on_event)
    else:
        job.stage("run", f"Starting {plan.name}")
        port = options.port if options.port is not None else config.default_port
        instance = _start(engine, image.tag, port, image.labels, plan.name, **run_options)
    if token_file is not None:
        remember(instance.url, token_file)
    try:
        if replacement is None:
            instance = wait_ready(engine, instance)
        job.stage("check", f"Checking {instance.url} against the notebook's answer")
        parity = parity or check_parity(instance.url, capture.sample)
    except BaseException:
        if replacement is None:
            engine.stop(instance.id)
        raise
    verdict = "PASS" if parity.passed else "FAIL"
    job.on_event(ProgressEvent("done", f"{instance.url} parity {verdict}", "check"))
    return instance, parity, replacement


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


def check_parity(url: str, sample: dict) -> ParityReport:
    """Send the sample to a running instance and compare its answer with the notebook's."""
    from ..running.client import ServingClient

    response = ServingClient(url, timeout=60).predict(sample["request"])
    actual = response.body.get("predictions") if isinstance(response.body, dict) else None
    report = compare(sample["expected"]["predictions"], actual)
    report.status, report.latency_ms, report.error = (
        response.status,
        response.latency_ms,
        response.error,
    )
    return report


def image_labels(plan: ServingPlan, capture: Capture) -> dict:
    """Provenance: the notebook and its code, the entry point, and the kernel's interpreter
    (machine-specific, so a label rather than a file in the content-hashed context)."""
    return {
        NAME_LABEL: plan.name,
        NOTEBOOK_LABEL: str(Path(plan.notebook).resolve()),
        NOTEBOOK_SHA256_LABEL: plan.notebook_sha256,
        CODE_SHA256_LABEL: code_sha256(plan.cells),
        ENTRY_LABEL: entry_label(plan),
        KERNEL_PYTHON_LABEL: capture.executable,
    }


def _start(
    engine, tag: str, port: int, labels: dict, name: str, attempts: int = 5, **options
) -> Instance:
    """Run `tag` under a free form of `name` (`options`: hardening and limits); a concurrent
    build may take the name between looking and starting, so a taken name means trying the
    next one."""
    for _ in range(attempts - 1):
        try:
            return engine.run(
                tag, port=port, labels=labels, name=_instance_name(engine, name), **options
            )
        except NameTaken:
            pass  # the next look at the instances finds the name taken and moves on
    return engine.run(tag, port=port, labels=labels, name=_instance_name(engine, name), **options)


def _instance_name(engine, name: str) -> str:
    """`name`, or `name-2`, `name-3`... when a container of that name already exists."""
    taken = engine.container_names()
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}-{number}"
    return candidate
