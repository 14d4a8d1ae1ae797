"""The sample a build infers from the notebook's own calls, through a real headless kernel and
the trial run (no engine): what a function that prepares raw records was given in the notebook,
not the prepared rows its model was fitted on."""

from __future__ import annotations

import json

import nbformat

from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.workflow.build import containerize

CELLS = [
    "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression",
    "raw = pd.DataFrame({'name': ['Mr. A', 'Mrs. B', 'Miss C', 'Mr. D'] * 5,"
    " 'fare': [7.5, 71.0, 8.1, 53.0] * 5})\ny = [0, 1, 1, 0] * 5",
    "def prepare(frame):\n"
    "    return pd.DataFrame({'mr': frame['name'].str.startswith('Mr.').astype(int),"
    " 'fare': frame['fare']})",
    "model = LogisticRegression().fit(prepare(raw), y)",
    "def predict(passengers):\n    return model.predict(prepare(passengers)).tolist()",
    "predict(raw.tail(4))",
]


def test_a_function_that_prepares_raw_records_is_sampled_with_them(tmp_path, kernel):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nbformat.write(notebook, tmp_path / "passengers.ipynb")
    result = containerize(
        ExportOptions(notebook=str(tmp_path / "passengers.ipynb")),
        config=MLContainerConfig(base_image="python:3.11-slim"),
        out_dir=str(tmp_path / "context"),
        context_only=True,
    )
    sample = json.loads((tmp_path / "context" / "sample.json").read_text())
    assert sample["request"]["instances"][0] == {"name": "Mr. A", "fare": 7.5}  # raw.tail(4)[:3]
    assert len(sample["request"]["instances"]) == 3
    assert result.context == str(tmp_path / "context")
