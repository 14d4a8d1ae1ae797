"""The data contract the build measures on the training data (pipeline/profile.py): each
column's kind, nulls, range and drift bins, or set of values; arrays; data that cannot be
described; the predictions; the notebook's overrides, through render into serving.json and the
slice report; and a Titanic-style notebook through a real kernel."""

from __future__ import annotations

import json
import math
import sys

import nbformat
import numpy as np
import pandas as pd
import pytest

from jupyter_mlcontainer.pipeline.plan import Capture, Environment, ExportOptions, ServingPlan
from jupyter_mlcontainer.pipeline.profile import training_contract
from jupyter_mlcontainer.pipeline.render import prepare_destination, render_serving_files
from jupyter_mlcontainer.pipeline.report import slice_report
from jupyter_mlcontainer.runtime.datacontract import CATEGORY_CAP, ColumnContract
from jupyter_mlcontainer.runtime.spec import CONTRACT_RECORD, contract_from_json


def passengers() -> pd.DataFrame:
    """Ten rows: an int, a float with a NaN, a text column with a None, a categorical."""
    return pd.DataFrame(
        {
            "age": [30, 10, 100, 20, 50, 40, 90, 60, 80, 70],
            "fare": [0.5, 4.5, np.nan, 1.5, 8.5, 2.5, 7.5, 3.5, 6.5, 5.5],
            "title": ["Mr", "Mrs", "Miss", None, "Mr", "Mr", "Mrs", "Master", "Mr", "Miss"],
            "port": pd.Categorical(
                ["S", "C", "S", "S", "Q", "S", "S", "C", "S", "S"],
                categories=["C", "Q", "S", "X"],  # X: declared, never held
            ),
        }
    )


def over_50(frame: pd.DataFrame):
    return (frame["age"] > 50).astype(int).to_numpy()


def test_a_frame_gives_each_column_its_kind_nulls_range_bins_or_values():
    contract = training_contract(passengers(), over_50, "`passengers`")
    assert contract.source == "`passengers`" and contract.rows == 10
    assert not contract.array and contract.shape is None
    age, fare, title, port = contract.columns
    # deciles of 10, 20, ..., 100 (linear): 19, 28, ..., 91; each bin holds one value
    assert age == ColumnContract(
        "age",
        "integer",
        nullable=False,
        low=10,
        high=100,
        edges=(19.0, 28.0, 37.0, 46.0, 55.0, 64.0, 73.0, 82.0, 91.0),
        expected=(0.1,) * 10,
    )
    assert isinstance(age.low, int) and isinstance(age.high, int)
    # nine finite values 0.5 ... 8.5: deciles 1.3, 2.1, ...; 4.5 equals the fifth edge, so it
    # falls into the bin above it (bisect_right), and the bin below stays empty
    assert fare == ColumnContract(
        "fare",
        "float",
        nullable=True,
        low=0.5,
        high=8.5,
        edges=(1.3, 2.1, 2.9, 3.7, 4.5, 5.3, 6.1, 6.9, 7.7),
        expected=(1 / 9,) * 4 + (0.0,) + (1 / 9,) * 5,
    )
    assert title == ColumnContract(
        "title",
        "category",
        nullable=True,
        categories=("Master", "Miss", "Mr", "Mrs"),
        expected=(1 / 9, 2 / 9, 4 / 9, 2 / 9, 0.0),  # the last bin: any other value
    )
    assert port == ColumnContract(
        "port",
        "category",
        nullable=False,
        categories=("C", "Q", "S"),
        expected=(0.2, 0.1, 0.7, 0.0),
    )
    assert contract.prediction == ColumnContract(
        "prediction", "category", nullable=False, categories=(0, 1), expected=(0.5, 0.5, 0.0)
    )
    for column in (*contract.columns, contract.prediction):
        assert math.isclose(sum(column.expected), 1.0)
        assert len(column.expected) == column.bins
    assert contract.notes == (
        "it rests on 10 rows only: a value they lack may still be normal; widen a column in "
        "the notebook's metadata (docs/build.md, The data contract)",
    )
    data = json.loads(json.dumps(contract.to_dict()))  # plain JSON: no numpy scalars
    assert data["columns"][0]["low"] == 10 and data["columns"][3]["categories"] == ["C", "Q", "S"]


