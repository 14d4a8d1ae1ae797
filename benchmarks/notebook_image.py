"""An image built through the project's own pipeline from a notebook of a few lines.

Benchmarks that compare serving stacks start from a notebook as a user would, so the image
measured is the one `jupyter mlcontainer build` makes, not one assembled by hand.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import nbformat

from jupyter_mlcontainer.engine.baseimage import base_image_tag
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.workflow.build import containerize

#: The iris notebook of a few lines that the benchmarks serve: it defines `model`.
IRIS = """from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=1000).fit(X, y)
"""


@dataclass
class NotebookImage:
    tag: str
    context: Path  # the build context: artifacts/state holds the captured `model`
    sample: dict  # sample.json: the request and the notebook's own answer


def build_notebook_image(source: str, name: str, work: Path, labels: dict) -> NotebookImage:
    """Write `source` as a one-cell notebook that defines `model`, and build it serving
    `model.predict`."""
    notebook = work / f"{name}.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), notebook)
    base = os.environ.get("MLCONTAINER_BASE_IMAGE") or base_image_tag()
    context = work / f"{name}-context"
    result = containerize(
        ExportOptions(notebook=str(notebook), model="model", name=name),
        config=MLContainerConfig(base_image=base, labels=labels),
        out_dir=str(context),
    )
    sample = json.loads((context / "sample.json").read_text())
    return NotebookImage(result.tag, context, sample)
