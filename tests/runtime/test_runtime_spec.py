"""serving.json as typed values: what a build writes reads back the same, what older builds
wrote still reads, and a file that is no serving spec is refused with a message."""

from __future__ import annotations

import json

import pytest

from jupyter_mlcontainer.runtime.spec import (
    Batching,
    Entry,
    InputSpec,
    NotebookRecord,
    ServingSpec,
    SpecError,
    StateRecord,
)

CELLS = ({"index": 0, "id": "6302e984", "sha256": "a2" * 32, "first_line": "import x"},)
SPEC = ServingSpec(
    entry=Entry("model", "clf", "predict_proba"),
    input=InputSpec("dataframe", ("age", "city"), {"age": "int64", "city": "object"}),
    name="churn",
    batching=Batching(True, 512, 2),
    python="3.11",
    packages={"scikit-learn": "1.9.1", "numpy": "2.4.6"},
    generator="jupyter-mlcontainer 0.1.0",
    notebook=NotebookRecord("churn.ipynb", "ab" * 32, "cd" * 32, CELLS),
    state=StateRecord("ef" * 32, {"clf.joblib": "01" * 32}),
)

#: What pipeline/render.py wrote before serving.json was typed (its dict, `json.dumps(indent=2)`).
RENDERED_BEFORE = """{
  "module": "notebook_code",
  "name": "iris_classifier",
  "entry": {
    "kind": "function",
    "name": "predict"
  },
  "input": {
    "kind": "ndarray",
    "dtype": "float64",
    "shape": [
      null,
      4
    ]
  },
  "batching": {
    "enabled": true,
    "max_batch": 512,
    "max_wait_ms": 2
  },
  "python": "3.11",
  "packages": {
    "numpy": "2.4.6",
    "scikit-learn": "1.9.1"
  },
  "generator": "jupyter-mlcontainer 0.1.0"
}
"""

#: Images built before artifacts/notebook.json and artifacts/state.json kept both records here.
WITH_RECORDS = {
    "module": "notebook_code",
    "name": "loop-50",
    "entry": {"kind": "model", "name": "clf", "method": "predict"},
    "input": {"kind": "list"},
    "batching": {"enabled": False},
    "notebook": {"path": "loop.ipynb", "sha256": "aa" * 32, "code_sha256": "bb" * 32, "cells": []},
    "python": "3.11",
    "packages": {},
    "state": {"sha256": "cc" * 32, "files": {"clf.joblib": "dd" * 32}},
    "generator": "jupyter-mlcontainer 0.1.0",
}

#: The first serving.json: no name, no batching, a notebook record without cells.
FIRST = {
    "module": "notebook_code",
    "entry": {"kind": "function", "name": "predict"},
    "input": {"kind": "tensor", "dtype": "float32", "shape": [None, 3]},
    "notebook": {"path": "net.ipynb", "sha256": "ee" * 32},
    "python": "3.11",
    "packages": {"torch": "2.13.0"},
    "generator": "jupyter-mlcontainer 0.1.0",
}


def test_a_spec_reads_back_as_it_was_written():
    text = SPEC.to_json()
    assert ServingSpec.from_json(text) == SPEC
    assert ServingSpec.from_json(text).to_json() == text


def test_the_bytes_do_not_depend_on_the_order_values_were_given_in():
    shuffled = ServingSpec(
        entry=SPEC.entry,
        input=InputSpec("dataframe", ("age", "city"), {"city": "object", "age": "int64"}),
        name="churn",
        batching=SPEC.batching,
        python="3.11",
        packages={"numpy": "2.4.6", "scikit-learn": "1.9.1"},
        generator=SPEC.generator,
        notebook=SPEC.notebook,
        state=SPEC.state,
    )
    assert shuffled.to_json() == SPEC.to_json()
    assert list(json.loads(SPEC.to_json())["input"]["columns"]) == ["age", "city"]


def test_a_spec_without_records_leaves_them_out_and_merged_records_win():
    """serving.json names no records it does not hold (the build's own: tests/pipeline/
    test_trial.py); records merged in from beside the state win over any it held."""
    data = json.loads(ServingSpec(Entry("function", "predict")).to_json())
    assert "notebook" not in data and "state" not in data
    spec = ServingSpec.from_dict(WITH_RECORDS).with_records(notebook=SPEC.notebook.to_json())
    assert spec.notebook == SPEC.notebook
    assert spec.state.files == {"clf.joblib": "dd" * 32}


def test_what_render_wrote_before_reads_as_it_meant():
    spec = ServingSpec.from_json(RENDERED_BEFORE)
    assert spec.entry == Entry("function", "predict")
    assert spec.input == InputSpec("ndarray", dtype="float64", shape=(None, 4))
    assert spec.batching == Batching(True, 512, 2)
    assert (spec.module, spec.name, spec.python) == ("notebook_code", "iris_classifier", "3.11")
    assert spec.packages == {"numpy": "2.4.6", "scikit-learn": "1.9.1"}
    assert spec.generator_version == "0.1.0"
    assert spec.notebook == NotebookRecord() and spec.state == StateRecord()
    assert spec.metadata()["notebook"] is None


def test_older_files_take_defaults_for_what_they_lack():
    spec = ServingSpec.from_dict(WITH_RECORDS)
    assert spec.batching == Batching(enabled=False) and spec.input == InputSpec()
    assert spec.notebook.cells == () and spec.state.sha256 == "cc" * 32
    first = ServingSpec.from_json(json.dumps(FIRST))
    assert first.name == "" and first.batching.enabled is False
    assert first.notebook == NotebookRecord("net.ipynb", "ee" * 32)  # cells None: not recorded
    assert first.input.shape == (None, 3) and first.input.dtype == "float32"
    assert ServingSpec.from_dict({"entry": FIRST["entry"]}).generator_version == "unknown"


def test_keys_a_newer_build_added_are_ignored():
    data = {
        **FIRST,
        "entry": {**FIRST["entry"], "signature": "(x)"},
        "input": {**FIRST["input"], "device": "cuda"},
        "future": {"anything": 1},
    }
    assert ServingSpec.from_dict(data) == ServingSpec.from_dict(FIRST)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", r"app/serving.json is not JSON"),
        ('{"request": {"instances": [[1]]}}', r"not a serving spec: it has no entry point"),
        ("[1, 2]", r"not a serving spec"),
        ('{"entry": "predict"}', r"app/serving.json's entry is str, not a JSON object"),
        ('{"entry": {"kind": "function"}}', r"app/serving.json's entry lacks 'name'"),
        ('{"entry": {"kind": "lambda", "name": "f"}}', r"entry kind 'lambda' is not"),
        (
            '{"entry": {"kind": "function", "name": "f"}, "input": {"kind": "image"}}',
            r"input kind 'image' is not one of dataframe, ndarray, tensor, list",
        ),
        (
            '{"entry": {"kind": "function", "name": "f"}, "input": {"kind": "ndarray", "shape": 4}}',
            r"app/serving.json's input's 'shape' is int, not a JSON array",
        ),
        (
            '{"entry": {"kind": "function", "name": "f"}, "input": {"kind": "dataframe", '
            '"columns": "abc"}}',
            r"app/serving.json's input's 'columns' is str, not a JSON array",
        ),
    ],
)
def test_a_file_that_is_no_serving_spec_is_refused_with_a_message(text, message):
    with pytest.raises(SpecError, match=message):
        ServingSpec.from_json(text)


def test_a_broken_record_is_named():
    with pytest.raises(SpecError, match=r"artifacts/state.json is not JSON"):
        SPEC.with_records(state="{")
