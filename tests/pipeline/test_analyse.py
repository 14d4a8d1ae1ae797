"""Statement-level slicing of notebooks, on small notebooks written by the tests."""

from __future__ import annotations

import nbformat
import pytest

from jupyter_mlcontainer.pipeline.analyse import (
    analyse_notebook,
    find_candidates,
    local_module_files,
    third_party_imports_of_files,
)
from jupyter_mlcontainer.pipeline.cells import python_source
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.shared.errors import NotebookError


def notebook(tmp_path, *cells, name="nb.ipynb", metadata=None):
    """Write a notebook whose cells are source strings or (source, tags, execution_count)."""
    nb = nbformat.v4.new_notebook(metadata=metadata or {})
    for cell in cells:
        source, tags, count = cell if isinstance(cell, tuple) else (cell, [], None)
        nb.cells.append(
            nbformat.v4.new_code_cell(source, metadata={"tags": tags}, execution_count=count)
        )
    path = tmp_path / name
    nbformat.write(nb, path)
    return str(path)


def plan_for(path, **options):
    return analyse_notebook(ExportOptions(notebook=path, **options))


def test_keeps_what_predict_needs_and_drops_exploration_and_training(tmp_path):
    path = notebook(
        tmp_path,
        "import numpy as np\nimport matplotlib.pyplot as plt\nfrom sklearn.linear_model import LogisticRegression",
        "X = np.random.rand(20, 2)\ny = (X[:, 0] > 0.5).astype(int)\nplt.hist(X[:, 0])\nprint(X.shape)",
        "THRESHOLD = 0.5\nUNUSED = 3\nclf = LogisticRegression().fit(X, y)",
        "def predict(X):\n    # X is the function's own parameter, not the notebook's data\n"
        "    return (clf.predict_proba(np.asarray(X))[:, 1] > THRESHOLD).astype(int)",
    )
    plan = plan_for(path)
    code = "\n".join(plan.code)
    assert plan.entry_kind == "function" and plan.entry_name == "predict"
    assert "import numpy as np" in code and "THRESHOLD = 0.5" in code
    assert "# X is the function's own parameter" in code
    for dropped in ("matplotlib", "plt.hist", "print(", "UNUSED", "LogisticRegression", ".fit("):
        assert dropped not in code
    assert list(plan.state) == ["clf"], "X must not be captured: predict's X is a parameter"
    assert list(plan.imports) == ["numpy"]
    assert plan.sample_expression == "X" and plan.sample_rows == 3


def test_one_cell_notebook_is_sliced_by_statement(tmp_path):
    path = notebook(
        tmp_path,
        "import numpy as np\nfrom sklearn.tree import DecisionTreeClassifier\n"
        "X = np.arange(20.0).reshape(10, 2)\ny = np.arange(10) % 2\n"
        "model = DecisionTreeClassifier(random_state=0).fit(X, y)\nprint(model.score(X, y))\n"
        "def predict(rows):\n    return model.predict(np.asarray(rows))\n",
    )
    plan = plan_for(path)
    assert list(plan.code) == [
        "import numpy as np",
        "def predict(rows):\n    return model.predict(np.asarray(rows))",
    ]
    assert list(plan.state) == ["model"]


def test_magics_shell_escapes_and_help_parse_and_never_reach_the_code(tmp_path):
    path = notebook(
        tmp_path,
        "%matplotlib inline\n!pip --version\nimport numpy as np\nfiles = !ls",
        "%%time\nSCALE = 2.0",
        "%%bash\necho not python",
        "np.mean?\n%time total = SCALE * 3",
        "def predict(X):\n    return np.asarray(X) * SCALE",
    )
    plan = plan_for(path)
    code = "\n".join(plan.code)
    assert "get_ipython" not in code and "%" not in code and "!" not in code
    assert list(plan.code) == [
        "import numpy as np",
        "SCALE = 2.0",
        "def predict(X):\n    return np.asarray(X) * SCALE",
    ]
    assert python_source("%%bash\necho hi") is None


def test_model_variable_entry_captures_the_model_and_defines_its_notebook_classes(tmp_path):
    path = notebook(
        tmp_path,
        "import numpy as np\nLIMIT = 1.0\nclass Clip:\n    def transform(self, X):\n        return np.clip(X, 0, LIMIT)",
        "clf = make_model(Clip())\nclf.fit(X_train, y_train)",
    )
    plan = plan_for(path, model="clf", method="predict_proba")
    assert plan.entry_kind == "model" and plan.method == "predict_proba"
    assert list(plan.state) == ["clf"] and list(plan.code) == []
    widened = analyse_notebook(ExportOptions(notebook=path, model="clf"), extra_roots=("Clip",))
    assert "LIMIT = 1.0" in widened.code and any(c.startswith("class Clip") for c in widened.code)
    assert plan.sample_expression == "X_train"


