"""What an image recorded about its notebook and kernel (labels, `/srv/app/serving.json`) and
what is there now (the notebook on disk, the kernel interpreter's packages), handed to
`drift.drift_report`."""

from __future__ import annotations

import hashlib
import sys
import tempfile
import threading
from pathlib import Path

from ..engine.base import KERNEL_PYTHON_LABEL, NOTEBOOK_LABEL, NOTEBOOK_SHA256_LABEL
from ..pipeline.versions import installed_versions
from ..runtime.spec import (
    NOTEBOOK_RECORD,
    SERVING_SPEC,
    STATE_RECORD,
    ServingSpec,
    SpecError,
    StateRecord,
)
from ..shared.errors import ForeignImage, InstanceNotFound
from .drift import DriftReport, drift_report

SERVING_JSON = f"/srv/{SERVING_SPEC}"
STATE_JSON = f"/srv/{STATE_RECORD}"
NOTEBOOK_JSON = f"/srv/{NOTEBOOK_RECORD}"

#: What an image recorded never changes, so it is read once per image id.
_recorded: dict[str, tuple[dict, ServingSpec]] = {}
_recorded_lock = threading.Lock()


def check_image(
    engine,
    name: str,
    python: str | None = None,
    notebook: str | None = None,
    namespace: dict | None = None,
) -> DriftReport:
    """Compare the image of instance `name` (or the image `name`) with its notebook and the
    packages of `python` (default: the interpreter that ran the notebook's kernel); and, given
    a live kernel's `namespace`, its captured values with the kernel's values now."""
    image = _image_of(engine, name)
    labels, serving = recorded(engine, image)
    notes = []
    path = notebook or labels.get(NOTEBOOK_LABEL, "")
    current_cells, current_sha256 = _notebook_now(path)
    python, note = _interpreter(python, labels.get(KERNEL_PYTHON_LABEL, ""))
    if note:
        notes.append(note)
    pinned = serving.packages
    cells = serving.notebook.cells
    return drift_report(
        name=name,
        image=image,
        notebook=path,
        python=python,
        recorded_cells=None if cells is None else list(cells),
        recorded_sha256=labels.get(NOTEBOOK_SHA256_LABEL) or serving.notebook.sha256,
        current_cells=current_cells,
        current_sha256=current_sha256,
        pinned=pinned,
        installed=installed_versions(python, pinned),
        state=tuple(state_changes(serving.state, namespace)) if namespace is not None else (),
        notes=tuple(notes),
    )


def state_changes(state: StateRecord, namespace: dict) -> list[str]:
    """Which captured values the kernel now holds differently from the image's record of its
    `state` (artifacts/state.json): each is saved again as the build saved it (the same
    canonical serializers) and its sha256 compared with the recorded one."""
    from ..pipeline.capture import save_state

    changes = []
    recorded_files = state.files
    with tempfile.TemporaryDirectory(prefix="mlcontainer-state-") as folder:
        for file, recorded_sha256 in sorted(recorded_files.items()):
            name = Path(file).stem
            if name not in namespace:
                changes.append(f"{name}: no longer defined in the kernel")
            elif save_state(name, namespace[name], Path(folder))["sha256"] != recorded_sha256:
                changes.append(f"{name} differs from the captured one (re-trained or changed)")
    return changes


def recorded(engine, image: str) -> tuple[dict, ServingSpec]:
    """The image's labels, and its serving spec with the records of the notebook and of the
    captured state, read through one container. Older images kept both records in
    serving.json itself; newer ones keep them beside the state (artifacts/)."""
    key = engine.image_id(image)
    with _recorded_lock:
        if key in _recorded:
            return _recorded[key]
    labels = engine.image_labels(image)
    records = (STATE_JSON, NOTEBOOK_JSON)
    files = engine.read_image_files(image, [SERVING_JSON, *records], optional=records)
    try:
        serving = ServingSpec.from_json(files[SERVING_JSON]).with_records(
            files[NOTEBOOK_JSON] or None, files[STATE_JSON] or None
        )
    except SpecError as error:
        raise ForeignImage(
            f"{image} has no record jupyter-mlcontainer can read: {error}.",
            "Check an image built from a notebook by jupyter-mlcontainer.",
        ) from None
    with _recorded_lock:
        _recorded[key] = (labels, serving)
    return labels, serving


def _image_of(engine, name: str) -> str:
    try:
        return engine.find_instance(name).image
    except InstanceNotFound as error:
        if engine.image_exists(name):
            return name
        raise InstanceNotFound(
            f"No instance or image is named {name!r}.",
            error.hint or "Give an instance name (`jupyter mlcontainer ls`) or an image.",
        ) from None


def _notebook_now(path: str) -> tuple[list | None, str | None]:
    """The notebook's code cells and sha256 now; (None, None) when it is not there."""
    from ..pipeline.analyse import read_notebook
    from ..pipeline.cells import code_cell_hashes

    if not path or not Path(path).is_file():
        return None, None
    notebook, raw = read_notebook(path)
    return list(code_cell_hashes(notebook.cells)), hashlib.sha256(raw).hexdigest()


def _interpreter(explicit: str | None, recorded_python: str) -> tuple[str, str]:
    if explicit:
        return explicit, ""
    if recorded_python and Path(recorded_python).exists():
        return recorded_python, ""
    reason = (
        f"the kernel's interpreter {recorded_python} is not there any more"
        if recorded_python
        else "the image does not record the kernel's interpreter"
    )
    return sys.executable, f"{reason}; compared with {sys.executable}"
