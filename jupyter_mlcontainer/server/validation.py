"""Request bodies and notebook paths checked before anything runs, with errors that say what was expected."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath, PureWindowsPath

from ..deploy.plan import DeployOptions, PushOptions
from ..pipeline.plan import ExportOptions
from ..shared.errors import HiddenPath, InvalidRequest, NotebookNotFound, PathOutsideRoot
from ..workflow.options import json_fields, options_from, required_fields

#: The body of POST /mlcontainer/jobs: field → (accepted type, what the field must be); the
#: build options come from their one declaration on ExportOptions.
JOB_FIELDS = {
    "path": (str, "the notebook's path relative to the server root"),
    **json_fields(ExportOptions),
    "kernel_id": (str, "the id of the notebook's running kernel"),
}
JOB_REQUIRED = ("path",)
#: Where the body's default differs from the option's: a build from JupyterLab starts its image.
JOB_DEFAULTS = {"run": True}
#: The host ports a job's `port` may name (0 picks a free one).
PORT_RANGE = (0, 65535)

#: The bodies of POST /mlcontainer/push and POST /mlcontainer/deployments, from their declarations.
PUSH_FIELDS = json_fields(PushOptions)
DEPLOY_FIELDS = json_fields(DeployOptions)
#: The body of PATCH /mlcontainer/deployments/<name>.
SCALE_FIELDS = {"replicas": (int, "the number of replicas wanted")}
#: The body of POST /mlcontainer/deployments/<name>/rollout.
ROLLOUT_FIELDS = {"image": (str, "the image to roll out (default: the notebook's latest build)")}


def parse_json_body(raw: bytes) -> dict:
    try:
        body = json.loads(raw or b"null")
    except ValueError as error:
        raise InvalidRequest(
            f"The request body is not JSON: {error}", "Send a JSON object."
        ) from error
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", "Send a JSON object.")
    return body


def read_options(body: dict, declaration: type):
    """A deploy's or a push's options from a REST body, checked against their declaration."""
    given = check_fields(body, json_fields(declaration), required_fields(declaration))
    return options_from(declaration, given)


def check_fields(body: dict, fields: dict, required: tuple = ()) -> dict:
    """The fields of `body` that are set, each of its expected type; unknown or mistyped ones are refused."""
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise InvalidRequest(f"Unknown field(s): {', '.join(unknown)}.", _expected(fields))
    given = {key: value for key, value in body.items() if value is not None}
    for key in required:
        if key not in given:
            raise InvalidRequest(f"The field {key!r} is required.", _expected(fields))
    for key, value in given.items():
        kind, description = fields[key]
        if not _is_json(value, kind):
            raise InvalidRequest(f"The field {key!r} must be {description}.", _expected(fields))
    return given


def _is_json(value, kind: type) -> bool:
    """Types as JSON has them: `true` is no number (though bool is an int in Python), and any
    number is a float."""
    if isinstance(value, bool):
        return kind is bool
    return isinstance(value, (int, float) if kind is float else kind)


def _expected(fields: dict) -> str:
    return "Expected a JSON object with: " + "; ".join(
        f"{key} ({kind.__name__}): {description}" for key, (kind, description) in fields.items()
    )


def resolve_notebook(root_dir: str, relative: str, allow_hidden: bool = False) -> Path:
    """The notebook at `relative` under `root_dir`, refusing anything that leaves the root,
    and hidden files unless the server serves them (`ContentsManager.allow_hidden`)."""
    if "\x00" in relative:
        raise InvalidRequest("The path contains a NUL character.", "Give the notebook's path.")
    if (
        PurePosixPath(relative).is_absolute()
        or PureWindowsPath(relative).is_absolute()
        or relative.startswith("\\")
    ):
        raise PathOutsideRoot(
            f"{relative!r} is an absolute path.",
            "Give the notebook's path relative to the server root.",
        )
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    if ".." in parts:
        raise PathOutsideRoot(
            f"{relative!r} leaves the server root.",
            "Give a path inside the directory Jupyter serves.",
        )
    if not allow_hidden and any(part.startswith(".") for part in parts):
        raise HiddenPath(
            f"{relative!r} is a hidden file or lies in a hidden folder.",
            "Move the notebook out of it, or start the server with "
            "--ContentsManager.allow_hidden=True.",
        )
    root = Path(root_dir).resolve()
    resolved = (root / Path(*parts)).resolve() if parts else root
    if not resolved.is_relative_to(root):
        raise PathOutsideRoot(
            f"{relative!r} resolves outside the server root.",
            "Links that point outside the served directory are not followed; copy the notebook in.",
        )
    if not resolved.is_file():
        raise NotebookNotFound(
            f"No notebook at {relative!r}.", "Check the path; it is relative to the server root."
        )
    if resolved.suffix != ".ipynb":
        raise InvalidRequest(
            f"{relative!r} is not a notebook (.ipynb).", "Give the path of an .ipynb file."
        )
    return resolved


def read_job_request(
    body: dict, root_dir: str, allow_hidden: bool = False
) -> tuple[ExportOptions, str | None]:
    """POST /mlcontainer/jobs body → the pipeline's options and the kernel to capture from."""
    given = check_fields(body, JOB_FIELDS, JOB_REQUIRED)
    if given.get("model") and given.get("entry"):
        raise InvalidRequest("Give either 'model' or 'entry', not both.", _expected(JOB_FIELDS))
    low, high = PORT_RANGE
    if not low <= given.get("port", low) <= high:
        raise InvalidRequest(
            f"The field 'port' must be between {low} and {high}.", _expected(JOB_FIELDS)
        )
    for key, (kind, description) in JOB_FIELDS.items():
        if kind is list and not all(isinstance(item, str) for item in given.get(key, [])):
            raise InvalidRequest(f"The field {key!r} must be {description}: a list of strings.")
    notebook = resolve_notebook(root_dir, given.pop("path"), allow_hidden)
    kernel_id = given.pop("kernel_id", None)
    values = {key: value for key, value in given.items() if value != ""}
    options = options_from(
        ExportOptions, values, notebook=str(notebook), run=given.get("run", JOB_DEFAULTS["run"])
    )
    return options, kernel_id
