"""Schemathesis against the runtime's own OpenAPI document, served by a real server of a
mixed-type DataFrame model: requests generated from the document (valid and invalid) never get
a 5xx, every answer matches the document, and the server still answers afterwards."""

import re

import pytest
from conftest import SCHEMATHESIS_CHECKS, fuzz_examples
from fuzzing import run_schemathesis

pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")

#: Test cases per operation and generation mode; the whole run stays well under a minute.
MAX_EXAMPLES = fuzz_examples(60)


def requests_served(server) -> int:
    metrics = server.get("/metrics").body.decode()
    return sum(
        int(float(count))
        for count in re.findall(r"^mlcontainer_requests_total\{[^}]*\} (\S+)$", metrics, re.M)
    )


def test_generated_requests_get_no_server_error_and_match_the_document(
    serve, titanic_root, tmp_path
):
    server = serve(titanic_root)
    before = requests_served(server)
    status, output = run_schemathesis(
        server.url,
        tmp_path,
        MAX_EXAMPLES,
        1,
        "--checks",
        SCHEMATHESIS_CHECKS,
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    )
    served = requests_served(server) - before - 1  # less this count's own /metrics
    print(f"schemathesis sent {served} requests")
    assert status == 0, output
    assert served > 3 * MAX_EXAMPLES, output
    assert server.get("/health").status == 200
    assert server.get("/ready").status == 200


def test_the_document_says_a_cell_holds_one_value(serve_per_module, titanic_root):
    document = serve_per_module(titanic_root).get("/openapi.json").json()
    schema = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    instances = next(alt for alt in schema["schema"]["oneOf"] if alt["required"] == ["instances"])
    rows = instances["properties"]["instances"]
    assert "lists of values in column order" in rows["description"]
    objects, lists = rows["anyOf"]
    cell = objects["items"]["properties"]["Sex"]
    assert {alt["type"] for alt in cell["anyOf"]} == {"string", "number", "boolean", "null"}
    assert lists["items"]["prefixItems"][list(objects["items"]["properties"]).index("Sex")] == cell
