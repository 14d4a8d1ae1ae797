"""Render: plan + capture → a build context a person can read and build by hand.

Deterministic: the same plan and capture give byte-identical files (sorted, no timestamps), so
Docker's layer cache works and a code-only change rebuilds only the last layers.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..runtime.spec import (
    CONTRACT_RECORD,
    GENERATED_MODULE,
    NOTEBOOK_RECORD,
    SERVING_SPEC,
    STATE_RECORD,
    Batching,
    InputSpec,
    NotebookRecord,
    ServingSpec,
    StateRecord,
)
from ..shared.errors import ContextFolderRefused
from ..shared.version import __version__
from .cells import code_sha256
from .plan import Capture, Environment, ServingPlan
from .profile import served_contract
from .supply import SBOM_FILE, bill_of_materials, lock_lines, render_bill, wheel_hashes
from .templates import (
    FIRST_STATE_STEP,
    context_readme,
    dockerfile,
    generated_module,
    plan_entry,
)

RUNTIME_PACKAGE = "mlcontainer_runtime"
#: Marks a folder as a build context, so that only such a folder is ever emptied.
CONTEXT_MARKER = ".mlcontainer-context"
#: The slice report: read by people, never copied into the image nor part of the tag.
REPORT_FILE = "REPORT.md"
#: Everything a context holds at its top level; nothing else is ever deleted.
CONTEXT_ENTRIES = frozenset(
    {CONTEXT_MARKER, ".dockerignore", "Dockerfile", "README.md", "requirements.lock", SBOM_FILE}
    | {"sample.json", "app", "artifacts", "wheels", REPORT_FILE}
)


#: What a re-training changes: the image's last layers, copied in this order after everything
#: else (templates.py); a rebuild that changes nothing else commits them over the layers below.
STATE_ENTRIES = ("sample.json", "artifacts")


@dataclass(frozen=True)
class BuildContext:
    path: Path
    content_hash: str  # over everything but the wheels, which the lock file stands for
    base_image: str
    below_state_hash: str  # over everything but the wheels and STATE_ENTRIES


def render_serving_files(
    plan: ServingPlan, capture: Capture, destination: Path, local_module_files: list[Path]
) -> None:
    """What the served code loads: `app/` (generated module, runtime, local modules,
    serving.json), `artifacts/files/`, the records `artifacts/notebook.json` and
    `artifacts/state.json`, and `sample.json`, beside the state files capture wrote
    into `destination` (prepared by `prepare_destination`). The trial run loads exactly these."""
    destination = Path(destination)
    app = destination / "app"
    artifacts = destination / "artifacts"
    (artifacts / "files").mkdir(parents=True, exist_ok=True)
    (app / RUNTIME_PACKAGE).mkdir(parents=True, exist_ok=True)
    folder = Path(plan.notebook).resolve().parent
    for relative in plan.files:
        target = artifacts / "files" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / relative, target)
    for module_file in local_module_files:
        relative = module_file.relative_to(folder)
        (app / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(module_file, app / relative)
    runtime_source = Path(__file__).resolve().parent.parent / "runtime"
    for source in sorted(runtime_source.glob("*.py")):
        shutil.copyfile(source, app / RUNTIME_PACKAGE / source.name)
    _write(app / f"{GENERATED_MODULE}.py", generated_module(plan, capture.state))
    _write(destination / SERVING_SPEC, serving_spec(plan, capture, {}).to_json())
    _write(destination / STATE_RECORD, state_digest(capture.state).to_json())
    _write(destination / NOTEBOOK_RECORD, notebook_record(plan).to_json())
    contract = contract_record(plan, capture)
    if contract is not None:
        _write(destination / CONTRACT_RECORD, contract)
    else:
        (destination / CONTRACT_RECORD).unlink(missing_ok=True)
    _write(destination / "sample.json", _json(capture.sample))


def render_context(
    plan: ServingPlan,
    capture: Capture,
    environment: Environment,
    destination: Path,
    base_image: str,
    labels: dict,
    report: str = "",
) -> BuildContext:
    """Complete the context that `render_serving_files` began: the lock, the Dockerfile, the
    README, the wheels and the package versions in serving.json. Without wheels the context's
    pip reaches an index during the build. `labels` also mark the builder stage; `report`
    (the slice report's Markdown) becomes REPORT.md."""
    wheels = environment.wheels
    destination = Path(destination)
    hashes = wheel_hashes(wheels)
    lock = lock_lines(environment.packages, hashes)
    _write(destination / "requirements.lock", LOCK_HEADER + lock)
    bill = bill_of_materials(
        plan.name,
        environment.packages,
        hashes,
        environment.system_packages,
        base_image,
    )
    _write(destination / SBOM_FILE, render_bill(bill))
    _write(destination / SERVING_SPEC, serving_spec(plan, capture, environment.packages).to_json())
    _write(
        destination / ".dockerignore",
        f"**/__pycache__\n**/*.pyc\nREADME.md\n{REPORT_FILE}\n{CONTEXT_MARKER}\n",
    )
    if report:
        _write(destination / REPORT_FILE, report)
    _write(
        destination / "Dockerfile",
        dockerfile(
            plan,
            base_image,
            offline=wheels is not None,
            runtime=RUNTIME_PACKAGE,
            labels=labels,
            system_packages=list(environment.system_packages),
            hashed="--hash=" in lock,
        ),
    )
    _write(destination / "README.md", context_readme(plan, base_image))
    if wheels is not None:
        (destination / "wheels").mkdir(exist_ok=True)
        for wheel in wheels:
            _link_or_copy(wheel, destination / "wheels" / wheel.name)
    return BuildContext(
        destination,
        content_hash(destination),
        base_image,
        below_state_hash(destination),
    )


def serving_spec(plan: ServingPlan, capture: Capture, packages: dict) -> ServingSpec:
    """`app/serving.json`: what the runtime serves and how it reads the input."""
    return ServingSpec(
        entry=plan_entry(plan),
        input=InputSpec.from_dict(capture.input),
        module=GENERATED_MODULE,
        name=plan.name,
        batching=Batching.from_dict(capture.batching),
        python=capture.python,
        packages=packages,
        generator=f"jupyter-mlcontainer {__version__}",
    )


def contract_record(plan: ServingPlan, capture: Capture) -> str | None:
    """artifacts/contract.json: the training data's contract, with the notebook's metadata
    overrides; beside the state, since a re-training changes it. None without a contract."""
    contract = served_contract(plan, capture)[0]
    if contract is None:
        return None
    return json.dumps(contract.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def notebook_record(plan: ServingPlan) -> NotebookRecord:
    """artifacts/notebook.json: the notebook the image was built from. It lies in the state's
    layers, not in app/, since saving the notebook after a re-training changes it."""
    return NotebookRecord(
        path=Path(plan.notebook).name,
        sha256=plan.notebook_sha256,
        code_sha256=code_sha256(plan.cells),
        cells=tuple(plan.cells),
    )


def state_digest(state: tuple) -> StateRecord:
    """The captured state's files and their sha256, and one sha256 over them all, so a live
    kernel's capture can be compared with what an image serves."""
    files = {item["file"]: item["sha256"] for item in state if "sha256" in item}
    listing = "".join(f"{name}\0{digest}\n" for name, digest in sorted(files.items()))
    return StateRecord(sha256=hashlib.sha256(listing.encode()).hexdigest(), files=files)


#: Names no notebook: notebooks that ran in the same environment get the same lock, so their
#: images share the dependency layers and only the first build installs them.
LOCK_HEADER = (
    "# Exact versions the notebook's kernel ran, as the trial run proved the model answers with.\n"
    "# Generated by jupyter-mlcontainer; install with\n"
    "# pip install --no-deps --no-index --find-links wheels -r requirements.lock\n"
)


def content_hash(context: Path, leave_out: tuple = ()) -> str:
    """A short hash of the context's files (the lock stands for the wheels), but for the top
    level entries `leave_out`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        relative = path.relative_to(context).as_posix()
        top = relative.split("/", 1)[0]
        if top in ("wheels", REPORT_FILE, *leave_out):
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def below_state_hash(context: Path) -> str:
    """A short hash of what the layers under the state are built from: the context without
    the wheels and STATE_ENTRIES, and the Dockerfile up to its first state step (after it come
    only the state, the check and the labels, which name the notebook's hash)."""
    dockerfile = (Path(context) / "Dockerfile").read_text(encoding="utf-8")
    below = dockerfile.split(f"\n{FIRST_STATE_STEP}\n", 1)[0]
    leave_out = (*STATE_ENTRIES, "Dockerfile")
    digest = hashlib.sha256(f"{content_hash(context, leave_out)}\0{below}".encode())
    return digest.hexdigest()[:12]


def state_archive(context: Path) -> bytes:
    """The context's STATE_ENTRIES as a tar for /srv, as `COPY` puts them there: owned by
    root, modes kept, in a stable order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in STATE_ENTRIES:
            top = Path(context) / entry
            # a folder's own entry is left out: COPY keeps the one the image already has
            for path in sorted(top.rglob("*")) if top.is_dir() else [top]:
                info = archive.gettarinfo(str(path), path.relative_to(context).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(path, "rb") if info.isfile() else contextlib.nullcontext() as data:
                    archive.addfile(info, data)
    return buffer.getvalue()


def is_context(entries: set) -> bool:
    """Do a folder's entries make a build context, marker included, and nothing else? Only
    such a folder is ever emptied or removed."""
    return CONTEXT_MARKER in entries and entries <= CONTEXT_ENTRIES


def prepare_destination(destination: Path) -> Path:
    """Create the context folder, or empty one an earlier build wrote; return the folder
    capture writes state into.

    Only a context's own entries are ever deleted, and only from a folder that carries the
    marker and holds nothing else, so a mistaken `--out .` cannot delete anybody's files."""
    destination = Path(destination)
    if destination.is_symlink() or (destination.exists() and not destination.is_dir()):
        raise ContextFolderRefused(
            f"{destination} is a link or a file, not a folder.",
            "Give the path of a new or empty folder for the build context.",
        )
    entries = {path.name for path in destination.iterdir()} if destination.exists() else set()
    if entries and not is_context(entries):
        others = ", ".join(sorted(entries - CONTEXT_ENTRIES)) or ", ".join(sorted(entries))
        raise ContextFolderRefused(
            f"{destination} already holds files that are not a build context: {others}.",
            "Write the context to a new or empty folder; it is replaced on every build.",
        )
    for name in entries:
        path = destination / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    state = destination / "artifacts" / "state"
    state.mkdir(parents=True)
    _write(
        destination / CONTEXT_MARKER,
        "A build context written by jupyter-mlcontainer; every build replaces it.\n",
    )
    return state


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        target.hardlink_to(source)
    except OSError:
        shutil.copyfile(source, target)


def _json(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