def test_an_entry_function_gets_the_input_the_notebook_last_passed_to_it(tmp_path):
    """The function prepares raw records: the rows its model was fitted on are the wrong
    input. Calls inside a function, a lambda or with `*args` say nothing of it."""
    path = notebook(
        tmp_path,
        "def prepare(frame):\n    return frame[COLUMNS]\nCOLUMNS = ['a']",
        "model = make_model()\nmodel.fit(prepare(raw), y)\nmodel.fit(X, y)",
        "def predict(records):\n    return model.predict(prepare(pd.DataFrame(records)))",
        "def check():\n    return predict(inside_a_function)",
        "print(predict(raw.head(3)))",
        "for _ in range(2):\n    predict(records=raw.tail(2))",
        "predict(*several)\ncallback = lambda: predict(in_a_lambda)",
    )
    plan = plan_for(path)
    assert (plan.sample_expression, plan.sample_rows) == ("raw.tail(2)", 3)
    assert plan_for(path, model="model").sample_expression == "X"  # a model: what it was fitted on
    never_called = notebook(
        tmp_path, "model = make_model()\nmodel.fit(X, y)", "def predict(rows):\n    return model"
    )
    assert plan_for(never_called).sample_expression == "X"


def test_a_model_with_no_fit_of_its_own_gets_what_the_notebook_last_served_it(tmp_path):
    path = notebook(
        tmp_path,
        "grid = GridSearchCV(SVC(), {'C': [1, 10]})\ngrid.fit(X_train, y_train)",
        "clf = grid.best_estimator_",
        "print(clf.predict(X_test))\nclf.predict_proba(X_valid)",
        "class Wrapper:\n    def score(self, X):\n        return self.predict(X)",
    )
    assert plan_for(path, model="clf").sample_expression == "X_test"
    assert plan_for(path, model="clf", method="predict_proba").sample_expression == "X_valid"
    found = find_candidates(path)
    assert (found["models"], found["sample"]) == (["grid", "clf"], "X_test")


def test_a_widened_slice_still_says_the_entry_point_is_kept_for_itself(tmp_path):
    """Capture widens the slice with what the pickles refer to plus what it kept before."""
    path = notebook(
        tmp_path,
        "SCALE = 2\nclass Net:\n    pass",
        "net = Net()",
        "def predict(rows):\n    return [net and row * SCALE for row in rows]",
    )
    plan = analyse_notebook(ExportOptions(notebook=path), extra_roots=("Net", "SCALE", "predict"))
    reasons = {v.line: v.reason for v in plan.verdicts}
    assert reasons["def predict(rows):"] == "defines `predict`, the entry point"
    assert reasons["SCALE = 2"] == "defines `SCALE`, used by `predict`"
    assert reasons["class Net:"] == "defines `Net`, which the captured state refers to"


def test_cell_tags_override_the_analysis(tmp_path):
    path = notebook(
        tmp_path,
        ("import warnings\nwarnings.filterwarnings('ignore')", ["mlcontainer:include"], None),
        ("def debug_dump(X):\n    print(X)", ["mlcontainer:skip"], None),
        "def predict(X):\n    debug_dump(X)\n    return X",
    )
    plan = plan_for(path)
    assert list(plan.code[:2]) == ["import warnings", "warnings.filterwarnings('ignore')"]
    assert not any("debug_dump(X):" in c for c in plan.code)


def test_later_definitions_win(tmp_path):
    path = notebook(tmp_path, "def predict(X):\n    return 1", "def predict(X):\n    return 2")
    assert list(plan_for(path).code) == ["def predict(X):\n    return 2"]


