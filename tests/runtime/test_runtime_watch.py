"""The data contract at serving: 422s for what training never held, `warn` and `off`, the
out-of-range header, drift (PSI over a bounded window) and opt-in request capture."""

from __future__ import annotations

import pytest
from conftest import CHURN_CONTRACT, CHURN_INPUT, TENTHS

from jupyter_mlcontainer.runtime.admission import Admission
from jupyter_mlcontainer.runtime.convert import BadRequest
from jupyter_mlcontainer.runtime.datacontract import ColumnContract, DataContract
from jupyter_mlcontainer.runtime.datadrift import SLOT_ROWS, SLOTS, DriftMonitor, psi

ROW = {"age": 40, "income": 52_000.5, "city": "lyon", "member": True}


def admission(mode="enforce"):
    return Admission(CHURN_CONTRACT, CHURN_INPUT["columns"], mode)


def test_each_value_outside_the_contract_is_refused_naming_row_column_and_training():
    check = admission()
    cases = [
        ({**ROW, "age": None}, "row 1, column 'age': null, but training had no missing values"),
        (
            {**ROW, "city": "Z"},
            "row 1, column 'city': 'Z', but training had only 'lyon', 'nice', 'paris'",
        ),
        (
            {**ROW, "city": ""},
            "row 1, column 'city': '', but training had only 'lyon', 'nice', 'paris'",
        ),
        ({**ROW, "income": "lots"}, "row 1, column 'income': 'lots', but training had numbers"),
        (
            {**ROW, "member": "yes"},
            "row 1, column 'member': 'yes', but training had only False, True",
        ),
    ]
    for row, message in cases:
        with pytest.raises(BadRequest) as refused:
            check.admit("rows", [ROW, row])
        assert refused.value.status == 422
        assert refused.value.message.startswith(message + ". The model's data contract"), (
            refused.value.message
        )
    assert check.violations == {
        ("age", "null"): 1,
        ("city", "category"): 2,
        ("income", "type"): 1,
        ("member", "category"): 1,
    }


def test_every_request_form_is_checked_and_three_problems_are_named():
    check = admission()
    nulls = {column: [None] * 5 for column in CHURN_INPUT["columns"]}
    with pytest.raises(BadRequest) as refused:
        check.admit("inputs", nulls)
    assert refused.value.message.startswith(
        "row 0, column 'age': null, but training had no missing values; row 1, column 'age': "
    )
    assert "(and 17 more)." in refused.value.message
    split = (CHURN_INPUT["columns"], [[40, None, "nice", False]])
    with pytest.raises(BadRequest, match="row 0, column 'income': null"):
        check.admit("split", split)


def test_an_array_models_every_form_is_checked_the_split_included():
    """An array's split names columns it does not need; its rows are checked all the same."""
    columns = tuple(ColumnContract(str(i), "float", False) for i in range(3))
    check = Admission(
        DataContract("the array passed to `model.fit`", 9, columns, array=True), [], "enforce"
    )
    for form, value in (
        ("rows", [[1.0, None, 2.0]]),
        ("inputs", [[1.0, None, 2.0]]),
        ("split", ([], [[1.0, None, 2.0]])),
        ("split", (None, [[1.0, None, 2.0]])),
    ):
        with pytest.raises(BadRequest, match="row 0, column '1': null") as refused:
            check.admit(form, value)
        assert refused.value.status == 422
    assert check.admit("split", ([], [[1.0, 0.5, 2.0]])) is not None


def test_a_value_beyond_the_training_range_is_only_counted():
    admitted = admission().admit("rows", [{**ROW, "age": 120}, {**ROW, "income": -5.0}, ROW])
    assert admitted.outside_range == 2


def test_a_number_out_of_all_proportion_to_training_is_refused():
    """A million times training's largest magnitude (90,000 for income) is no income: an
    overflow or a unit mixed up, on which a model's arithmetic may overflow too."""
    check = admission()
    assert check.admit("rows", [{**ROW, "income": -9e10}]).outside_range == 1
    with pytest.raises(BadRequest) as refused:
        check.admit(
            "rows", [{**ROW, "income": 9.1e10}, {**ROW, "age": -1e300}, {**ROW, "age": 10**400}]
        )
    assert refused.value.status == 422
    message = refused.value.message
    assert (
        "row 0, column 'income': 9.1e+10, out of all proportion to training's values (at most "
        "90000 in magnitude; the limit is ±9e+10)" in message
    )
    assert "row 1, column 'age': -1e+300" in message
    assert "row 2, column 'age': an integer of 401 digits" in message
    assert check.violations == {("income", "range"): 1, ("age", "range"): 2}