def test_more_categories_than_the_cap_are_not_a_set_and_odd_columns_are_other():
    frame = pd.DataFrame(
        {
            "name": [f"passenger {i}" for i in range(CATEGORY_CAP + 50)],
            "flag": [True, False] * ((CATEGORY_CAP + 50) // 2),
            "boarded": pd.date_range("1912-04-10", periods=CATEGORY_CAP + 50, freq="h"),
            "cabin": [("C", 85)] * (CATEGORY_CAP + 50),
        }
    )
    name, flag, boarded, cabin = training_contract(frame, len, "`frame`").columns
    assert name == ColumnContract("name", "category", nullable=False, capped=True)
    assert name.bins == 0
    assert flag.kind == "boolean" and flag.categories == (False, True)
    assert flag.expected == (0.5, 0.5, 0.0)
    assert boarded == ColumnContract("boarded", "other", nullable=False)
    assert cabin == ColumnContract("cabin", "other", nullable=False)  # not a JSON scalar


def test_a_large_frame_is_described_in_a_second_and_its_sampling_said():
    rows = 1_000_000
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "x": rng.rand(rows),
            "n": rng.randint(0, 1000, rows),
            "port": rng.choice(["S", "C", "Q"], rows),
            "id": [f"p{i}" for i in range(rows)],
        }
    )
    frame.loc[rows - 1, "x"] = np.nan  # the last row only: nulls are looked for in every row
    import time

    started = time.perf_counter()
    contract = training_contract(frame, lambda f: f["x"].to_numpy() * 2, "`frame`")
    assert time.perf_counter() - started < 2
    assert contract.rows == rows
    assert (
        contract.source == "`frame` (drift bins from 100,000 of its 1,000,000 rows, taken evenly)"
    )
    x, n, port, ident = contract.columns
    assert x.nullable and len(x.edges) == 9 and math.isclose(sum(x.expected), 1.0)
    assert (n.low, n.high) == (0, 999)
    assert port.categories == ("C", "Q", "S") and ident.capped
    assert contract.prediction.kind == "float" and len(contract.prediction.edges) == 9


def test_a_two_dimensional_array_has_numbered_columns_and_its_row_shape():
    from sklearn.linear_model import LogisticRegression

    X = np.array([[float(i), float(i % 3)] for i in range(200)])
    y = (X[:, 0] > 100).astype(int)
    clf = LogisticRegression().fit(X, y)
    contract = training_contract(X, clf.predict, "`X`")
    assert contract.array and contract.shape == (2,) and contract.rows == 200
    first, second = contract.columns
    assert (first.name, first.kind, first.low, first.high) == ("0", "float", 0.0, 199.0)
    assert second.edges == (0.0, 1.0, 2.0)  # deciles of 0, 1, 2: duplicates dropped
    assert second.expected[0] == 0.0  # nothing below 0; 0 itself is in the bin above
    assert math.isclose(sum(second.expected), 1.0) and len(second.expected) == 4
    # a classifier's labels are categories with their training shares
    assert contract.prediction.kind == "category" and contract.prediction.categories == (0, 1)
    assert contract.prediction.expected[-1] == 0.0
    assert math.isclose(sum(contract.prediction.expected), 1.0)
    assert not contract.notes

    rows = training_contract([[1, 2], [3, 4]] * 60, lambda r: [0.5] * len(r), "`rows`")
    assert rows.array and [c.kind for c in rows.columns] == ["integer", "integer"]
    assert rows.prediction.kind == "float"


def test_images_and_tensors_keep_their_shape():
    images = np.zeros((120, 8, 8), dtype="float32")
    contract = training_contract(images, lambda batch: batch.sum(axis=(1, 2)), "`images`")
    assert contract.array and contract.shape == (8, 8) and contract.columns == ()
    assert contract.notes == (
        "rows are float32 arrays of shape (8, 8): only the shape is checked, not the values",
    )
    torch = pytest.importorskip("torch")
    tensor = training_contract(torch.ones(120, 3), lambda t: t.sum(dim=1), "`t`")
    assert (
        tensor.array
        and tensor.shape == (3,)
        and [c.name for c in tensor.columns]
        == [
            "0",
            "1",
            "2",
        ]
    )
    assert tensor.prediction.low == 3.0


def test_data_that_cannot_be_described_gives_a_contract_with_a_note():
    generator = training_contract((row for row in [[1.0], [2.0]]), len, "`batches`")
    assert (generator.rows, generator.columns, generator.prediction) == (0, (), None)
    assert generator.notes == (
        "the data is a generator, which reading would use up: nothing about the input is checked",
    )
    mapping = training_contract({"a": [1, 2]}, len, "`d`")
    assert mapping.notes == (
        "the data is a dict, not a table, an array or a list of rows: nothing about the input "
        "is checked",
    )

    class Exploding:
        __module__ = "pandas.core.frame"
        columns = ("a",)
        iloc = None

        def items(self):
            raise RuntimeError("lost connection")

        def __len__(self):
            return 3

    broken = training_contract(Exploding(), len, "`remote`")
    assert broken.rows == 0 and broken.notes[0].startswith(
        "the data (pandas.core.frame.test_data_that_cannot_be_described_gives_a_contract_with_a"
    )
    assert broken.notes[0].endswith(
        "(RuntimeError: lost connection): nothing about the input is checked"
    )


