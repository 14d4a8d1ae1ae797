"""The OpenAPI document and the runtime accept exactly the same request forms, on each route."""

from __future__ import annotations

import pytest

from jupyter_mlcontainer.runtime.contract import PREDICT_ROUTES, REQUEST_FORMS
from jupyter_mlcontainer.runtime.convert import BadRequest, extract, make_converter
from jupyter_mlcontainer.runtime.openapi import build_openapi
from jupyter_mlcontainer.runtime.spec import Entry, EntryNotCallable, InputSpec, ServingSpec

SPEC = InputSpec("dataframe", ("age", "income"), {"age": "int64", "income": "float64"})
SERVING = ServingSpec(Entry("function", "predict"), SPEC)
#: A valid value for each form, for the dataframe above.
VALUES = {
    "instances": [{"age": 31, "income": 1.5}],
    "inputs": {"age": [31], "income": [1.5]},
    "dataframe_records": [{"age": 31, "income": 1.5}],
    "dataframe_split": {"columns": ["age", "income"], "data": [[31, 1.5]]},
}


def documented_keys(route: str) -> set:
    document = build_openapi(SERVING, sample=None)
    schema = document["paths"][route]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    keys = set()
    for alternative in schema["oneOf"]:
        # One form per body: a body with two forms matches two alternatives, which `oneOf`
        # refuses; any other key is ignored (a TF-Serving client's "signature_name").
        assert "additionalProperties" not in alternative
        (key,) = alternative["required"]
        keys.add(key)
    return keys


def accepted_keys(mlflow: bool) -> set:
    convert = make_converter(SPEC)
    accepted = set()
    for form in REQUEST_FORMS:
        try:
            frame = convert(*extract({form.key: VALUES[form.key]}, mlflow))
        except BadRequest:
            continue
        assert frame.to_dict("records") == [{"age": 31, "income": 1.5}]
        accepted.add(form.key)
    return accepted


@pytest.mark.parametrize("route", sorted(PREDICT_ROUTES))
def test_every_form_the_runtime_accepts_is_documented_and_vice_versa(route):
    assert accepted_keys(PREDICT_ROUTES[route]) == documented_keys(route)


def test_predict_takes_ours_and_invocations_takes_mlflows_too():
    assert documented_keys("/predict") == {"instances", "inputs"}
    assert documented_keys("/invocations") == set(VALUES)


def test_a_body_with_two_forms_is_refused():
    with pytest.raises(BadRequest) as caught:
        extract({"instances": VALUES["instances"], "inputs": VALUES["inputs"]})
    assert caught.value.status == 400 and "exactly one of" in caught.value.message


def test_empty_columns_are_refused_as_empty_not_as_a_wrong_dtype():
    """The document requires at least one value per column; the runtime says why it refuses."""
    with pytest.raises(BadRequest) as caught:
        make_converter(SPEC)(*extract({"inputs": {"age": [], "income": []}}))
    assert caught.value.status == 400 and "at least one row" in caught.value.message
    schema = build_openapi(SERVING, None)["paths"]["/predict"]["post"]["requestBody"]
    inputs = next(
        alt
        for alt in schema["content"]["application/json"]["schema"]["oneOf"]
        if alt["required"] == ["inputs"]
    )
    lengths = [
        alt["properties"]["age"]["minItems"] for alt in inputs["properties"]["inputs"]["anyOf"]
    ]
    assert min(lengths) == 1


def test_the_entry_is_resolved_the_same_way_everywhere():
    class Model:
        def predict_proba(self, rows):
            return rows

    names = {"clf": Model(), "predict": len}
    model = Entry("model", "clf", "predict_proba")
    assert model.resolve(names.__getitem__)([1]) == [1]
    assert Entry("function", "predict").resolve(names.__getitem__)([1, 2]) == 2
    assert (
        model.describe() == "clf.predict_proba"
        and Entry("function", "predict").describe() == "predict()"
    )
    with pytest.raises(EntryNotCallable, match="has no method 'transform'"):
        Entry("model", "clf", "transform").resolve(names.__getitem__)


def test_an_array_models_document_types_its_rows_and_admits_nulls_only_where_training_had_them():
    """An array's `dataframe_split` rows are typed like its instances, and a null is documented
    only when the data contract takes one at every position (it answers 422 to any other)."""
    from jupyter_mlcontainer.runtime.datacontract import ColumnContract, DataContract

    spec = InputSpec("ndarray", dtype="float64", shape=(None, 2))

    def values(contract):
        serving = ServingSpec(Entry("function", "predict"), spec, contract=contract)
        schema = build_openapi(serving, None)["paths"]["/invocations"]["post"]["requestBody"]
        forms = {
            alternative["required"][0]: alternative["properties"]
            for alternative in schema["content"]["application/json"]["schema"]["oneOf"]
        }
        rows = forms["dataframe_split"]["dataframe_split"]["properties"]["data"]
        assert rows == forms["instances"]["instances"]
        assert rows["items"]["minItems"] == 2
        return rows["items"].get("prefixItems") or [rows["items"]["items"]] * 2

    def contract(*nullable):
        columns = tuple(
            ColumnContract(str(i), "float", n, low=0.0, high=2.0) for i, n in enumerate(nullable)
        )
        return DataContract("the data passed to `model.fit`", 10, columns, array=True)

    def takes_null(schema):
        return "null" in schema["type"]

    assert [takes_null(s) for s in values(None)] == [True, True]  # no contract: the dtype's word
    assert [takes_null(s) for s in values(contract(False, True))] == [False, True]
    assert [takes_null(s) for s in values(contract(True, True))] == [True, True]
    # A number a million times larger than training's largest is no measurement of it.
    assert values(contract(False, False))[0]["maximum"] == 2e6


def test_each_form_refuses_the_others_keys_whatever_their_value():
    """`{"instances": [...], "inputs": null}` matches no alternative, as the runtime refuses it:
    with a mere `oneOf`, the invalid `inputs` would leave `instances` matching alone."""
    for route, mlflow in PREDICT_ROUTES.items():
        schema = build_openapi(SERVING, None)["paths"][route]["post"]["requestBody"]
        keys = {form.key for form in REQUEST_FORMS if form.key in documented_keys(route)}
        for alternative in schema["content"]["application/json"]["schema"]["oneOf"]:
            (key,) = alternative["required"]
            for other in keys - {key}:
                assert alternative["properties"][other] == {"not": {}}, (route, key, other)
        with pytest.raises(BadRequest, match="exactly one of"):
            extract({"instances": VALUES["instances"], "inputs": None}, mlflow)


def test_an_integer_column_is_bounded_by_its_dtype():
    """A JSON integer beyond int64 is no int64 (the runtime answers 422): the document says so."""
    schema = build_openapi(SERVING, None)["paths"]["/predict"]["post"]["requestBody"]
    instances = next(
        alternative["properties"]["instances"]
        for alternative in schema["content"]["application/json"]["schema"]["oneOf"]
        if alternative["required"] == ["instances"]
    )
    age = instances["anyOf"][0]["items"]["properties"]["age"]
    assert (age["minimum"], age["maximum"]) == (-(2**63), 2**63 - 1)
    convert = make_converter(SPEC)
    with pytest.raises(BadRequest, match="expects int64 values") as refused:
        convert(*extract({"instances": [{"age": 2**63, "income": 1.5}]}, False))
    assert refused.value.status == 422
