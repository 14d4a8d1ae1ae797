"""Row-by-row comparison of the notebook's answer with the served model's."""

import json

from jupyter_mlcontainer.runtime.parity import compare


def test_equal_predictions_pass_row_by_row():
    report = compare([1, "cat", True, None, [0.5, 0.25]], [1, "cat", True, None, [0.5, 0.25]])
    assert report.passed
    assert [row.index for row in report.rows] == [0, 1, 2, 3, 4]
    assert report.render().splitlines()[1] == "row 1 PASS expected='cat' actual='cat'"


def test_floats_within_tolerance_pass_and_beyond_fail():
    assert compare([0.1 + 0.2, 1e-12, 2], [0.3, 0.0, 2.0]).passed
    assert compare([float("nan")], [float("nan")]).passed
    report = compare([1.0, 100.0], [1.0 + 2e-6, 100.0])
    assert not report.passed
    assert [row.ok for row in report.rows] == [False, True]
    assert report.rows[0].render().startswith("row 0 FAIL expected=1.0 actual=1.000002")


def test_exact_kinds_compare_exactly():
    assert not compare([1], [2]).passed
    assert not compare([True], [1]).passed
    assert not compare(["1"], [1]).passed
    assert not compare([None], [0]).passed


def test_nested_values_compare_element_wise():
    report = compare(
        [[0.1, 0.9], {"label": "a", "p": [1, 2]}], [[0.1, 0.8], {"label": "a", "p": [1, 3]}]
    )
    assert [row.detail for row in report.rows] == [
        "at [1]: 0.9 != 0.8 (tolerance rel 1e-06, abs 1e-09)",
        "at ['p'][1]: 2 != 3",
    ]
    assert not compare([[1, 2]], [[1, 2, 3]]).passed
    assert not compare([{"a": 1}], [{"b": 1}]).passed


def test_a_length_mismatch_fails_on_the_unpartnered_rows():
    report = compare([1, 2, 3], [1, 2])
    assert not report.passed
    assert report.render().splitlines() == [
        "row 0 PASS expected=1 actual=1",
        "row 1 PASS expected=2 actual=2",
        "row 2 FAIL expected=3 actual=None (actual has only 2 rows)",
    ]
    assert not compare([1], [1, 2]).passed


def test_report_is_plain_data():
    report = compare({"k": 1}, {"k": 1})
    assert json.loads(json.dumps(report.to_dict())) == {
        "rows": [{"index": 0, "expected": {"k": 1}, "actual": {"k": 1}, "ok": True, "detail": ""}],
        "passed": True,
        "status": None,
        "latency_ms": None,
        "error": None,
    }