def test_a_model_that_fails_or_answers_vectors_gives_no_prediction_contract():
    def fails(frame):
        raise ValueError("unknown category")

    failed = training_contract(passengers(), fails, "`p`")
    assert failed.prediction is None and len(failed.columns) == 4
    assert failed.notes[0] == (
        "the model failed on 10 rows of the data (ValueError: unknown category): the "
        "predictions are not described"
    )
    vectors = training_contract(passengers(), lambda f: np.zeros((len(f), 2)), "`p`")
    assert vectors.prediction is None and vectors.notes[0].startswith(
        "the model answers each row with more than one value"
    )
    column = training_contract(passengers(), lambda f: np.ones((len(f), 1)), "`p`")
    assert column.prediction.kind == "float"  # one output per row, as a column


# -- render and the report --------------------------------------------------------------------


def _plan(tmp_path, overrides: dict) -> ServingPlan:
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text("{}")
    return ServingPlan(
        notebook=str(notebook),
        notebook_sha256="0" * 64,
        name="nb",
        entry_kind="function",
        entry_name="predict",
        method="predict",
        code=("def predict(rows):\n    return [0 for _ in range(len(rows))]",),
        sample_expression="passengers",
        sample_rows=3,
        training_source="the data passed to `clf.fit`",
        contract_overrides=overrides,
    )


def _capture(contract) -> Capture:
    capture = Capture(
        python="3.11",
        python_full="3.11.2",
        executable=sys.executable,
        state=(),
        input={"kind": "list"},
        request={"instances": [1, 2]},
        expected={"predictions": [0, 0]},
        modules=(),
        contract=contract.to_dict(),
    )
    return Capture.from_json(capture.to_json())  # as it crosses the kernel boundary


def test_the_notebooks_overrides_reach_the_contract_record_and_the_report(tmp_path):
    overrides = {
        "age": {"nullable": True, "high": 120},
        "title": {"categories": ["Dr", "Mr"]},
        "fare": {"categories": ["free"], "nulable": False},
        "deck": {"nullable": True},
    }
    plan = _plan(tmp_path, overrides)
    capture = _capture(training_contract(passengers(), over_50, "`passengers`"))
    context = tmp_path / "context"
    prepare_destination(context)
    render_serving_files(plan, capture, context, [])
    contract = contract_from_json((context / CONTRACT_RECORD).read_text())
    assert contract.source == "the data passed to `clf.fit`, `passengers`"
    age, fare, title, _ = contract.columns
    assert age.nullable and age.high == 120 and age.low == 10
    assert title.categories == ("Master", "Miss", "Mr", "Mrs", "Dr")
    assert title.expected == (1 / 9, 2 / 9, 4 / 9, 2 / 9, 0.0, 0.0)
    assert fare.categories is None and fare.nullable

    report = slice_report(plan, capture, Environment(packages={}), "base")
    warnings = [w for w in report.warnings if "mlcontainer.contract" in w]
    assert warnings == [
        "the notebook's metadata (mlcontainer.contract): `fare`'s 'categories' adds values to "
        "a column that has no set of them (it held float values): it is ignored",
        "the notebook's metadata (mlcontainer.contract): `fare`'s 'nulable' is not one of "
        "nullable, low, high, categories: it is ignored",
        "the notebook's metadata (mlcontainer.contract) names `deck`, but the model's input has "
        "no such column (its columns: `age`, `fare`, `title`, `port`): it is ignored",
    ]
    markdown = report.markdown()
    assert (
        "## Data contract\n\nWhat the model's input held, from the data passed to `clf.fit`, "
        "`passengers`: 10 rows. The image checks requests against it and measures drift from "
        "it (`app/serving.json`'s `contract`).\n\n"
        "| column | kind | nulls | values |\n|---|---|---|---|\n"
        "| `age` | integer | nullable | 10 to 120 |\n"
        "| `fare` | float | nullable | 0.5 to 8.5 |\n"
        '| `title` | category | nullable | "Master", "Miss", "Mr", "Mrs", "Dr" |\n'
        '| `port` | category | not nullable | "C", "Q", "S" |\n'
        "| predictions | category | not nullable | 0, 1 |\n\n"
        "- override from the notebook's metadata: `age`: nullable true\n"
        "- override from the notebook's metadata: `age`: high 120\n"
        '- override from the notebook\'s metadata: `title`: categories ["Dr", "Mr"]\n'
        "- it rests on 10 rows only"
    ) in markdown
    text = report.text()
    assert (
        "Data contract, from the data passed to `clf.fit`, `passengers`: 10 rows:\n"
        "  age            integer   nullable      10 to 120\n"
    ) in text
    assert "  (predictions)  category  not nullable  0, 1\n" in text


