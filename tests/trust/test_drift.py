"""The pure comparison: recorded cells and pins against what is there now."""

from __future__ import annotations

import json

import pytest

from jupyter_mlcontainer.trust.drift import compare_cells, compare_packages, drift_report


def cell(index, sha, first="", id=None):
    return {"index": index, "id": id, "sha256": sha, "first_line": first or f"line {sha}"}


def kinds(changes):
    return [(c.kind, c.index) for c in changes]


def test_without_ids_cells_match_by_order_and_source():
    before = [cell(0, "a"), cell(1, "b"), cell(3, "c")]
    after = [cell(0, "a"), cell(1, "B"), cell(2, "c"), cell(3, "d")]
    assert kinds(compare_cells(before, after)) == [("changed", 1), ("added", 3)]
    assert kinds(compare_cells(before, before[:1])) == [("removed", 1), ("removed", 3)]


def test_with_ids_moves_and_edits_are_told_apart():
    before = [cell(0, "a", id="x"), cell(1, "b", id="y"), cell(2, "c", id="z")]
    after = [cell(0, "c", id="z"), cell(1, "a", id="x"), cell(2, "B", id="y")]
    changes = compare_cells(before, after)
    assert sorted(kinds(changes)) == [("changed", 2), ("moved", 0)]


def test_packages_compare_by_normalised_name():
    pinned = {"scikit-learn": "1.5.0", "numpy": "2.0.0", "Typing_Extensions": "4.0"}
    installed = {"scikit_learn": "1.5.0", "numpy": "2.1.0", "typing-extensions": None}
    assert [c.describe() for c in compare_packages(pinned, installed)] == [
        "Typing_Extensions 4.0 → missing",
        "numpy 2.0.0 → 2.1.0",
    ]


#: One code cell, unchanged since the build.
SAME_NOTEBOOK = dict(
    name="m",
    image="i",
    notebook="n.ipynb",
    python="p",
    recorded_cells=[cell(0, "a")],
    recorded_sha256="1",
    current_cells=[cell(0, "a")],
    current_sha256="1",
)


def test_the_status_puts_the_notebook_first():
    report = drift_report(
        **{**SAME_NOTEBOOK, "current_cells": [cell(0, "b")], "current_sha256": "2"},
        pinned={"numpy": "2.0.0"},
        installed={},
    )
    assert report.status == "notebook-changed"
    assert report.summary() == "notebook changed, environment drifted"
    assert report.to_dict()["details"] == ["cell 0 changed: line b", "numpy 2.0.0 → missing"]


def test_an_image_without_cell_hashes_compares_the_whole_file():
    common = dict(name="m", image="i", notebook="n", python="p", pinned={}, installed={})
    old = drift_report(
        **common, recorded_cells=None, recorded_sha256="1", current_cells=[], current_sha256="2"
    )
    assert old.status == "notebook-changed" and old.notes
    same = drift_report(
        **common, recorded_cells=None, recorded_sha256="1", current_cells=[], current_sha256="1"
    )
    assert same.status == "up-to-date"


def test_a_value_changed_in_the_kernel_is_a_changed_model(tmp_path):
    from jupyter_mlcontainer.pipeline.capture import save_state
    from jupyter_mlcontainer.pipeline.render import state_digest
    from jupyter_mlcontainer.trust.drift import MODEL_CHANGED
    from jupyter_mlcontainer.trust.provenance import state_changes

    weights = {"w": [1.0, 2.0]}
    record = state_digest((save_state("weights", weights, tmp_path),))
    assert state_changes(record, {"weights": {"w": [1.0, 2.0]}}) == []
    assert state_changes(record, {"weights": {"w": [1.0, 3.0]}}) == [
        "weights differs from the captured one (re-trained or changed)"
    ]
    assert state_changes(record, {}) == ["weights: no longer defined in the kernel"]

    report = drift_report(
        **{**SAME_NOTEBOOK, "pinned": {}, "installed": {}},
        state=("weights differs from the captured one",),
    )
    assert report.status == MODEL_CHANGED and report.summary() == "model changed in the kernel"
    assert report.details() == ["weights differs from the captured one"]


class RecordedImage:
    """An engine that holds the files of images, as `read_image_files` answers for them."""

    def __init__(self, images: dict):
        self.images = images

    def image_id(self, image):
        return image

    def image_labels(self, image):
        return {}

    def read_image_files(self, image, paths, optional=()):
        return {path: self.images[image].get(path) for path in paths}


def test_an_images_records_read_alike_in_serving_json_or_beside_the_state():
    """Images built before artifacts/notebook.json and artifacts/state.json kept the records in
    serving.json; a check reads both layouts, and refuses a serving.json that is no spec."""
    from jupyter_mlcontainer.shared.errors import ForeignImage
    from jupyter_mlcontainer.trust.provenance import (
        NOTEBOOK_JSON,
        SERVING_JSON,
        STATE_JSON,
        recorded,
    )

    serving = {"entry": {"kind": "function", "name": "predict"}, "packages": {"numpy": "2.4.6"}}
    notebook = {"path": "n.ipynb", "sha256": "ab" * 32, "cells": [cell(0, "a")]}
    state = {"sha256": "cd" * 32, "files": {"model.joblib": "ef" * 32}}
    engine = RecordedImage(
        {
            "older": {SERVING_JSON: json.dumps({**serving, "notebook": notebook, "state": state})},
            "newer": {
                SERVING_JSON: json.dumps(serving).encode(),
                NOTEBOOK_JSON: json.dumps(notebook).encode(),
                STATE_JSON: json.dumps(state).encode(),
            },
            "foreign": {SERVING_JSON: b'{"model": "x"}'},
        }
    )
    _, older = recorded(engine, "older")
    _, newer = recorded(engine, "newer")
    assert older == newer and newer.packages == {"numpy": "2.4.6"}
    assert list(newer.notebook.cells) == notebook["cells"] and newer.state.files == state["files"]
    with pytest.raises(ForeignImage, match="not a serving spec"):
        recorded(engine, "foreign")