def test_warn_lets_everything_through_and_counts_it_and_off_checks_nothing():
    warn = admission("warn")
    admitted = warn.admit("rows", [{**ROW, "city": "Z", "age": None}])
    assert admitted is not None and warn.violations == {("city", "category"): 1, ("age", "null"): 1}
    off = admission("off")
    assert off.admit("rows", [{**ROW, "city": "Z"}]) is not None and not off.violations


def test_the_psi_is_zero_on_training_shares_and_grows_with_a_shift():
    assert psi(TENTHS, [10] * 10) == pytest.approx(0.0)
    assert psi(TENTHS, [0] * 9 + [100]) > 2
    assert psi(TENTHS, [0] * 10) == 0.0  # no rows yet


def test_drift_rests_on_a_bounded_window_of_rows():
    monitor = DriftMonitor(CHURN_CONTRACT)
    ages = list(range(18, 80))
    for _ in range(60):  # 60 x 1,000 rows, spread as in training, then shifted
        monitor.observe({"age": [ages[i % len(ages)] for i in range(SLOT_ROWS)]})
    spread = monitor.report()["features"]["age"]
    assert spread["rows"] == SLOTS * SLOT_ROWS and spread["psi"] < 0.1
    for _ in range(SLOTS):
        monitor.observe({"age": [79] * SLOT_ROWS})
    shifted = monitor.report()
    assert shifted["features"]["age"]["psi"] > 0.2 and shifted["window_rows"] == SLOTS * SLOT_ROWS
    monitor.observe_predictions([0.05, 0.95, "not a number", None])
    assert monitor.report()["prediction"]["rows"] == 2


@pytest.mark.parametrize(
    "ages",
    [
        [18, 24, 23.999, 30, 79, 100, -5, 24.0, 77.5],  # plain numbers: numpy's path
        [18, 24, 23.999, 79, 100, None, float("nan"), True, "forty"],  # one value at a time
        [18, [1, 2], 30, [3, 4], 79, 40, 50, 60, 70],  # lists let through by `warn`
        [18, [1, 2], 30, [3], 79, 40, 50, 60, 70],  # ragged ones too
    ],
)
def test_rows_binned_in_bulk_land_where_one_at_a_time_would_put_them(ages):
    """Requests are binned FLUSH_ROWS rows at a time (numpy for plain numbers); every value
    must land in the bin `_Feature.bin` gives it, on the edges too."""
    cities = ["lyon", "Z", None, ["a list"], "paris", "lyon"]
    monitor = DriftMonitor(CHURN_CONTRACT)
    for age, city in zip(ages * 2, cities * 3, strict=True):
        monitor.observe({"age": [age], "city": [city]})  # fewer rows than a flush: pending
    report = monitor.report()  # bins what is pending
    age_feature, city_feature = monitor.features[0], monitor.features[2]
    for feature, values in ((age_feature, ages * 2), (city_feature, cities * 3)):
        expected = [0] * len(feature.expected)
        for value in values:
            if (index := feature.bin(value)) is not None:
                expected[index] += 1
        assert report["features"][feature.name]["rows"] == sum(expected)
        actual = report["features"][feature.name]["actual"]
        assert actual == [round(n / sum(expected), 6) for n in expected]
    assert report["window_rows"] == 18


def test_a_models_error_is_blamed_on_the_input_only_when_it_holds_unseen_values():
    from jupyter_mlcontainer.runtime.admission import Admitted, blamed_on_input

    for admitted in (None, Admitted({"age": [40]})):
        with pytest.raises(ValueError, match="the model's own"), blamed_on_input(admitted):
            raise ValueError("the model's own")
    with pytest.raises(BadRequest) as refused, blamed_on_input(Admitted({"age": [1e308]}, 1)):
        raise ValueError("Input X contains infinity")
    assert refused.value.status == 422
    assert refused.value.message == (
        "the model refused this input (ValueError: Input X contains infinity); it holds 1 value(s) "
        "beyond the training range, see GET /metadata's contract"
    )
    with pytest.raises(RuntimeError), blamed_on_input(Admitted({"age": [1e308]}, 1)):
        raise RuntimeError("not about the input")
