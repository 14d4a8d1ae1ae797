"""A notebook for the slice report's tests: an unused plot, training whose model is captured,
a cell run out of order, a file read from outside the notebook's folder, a skipped cell, a
magic line, and metadata that widens a column of the data contract and names one the input
lacks."""

from __future__ import annotations

from pathlib import Path

import nbformat

CELLS = [
    (
        "import numpy as np\nimport matplotlib\nmatplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\nfrom sklearn.linear_model import LogisticRegression",
        [],
        1,
    ),
    ("lookup = np.loadtxt('../outside.csv', delimiter=',')", [], 2),
    ("X = np.random.RandomState(0).rand(30, 2)\ny = (X[:, 0] > 0.5).astype(int)", [], 3),
    ("plt.hist(X[:, 0])", [], 5),
    ("clf = LogisticRegression()\nclf.fit(X, y)", [], 4),
    (
        "SCALE = 1\n\ndef predict(rows):\n"
        "    return clf.predict(np.asarray(rows) * SCALE) + 0 * int(lookup.sum())",
        [],
        6,
    ),
    ("print('debugging')", ["mlcontainer:skip"], 7),
    ("%ls", [], 8),
]

#: (cell, first line) → (kept, reason)
EXPECTED = {
    (0, "import numpy as np"): (True, "defines `np`, used by `predict`"),
    (0, "import matplotlib.pyplot as plt"): (False, "not needed by the entry point"),
    (1, "lookup = np.loadtxt('../outside.csv', delimiter=',')"): (
        False,
        "computes `lookup`, captured by value instead",
    ),
    (3, "plt.hist(X[:, 0])"): (False, "a plot"),
    (4, "clf = LogisticRegression()"): (False, "computes `clf`, captured by value instead"),
    (4, "clf.fit(X, y)"): (False, "training that the captured value replaces"),
    (5, "SCALE = 1"): (True, "defines `SCALE`, used by `predict`"),
    (5, "def predict(rows):"): (True, "defines `predict`, the entry point"),
    (6, "print('debugging')"): (False, "tagged mlcontainer:skip"),
    (7, "%ls"): (False, "a magic/shell line"),
}

#: The notebook's own word on the data contract (its metadata; nbformat writes keys sorted).
CONTRACT_OVERRIDES = {"0": {"low": 0, "high": 1}, "height": {"nullable": True}}

#: The slice report's data contract, as text, for the model fitted on `X` (30 random rows).
EXPECTED_CONTRACT = """\
Data contract, from the data passed to `clf.fit`, `X`: 30 rows, each an array of shape (2,):
  0              float     not nullable  0 to 1
  1              float     not nullable  0.0602255 to 0.944669
  (predictions)  category  not nullable  0, 1
  - override from the notebook's metadata: `0`: high 1
  - override from the notebook's metadata: `0`: low 0
  - it rests on 30 rows only: a value they lack may still be normal; widen a column in the \
notebook's metadata (docs/build.md, The data contract)
"""


def write_report_notebook(folder: Path) -> Path:
    """`folder/project/model.ipynb`, and `folder/outside.csv` that it reads."""
    (folder / "outside.csv").write_text("1,2\n3,4\n")
    project = folder / "project"
    project.mkdir()
    notebook = nbformat.v4.new_notebook()
    for source, tags, count in CELLS:
        notebook.cells.append(
            nbformat.v4.new_code_cell(source, metadata={"tags": tags}, execution_count=count)
        )
    notebook.metadata["mlcontainer"] = {"contract": CONTRACT_OVERRIDES}
    path = project / "model.ipynb"
    nbformat.write(notebook, path)
    return path
