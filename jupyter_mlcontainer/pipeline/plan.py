"""Plain data passed between the pipeline's stages: no I/O, nothing that needs Jupyter."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

#: Help for the options the CLI and the magic both take, so that they say the same thing.
OPTION_HELP = {
    "method": "the model method to serve, e.g. predict_proba (default: predict)",
    "sample": "an expression giving a sample input, evaluated in the kernel, e.g. 'X_test[:3]' "
    "(default: the first 3 rows passed to the model's last .fit)",
    "name": "image and instance name, folded to what Docker accepts "
    "(default: the notebook's file name)",
    "port": "host port on 127.0.0.1; 0 picks a free one (default: configured, 0)",
    "base_image": "base image (default: configured, else python:X.Y-slim or the offline one)",
    "system_package": "a Debian package to install in the image, for a shared library the "
    "wheels need that is not known (repeatable)",
    "keep_gpu_packages": "keep GPU-only packages the trial run never loaded (nvidia-*) and "
    "GPU builds that have a CPU-only one (xgboost)",
}


@dataclass
class ExportOptions:
    """What every front door asks of the pipeline."""

    notebook: str
    model: Optional[str] = None  # a model variable: serve model.<method>(inputs)
    entry: Optional[str] = None  # an entry function: serve entry(inputs); "predict" when neither
    method: str = "predict"
    sample: Optional[str] = None  # expression evaluated in the kernel, e.g. "X_test[:3]"
    name: Optional[str] = None  # image name; defaults to the notebook's file name
    base_image: Optional[str] = None  # overrides MLContainerConfig.base_image
    run: bool = False  # start a local instance after the build
    port: Optional[int] = None  # host port on 127.0.0.1; None uses the configured default
    system_packages: tuple = ()  # Debian packages to install in the image, beyond those found
    keep_gpu_packages: bool = False  # keep what only a GPU would load

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ServingPlan:
    """What the analyse stage decided: the code to copy and the state to capture."""

    notebook: str  # path as given
    notebook_sha256: str
    entry_kind: str  # "function" | "model"
    entry_name: str
    method: str
    code: list = field(default_factory=list)  # source of kept top-level statements, in order
    defined: list = field(default_factory=list)  # names the kept statements define
    state: list = field(default_factory=list)  # global names captured by value
    imports: list = field(default_factory=list)  # top-level modules the kept code imports
    local_modules: list = field(default_factory=list)  # .py files beside the notebook
    files: list = field(default_factory=list)  # notebook-relative files the kept code reads
    loaded: list = field(default_factory=list)  # names the kept code loads from those files
    sample_expression: Optional[str] = None  # given, or inferred from the last .fit(...)
    sample_rows: Optional[int] = None  # take the first rows of an inferred sample
    warnings: list = field(default_factory=list)


@dataclass(frozen=True)
class Environment:
    """What the image installs: Python distributions and Debian packages, and why."""

    packages: dict  # distribution → exact version, as the trial run proved them
    system_packages: tuple = ()  # Debian packages for shared libraries the wheels need
    notes: tuple = ()  # what was left out or swapped, for the build log
