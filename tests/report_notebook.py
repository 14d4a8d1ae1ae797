"""A notebook for the slice report's tests: an unused plot, training whose model is captured,
a cell run out of order, a file read from outside the notebook's folder, a skipped cell and a
magic line."""

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
    path = project / "model.ipynb"
    nbformat.write(notebook, path)
    return path