def test_loader_statements_ship_their_files(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.joblib").write_bytes(b"model bytes")
    path = notebook(
        tmp_path,
        "import joblib\nmodel = joblib.load('models/m.joblib')\nother = joblib.load('/etc/hostname')",
        "def predict(X):\n    return model.predict(X) if other else None",
    )
    plan = plan_for(path)
    assert "model = joblib.load('models/m.joblib')" in plan.code
    assert list(plan.files) == ["models/m.joblib"] and list(plan.loaded) == ["model"]
    assert list(plan.state) == ["other"], "files outside the notebook's folder are not copied"


def test_out_of_order_execution_warns(tmp_path):
    path = notebook(tmp_path, ("A = 1", [], 3), ("def predict(X):\n    return X", [], 1))
    [warning] = plan_for(path).warnings
    assert "out of order" in warning


def test_unparsable_cells_warn_instead_of_failing(tmp_path):
    path = notebook(tmp_path, "def broken(:\n    pass", "def predict(X):\n    return X")
    plan = plan_for(path)
    assert any("does not parse" in w for w in plan.warnings)
    assert list(plan.code) == ["def predict(X):\n    return X"]


def test_a_missing_entry_names_the_candidates(tmp_path):
    path = notebook(tmp_path, "clf = Model()\nclf.fit(X, y)", "def score(X):\n    return 1")
    with pytest.raises(NotebookError) as caught:
        plan_for(path)
    assert "--model clf" in caught.value.hint and "--entry score" in caught.value.hint
    with pytest.raises(NotebookError, match="never assigns"):
        plan_for(path, model="nope")


def test_broken_and_missing_notebooks_say_so(tmp_path):
    (tmp_path / "broken.ipynb").write_text("{not json")
    with pytest.raises(NotebookError, match="not a readable notebook"):
        plan_for(str(tmp_path / "broken.ipynb"))
    with pytest.raises(NotebookError, match="No notebook"):
        plan_for(str(tmp_path / "absent.ipynb"))


def test_notebook_metadata_supplies_defaults_and_candidates(tmp_path):
    path = notebook(
        tmp_path,
        "reg = Ridge()\nreg.fit(X_train, y_train)\nclf = Tree().fit(X_train, y_train)",
        "def predict(X):\n    return reg.predict(X)",
        metadata={"mlcontainer": {"model": "reg", "sample": "X_test[:2]"}},
    )
    plan = plan_for(path)
    assert (plan.entry_kind, plan.entry_name, plan.sample_expression) == (
        "model",
        "reg",
        "X_test[:2]",
    )
    candidates = find_candidates(path)
    assert candidates["models"] == ["reg", "clf"] and candidates["functions"] == ["predict"]
    assert candidates["sample"] == "X_test[:2]"


def test_local_packages_ship_whole_with_what_they_import(tmp_path):
    package = tmp_path / "featurelib"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "scale.py").write_text("import numpy\nfrom .sub.clip import clip\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "clip.py").write_text("import helpers\n")
    (package / "vocabulary.json").write_text('["a", "b"]')
    (package / "legacy.py").write_text("print 'python 2'\n")
    (tmp_path / "helpers.py").write_text("import scipy.special\n")
    (tmp_path / "unused.py").write_text("import pandas\n")
    path = notebook(
        tmp_path,
        "from featurelib.scale import scale\nimport unused",
        "def predict(rows):\n    return scale(rows)",
    )
    plan = plan_for(path)
    files = local_module_files(tmp_path, plan.local_modules)
    assert list(plan.local_modules) == ["featurelib"]
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "featurelib/__init__.py",
        "featurelib/legacy.py",
        "featurelib/scale.py",
        "featurelib/sub/__init__.py",
        "featurelib/sub/clip.py",
        "featurelib/vocabulary.json",
        "helpers.py",
    ]
    assert third_party_imports_of_files(files) == ["helpers", "numpy", "scipy"]


def test_a_statement_keeps_the_comment_that_closes_its_last_line():
    """A `# pragma: allowlist secret` must travel with its line; a line separator inside a
    string (which str.splitlines would split at) does not shift the lines."""
    import nbformat

    from jupyter_mlcontainer.pipeline.cells import parse_cells

    source = (
        'sep = "a\u2028b"\n'
        'key = "é"  # pragma: allowlist secret\n'
        "a = 1; b = 2  # both\n"
        "@staticmethod\ndef f():  # opens\n    return 1  # closes\n"
    )
    statements, problems = parse_cells([nbformat.v4.new_code_cell(source)])
    assert not problems
    assert [s.source for s in statements] == [
        'sep = "a\u2028b"',
        'key = "é"  # pragma: allowlist secret',
        "a = 1",
        "b = 2  # both",
        "@staticmethod\ndef f():  # opens\n    return 1  # closes",
    ]


def test_what_a_tagged_cell_makes_is_made_again_in_the_image_not_captured(tmp_path):
    path = notebook(
        tmp_path,
        ("import threading\nlock = threading.Lock()", ["mlcontainer:include"], None),
        "log = open('log.txt', 'w')",
        "def predict(X):\n    with lock:\n        return X",
    )
    plan = plan_for(path)
    assert "lock = threading.Lock()" in plan.code
    assert list(plan.state) == [], "neither the tagged cell's lock nor the unused file"
