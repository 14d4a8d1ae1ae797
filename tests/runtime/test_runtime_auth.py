"""A locked instance: every route but the probes answers 401 without its bearer token, real
clients get in with it, and a token file that cannot be read stops the server from starting."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys

import pytest
from conftest import runtime_env

from jupyter_mlcontainer.runtime.auth import TOKEN_FILE_VARIABLE

ROW = {"age": 30, "income": 42000.5, "city": "lyon", "member": True}


@pytest.fixture(scope="module")
def token_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("secret") / "token"
    path.write_text(secrets.token_urlsafe(32) + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def locked(serve_per_module, churn_root, token_file):
    return serve_per_module(churn_root, **{TOKEN_FILE_VARIABLE: str(token_file)})


def test_probes_stay_open_and_everything_else_needs_the_token(locked, token_file):
    token = token_file.read_text().strip()
    for path in ("/health", "/ready", "/ping", "/v2/health/live", "/v2/health/ready"):
        assert locked.get(path).status == 200, path
    for method, path in (
        ("POST", "/predict"),
        ("POST", "/invocations"),
        ("GET", "/metadata"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/drift"),
        ("GET", "/v2/models/test"),
        ("GET", "/nowhere"),
    ):
        body = {"instances": [ROW]} if method == "POST" else None
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-of-some-length"},
            {"Authorization": f"Basic {token}"},
        ):
            answer = locked.request(
                method, path, body, {"Content-Type": "application/json", **headers}
            )
            assert answer.status == 401, (path, headers, answer.body)
            assert answer.headers["WWW-Authenticate"] == 'Bearer realm="mlcontainer"'
            assert "needs its token" in answer.json()["error"]
    good = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    assert locked.request("POST", "/predict", {"instances": [ROW]}, good).status == 200
    assert locked.request("GET", "/metadata", None, good).status == 200


def test_real_clients_get_in_with_the_token(locked, token_file):
    token = token_file.read_text().strip()
    curl = shutil.which("curl")
    if curl:
        done = subprocess.run(
            [
                curl,
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                f"Authorization: Bearer {token}",
                "-H",
                "Content-Type: application/json",
                "-d",
                json.dumps({"dataframe_records": [ROW]}),
                f"{locked.url}/invocations",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.stdout == "200", done
    tritonclient = pytest.importorskip("tritonclient.http", reason="tritonclient is a test extra")
    import numpy as np

    client = tritonclient.InferenceServerClient(f"127.0.0.1:{locked.port}")
    inputs = []
    for name, datatype, value in (
        ("age", "INT64", np.array([40])),
        ("income", "FP64", np.array([52_000.5])),
        ("city", "BYTES", np.array(["lyon"], dtype=object)),
        ("member", "BOOL", np.array([True])),
    ):
        tensor = tritonclient.InferInput(name, [1], datatype)
        tensor.set_data_from_numpy(value)
        inputs.append(tensor)
    result = client.infer("test", inputs, headers={"Authorization": f"Bearer {token}"})
    assert result.as_numpy("predictions").shape == (1,)
    with pytest.raises(Exception, match="401|needs its token"):
        client.infer("test", inputs)


def test_the_token_is_in_no_log(locked, token_file):
    assert token_file.read_text().strip() not in locked.stop()


def test_a_token_file_that_cannot_be_read_stops_the_server(churn_root, tmp_path):
    missing = tmp_path / "absent"
    done = subprocess.run(
        [sys.executable, "-m", "mlcontainer_runtime"],
        cwd=churn_root,
        env=runtime_env(churn_root, PORT=0, **{TOKEN_FILE_VARIABLE: str(missing)}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{TOKEN_FILE_VARIABLE}={missing} cannot be read" in done.stderr
    assert "not serving" in done.stderr
