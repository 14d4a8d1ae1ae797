"""Hostile and malformed requests against a real server of a mixed-type DataFrame model: each is
a 4xx with a JSON message, never a crash, and the server keeps answering."""

import json
import socket
import threading
import time

import pytest

BODY_TIMEOUT = 2
ROW = {"Pclass": 3, "Sex": "male", "Age": 22.0, "Fare": 7.25, "Embarked": "S"}


@pytest.fixture(scope="module")
def server(serve_per_module, titanic_root):
    return serve_per_module(titanic_root, MLCONTAINER_BODY_TIMEOUT_SECONDS=BODY_TIMEOUT)


def assert_refused(response, status, *words):
    assert response.status == status, response.body
    message = response.json()["error"]
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("column", list(ROW))
@pytest.mark.parametrize("cell", [[None, None], [1, 2], {"nested": {"a": 1}}, [[[]]]])
def test_a_list_or_object_in_a_cell_is_a_422_naming_the_column(server, column, cell):
    for body in (
        {"instances": [{**ROW, column: cell}]},
        {"inputs": {**{c: [v] for c, v in ROW.items()}, column: [cell]}},
    ):
        assert_refused(server.post("/predict", body), 422, f"column {column!r}")
    assert server.post("/predict", {"instances": [ROW]}).status == 200


def raw_exchange(port, head: bytes, body_bytes=(), pause=0.0, timeout=15):
    """Send `head`, then each of `body_bytes` `pause` seconds apart (stopping once the server
    answers or closes), and return the answer's status and JSON body, and the seconds taken."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(head)
        connection.settimeout(pause or timeout)
        answer = b""
        for byte in body_bytes:
            try:
                data = connection.recv(65536)
                if data:
                    answer += data
                    break
            except TimeoutError:
                pass
            try:
                connection.sendall(byte)
            except OSError:
                break
        connection.settimeout(timeout)
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = connection.recv(65536)
            if not data:
                break
            answer += data
    head_text, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_text.split()[1])
    return status, json.loads(body), time.monotonic() - started


def post_head(length: int) -> bytes:
    return (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % length
    )


def nested(levels: int, leaf):
    for _ in range(levels):
        leaf = [leaf]
    return leaf


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b'{"instances": [{"Pclass": 3, "Sex": "ma', 400, ["not valid JSON"]),
        (b'{"instances": [{"Pclass": 3, "Age": NaN}]}', 400, ["NaN", "not JSON", "null"]),
        (b'{"instances": [[3, "male", 22.0, Infinity, "S"]]}', 400, ["Infinity", "not JSON"]),
        (b'{"inputs": {"Fare": [-Infinity]}}', 400, ["-Infinity", "not JSON"]),
        ({"instances": nested(100, ROW)}, 400, ["row 0 has 1 values"]),
        ({"instances": [{**ROW, "Fare": nested(100, 1.0)}]}, 422, ["column 'Fare'"]),
        (nested(100, {}), 400, ["expected exactly one of"]),
        ({"instances": [{**ROW, "Fare": "cheap"}]}, 422, ["column 'Fare'", "float64", "strings"]),
        ({"instances": [{**ROW, "Pclass": "first"}]}, 422, ["column 'Pclass'", "int64"]),
        ({"instances": [{**ROW, "Pclass": 1.5}]}, 422, ["column 'Pclass'", "int64"]),
        ({"instances": [{"Pclass": 3, "Sex": "male"}]}, 400, ["row 0 lacks column 'Age'"]),
        ({"inputs": {"a": [1], "b": [2]}}, 400, ["lacks column 'Pclass'"]),
        ({"instances": [[3, "male", 22.0]]}, 400, ["row 0 has 3 values", "5 values"]),
    ],
)
def test_a_hostile_body_is_a_4xx_with_a_json_message(server, body, status, words):
    assert_refused(server.post("/predict", body), status, *words)
    assert server.post("/predict", {"instances": [ROW]}).status == 200


def test_a_wrong_tensor_shape_is_a_422(serve, new_root):
    code = "def predict(x):\n    return x.sum(axis=1)\n"
    spec = {"kind": "ndarray", "dtype": "float32", "shape": [None, 4]}
    sample = {"request": {"instances": [[1, 2, 3, 4]]}, "expected": {"predictions": [10.0]}}
    server = serve(new_root(code, spec, sample))
    for body in ({"instances": [[1, 2, 3]]}, {"instances": [1, 2, 3, 4]}, {"inputs": [[[1]]]}):
        assert_refused(server.post("/predict", body), 422, "shape [*, 4]")
    assert_refused(server.post("/predict", {"instances": [[1, 2], [3]]}), 422, "rectangular")
    assert server.post("/predict", {"instances": [[1, 2, 3, 4]]}).json() == {"predictions": [10.0]}


def test_a_gigabyte_declared_with_a_small_body_is_answered_413_at_once(server):
    status, body, seconds = raw_exchange(server.port, post_head(10**9) + b'{"instances": []}')
    assert status == 413, body
    assert "1000000000 bytes exceeds the limit" in body["error"]
    assert seconds < BODY_TIMEOUT + 3
    assert server.post("/predict", {"instances": [ROW]}).status == 200


def test_a_body_trickling_in_is_timed_out_while_others_are_served(server):
    body = json.dumps({"instances": [ROW]}).encode()
    answers = []
    trickle = threading.Thread(
        target=lambda: answers.append(
            raw_exchange(
                server.port,
                post_head(len(body)),
                [body[i : i + 1] for i in range(len(body))],
                pause=1.0,
            )
        )
    )
    trickle.start()
    time.sleep(0.5)
    for _ in range(5):  # meanwhile others are served at once
        started = time.monotonic()
        assert server.post("/predict", {"instances": [ROW]}).status == 200
        assert time.monotonic() - started < 0.5
    trickle.join(timeout=30)
    status, answer, seconds = answers[0]
    assert status == 408, answer
    assert f"did not arrive within {BODY_TIMEOUT} seconds" in answer["error"]
    assert BODY_TIMEOUT <= seconds < BODY_TIMEOUT + 2.5
    assert server.get("/health").status == 200