def test_many_categories_are_shortened_and_a_capped_column_said_so(tmp_path):
    frame = pd.DataFrame(
        {
            "city": [f"c{i:02}" for i in range(17)] * 6,
            "name": [f"n{i}" for i in range(102)],
        }
    )
    plan = _plan(tmp_path, {})
    report = slice_report(
        plan, _capture(training_contract(frame, len, "`f`")), Environment(packages={}), "base"
    )
    text = report.text()
    assert '  city  category  not nullable  "c00", "c01", "c02", "c03", "c04", … 12 more\n' in text
    assert "  name  category  not nullable  more than 100 distinct values: not enforced\n" in text
    assert "the predictions are not described" in text  # len() answers one number


def test_a_capture_without_a_contract_says_so(tmp_path):
    capture = Capture.from_json(
        json.dumps(
            {
                "python": "3.11",
                "python_full": "3.11.2",
                "executable": "python3",
                "state": [],
                "input": {"kind": "list"},
                "request": {},
                "expected": {},
                "modules": [],
            }
        )
    )  # written before the contract existed
    assert capture.contract is None
    report = slice_report(_plan(tmp_path, {"age": {}}), capture, Environment(packages={}), "b")
    assert "## Data contract\n\nNone: the capture recorded no training data.\n" in report.markdown()
    assert not any("mlcontainer.contract" in w for w in report.warnings)


# -- through a kernel -------------------------------------------------------------------------

TITANIC = [
    "import pandas as pd\n"
    "from sklearn.compose import make_column_transformer\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "from sklearn.pipeline import make_pipeline\n"
    "from sklearn.preprocessing import OneHotEncoder",
    "titanic = pd.DataFrame({\n"
    "    'age': [22, 38, 26, 35, 35, 54, 2, 27, 14, 4, 58, 20, 39, 14, 55, 2, 31, 35, 34, 15],\n"
    "    'fare': [7.25, 71.28, 7.92, 53.1, 8.05, 51.86, 21.08, 11.13, 30.07, 16.7,\n"
    "             26.55, 8.05, 31.28, 7.85, 16.0, 29.12, 13.0, 18.0, 7.23, 26.0],\n"
    "    'port': list('SCSSSSSSCSSSSSSQSSCQ'),\n"
    "})\n"
    "survived = [0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1, 1, 0]",
    "clf = make_pipeline(\n"
    "    make_column_transformer((OneHotEncoder(handle_unknown='ignore'), ['port']),"
    " remainder='passthrough'),\n"
    "    LogisticRegression(max_iter=1000),\n"
    ")\n"
    "clf.fit(titanic, survived)",
]


def test_a_titanic_notebook_gets_its_contract_in_serving_json_and_the_report(tmp_path, kernel):
    from jupyter_mlcontainer.shared.config import MLContainerConfig
    from jupyter_mlcontainer.workflow.build import containerize

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in TITANIC])
    notebook.metadata["mlcontainer"] = {
        "model": "clf",
        "contract": {"age": {"nullable": True}, "deck": {"nullable": True}},
    }
    nbformat.write(notebook, tmp_path / "titanic.ipynb")
    result = containerize(
        ExportOptions(notebook=str(tmp_path / "titanic.ipynb")),
        config=MLContainerConfig(base_image="python:3.11-slim"),
        out_dir=str(tmp_path / "context"),
        context_only=True,
    )
    context = tmp_path / "context"
    contract = contract_from_json((context / CONTRACT_RECORD).read_text())
    assert contract.source == "the data passed to `clf.fit`, `titanic`"
    assert contract.rows == 20 and not contract.array
    age, fare, port = contract.columns
    assert (age.kind, age.nullable, age.low, age.high) == ("integer", True, 2, 58)
    assert (fare.kind, fare.nullable, fare.low, fare.high) == ("float", False, 7.23, 71.28)
    assert len(fare.edges) == 9 and math.isclose(sum(fare.expected), 1.0)
    assert port == ColumnContract(
        "port",
        "category",
        nullable=False,
        categories=("C", "Q", "S"),
        expected=(0.15, 0.1, 0.75, 0.0),
    )
    assert contract.prediction.kind == "category"
    assert set(contract.prediction.categories) <= {0, 1}
    assert math.isclose(sum(contract.prediction.expected), 1.0)

    report = (context / "REPORT.md").read_text()
    assert (
        "## Data contract\n\nWhat the model's input held, from the data passed to `clf.fit`, `titanic`: 20 rows."
        in report
    )
    assert "| `age` | integer | nullable | 2 to 58 |\n" in report
    assert "| `fare` | float | not nullable | 7.23 to 71.28 |\n" in report
    assert '| `port` | category | not nullable | "C", "Q", "S" |\n' in report
    assert "- override from the notebook's metadata: `age`: nullable true\n" in report
    assert any(
        "names `deck`, but the model's input has no such column" in w for w in result.warnings
    )
