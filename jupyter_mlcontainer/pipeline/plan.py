"""Plain data passed between the pipeline's stages: no I/O, nothing that needs Jupyter."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


def option(
    default, help: str, metavar: str = "", instance: bool = False, flag: str = "", choices=()
):
    """An option of a build (or a deploy, a push: deploy/plan.py): its default and help,
    declared once. Every front door (CLI flags, magic arguments, REST body fields, exporter
    traits) is derived from these declarations by `jupyter_mlcontainer.workflow.options`; a default of
    `dataclasses.MISSING` makes it required. `instance` options only matter when an instance is
    started (the exporter, which writes a context, has no use for them); `flag` overrides the
    derived command-line flag; `choices` are the only values a string option takes."""
    metadata = {
        "help": help,
        "metavar": metavar,
        "instance": instance,
        "flag": flag,
        "choices": tuple(choices),
    }
    return field(default=default, metadata=metadata)


#: What the data contract's check does at serving (runtime/admission.py).
CONTRACT_MODES = ("enforce", "warn", "off")
#: How a started instance's API can be locked (running/tokens.py, runtime/auth.py).
AUTH_KINDS = ("token",)


@dataclass(frozen=True, kw_only=True)
class ServingOptions:
    """How a started instance (or each replica) serves: the data contract's check, the last
    requests kept in memory (opt-in) and the lock on its API."""

    contract: str | None = option(
        None,
        "what the data contract does with a value training never had: enforce (answer 422, "
        "the default), warn (answer and count it) or off",
        metavar="MODE",
        instance=True,
        choices=CONTRACT_MODES,
    )
    capture_requests: int | None = option(
        None,
        "keep the last N rows and answers in the instance's memory, for inst.requests() and "
        "inst.compare(model) (default: off)",
        metavar="N",
        instance=True,
    )

    auth: str | None = option(
        None,
        "token: lock every route but the probes with a bearer token, made now and shown once "
        "(required where the engine publishes beyond 127.0.0.1)",
        metavar="KIND",
        instance=True,
        choices=AUTH_KINDS,
    )
    insecure_no_auth: bool = option(
        False,
        "serve unlocked even where the engine publishes beyond 127.0.0.1",
        instance=True,
    )

    def __post_init__(self):
        from ..shared.errors import InvalidRequest

        if self.auth is not None and self.auth not in AUTH_KINDS:
            raise InvalidRequest(
                f"--auth {self.auth!r} is not a kind of lock.",
                f"Give one of {', '.join(AUTH_KINDS)}.",
            )
        if self.contract is not None and self.contract not in CONTRACT_MODES:
            raise InvalidRequest(
                f"--contract {self.contract!r} is not a mode.",
                f"Give one of {', '.join(CONTRACT_MODES)}.",
            )
        if self.capture_requests is not None and self.capture_requests < 0:
            raise InvalidRequest(
                f"--capture-requests {self.capture_requests} is negative.",
                "Give how many rows to keep, or leave it out.",
            )

    def environment(self) -> dict:
        """The runtime's environment variables for what was asked."""
        from ..runtime.admission import MODE_VARIABLE
        from ..runtime.watch import CAPTURE_VARIABLE

        given = {MODE_VARIABLE: self.contract, CAPTURE_VARIABLE: self.capture_requests}
        return {key: str(value) for key, value in given.items() if value is not None}


@dataclass(frozen=True)
class ExportOptions(ServingOptions):
    """What every front door asks of the pipeline. Stages read it and never change it."""

    notebook: str
    model: str | None = option(None, "serve VAR.<method>(inputs)", metavar="VAR")
    entry: str | None = option(
        None, "serve the function NAME(inputs) (default: predict)", metavar="NAME"
    )
    method: str = option(
        "predict", "the model method to serve, e.g. predict_proba (default: predict)", "NAME"
    )
    sample: str | None = option(
        None,
        "an expression giving a sample input, evaluated in the kernel, e.g. 'X_test[:3]' "
        "(default: the first 3 rows of what the notebook last passed to the entry function, "
        "else to the model's last .fit, else to its last call of the method)",
        metavar="EXPR",
    )
    name: str | None = option(
        None,
        "image and instance name, folded to what Docker accepts (default: the notebook's "
        "file name)",
        metavar="NAME",
    )
    base_image: str | None = option(
        None,
        "base image (default: configured, else python:X.Y-slim or the offline one)",
        metavar="IMG",
    )
    system_packages: tuple = option(
        (),
        "a Debian package to install in the image, for a shared library the wheels need that "
        "is not resolved on its own (repeatable)",
        metavar="NAME",
        flag="--system-package",
    )
    keep_gpu_packages: bool = option(
        False,
        "keep GPU-only packages the trial run never loaded (nvidia-*) and GPU builds that have "
        "a CPU-only one (xgboost)",
    )
    with_packages: tuple = option(
        (),
        "keep PACKAGE (a distribution of the kernel's environment) in the image although the "
        "trial run proves the model answers without it (repeatable)",
        metavar="PACKAGE",
        flag="--with",
    )
    allow_secrets: bool = option(
        False,
        "build even though the served code, a captured value or a copied file looks like it "
        "holds a credential (checked with detect-secrets)",
    )
    no_cache: bool = option(False, "rebuild every image layer")
    explain: bool = option(
        False,
        "print the slice report (what goes into the image and why) and stop before building",
    )
    run: bool = option(False, "start the image on 127.0.0.1 and check parity", instance=True)
    port: int | None = option(
        None,
        "host port on 127.0.0.1; 0 picks a free one (default: configured, 0)",
        metavar="N",
        instance=True,
    )

    def __post_init__(self):
        super().__post_init__()
        if self.model and self.entry:
            from ..shared.errors import NotebookError

            raise NotebookError(
                f"Both a model ({self.model}) and an entry function ({self.entry}) were given.",
                "Give one of them: a model variable, or a function to serve.",
            )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StatementVerdict:
    """Why the analyse stage kept or dropped one top-level statement of the notebook."""

    cell: int  # index of the cell in the notebook
    line: str  # the statement's first line, as written in the cell
    kept: bool
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ServingPlan:
    """What the analyse stage decided: the code to copy and the state to capture."""

    notebook: str  # path as given
    notebook_sha256: str
    name: str  # image, instance and context folder name, folded to what Docker accepts
    entry_kind: str  # "function" | "model"
    entry_name: str
    method: str
    code: tuple = ()  # source of kept top-level statements, in order
    defined: tuple = ()  # names the kept statements define
    state: tuple = ()  # global names captured by value
    imports: tuple = ()  # top-level modules the kept code imports
    local_modules: tuple = ()  # .py files beside the notebook
    files: tuple = ()  # notebook-relative files the kept code reads
    loaded: tuple = ()  # names the kept code loads from those files
    sample_expression: str | None = None  # given, or inferred from the notebook's own calls
    sample_rows: int | None = None  # take the first rows of an inferred sample
    training_expression: str | None = None  # the data the model was fitted on (the contract's)
    training_source: str = ""  # where that data was found, said to a person (pipeline/profile.py)
    contract_overrides: dict = field(default_factory=dict)  # metadata["mlcontainer"]["contract"]
    warnings: tuple = ()
    cells: tuple = ()  # per code cell: index, id, sha256, first_line (`cells.code_cell_hashes`)
    verdicts: tuple = ()  # one StatementVerdict per top-level statement, in notebook order


@dataclass(frozen=True)
class CaptureRequest:
    """What the capture stage asks of the kernel. It crosses the kernel boundary as JSON."""

    state: tuple  # global names to capture by value
    entry: dict  # what is served: runtime.spec.Entry.to_dict()
    sample: str | None  # the sample's expression, evaluated in the kernel
    out_dir: str  # absolute; the state goes to its `state/`
    sample_rows: int | None = None  # take the first rows of an inferred sample
    training: str | None = None  # the data the model was fitted on, measured for the contract
    modules: tuple = ()  # third-party imports of the kept code and the modules beside it
    loaded: tuple = ()  # names the kept code loads from files, whose pickles may import more

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CaptureRequest:
        data = json.loads(text)
        lists = ("state", "modules", "loaded")
        return cls(**{k: tuple(v) if k in lists else v for k, v in data.items()})


@dataclass(frozen=True)
class Capture:
    """What the capture stage took from the kernel. It crosses the kernel boundary as JSON."""

    python: str  # major.minor of the kernel's Python, which selects the base image
    python_full: str
    executable: str  # the kernel's interpreter, which runs the trial
    state: tuple  # per saved variable: name, file, format, serializer, modules, main_references, sha256
    input: dict  # how the runtime rebuilds the input from JSON (see docs/architecture.md)
    request: dict  # the sample as a request body
    expected: dict  # the notebook's own answer to it
    modules: tuple  # modules a static reading of the code, pickles and input says it needs
    batching: dict = field(default_factory=lambda: {"enabled": False})  # see pipeline/batching.py
    probe: dict | None = None  # rows of the data the sample came from, answered: pipeline/probes.py
    contract: dict | None = None  # DataContract.to_dict() of that data: pipeline/profile.py

    @property
    def sample(self) -> dict:
        return {"request": self.request, "expected": self.expected}

    def main_references(self) -> set:
        """Names defined in the notebook (`__main__`) that the pickles refer to."""
        return {name for item in self.state for name in item["main_references"]}

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Capture:
        data = json.loads(text)
        return cls(**{**data, "state": tuple(data["state"]), "modules": tuple(data["modules"])})


@dataclass(frozen=True)
class Environment:
    """What the image installs: Python distributions and Debian packages, and why."""

    packages: dict  # distribution → exact version, as the trial run proved them
    wheels: tuple | None = None  # their files; None: pip reaches an index during the build
    system_packages: tuple = ()  # Debian packages for shared libraries the wheels need
    providers: dict = field(default_factory=dict)  # top-level module → its distributions
    required_by: dict = field(default_factory=dict)  # distribution → one that requires it
    imported: tuple = ()  # top-level modules the trial run saw the model import
    requirements: tuple = ()  # requirement lines read beside the notebook
    kept: tuple = ()  # distributions kept with --with
    excluded: dict = field(default_factory=dict)  # distribution the trial left out → why
