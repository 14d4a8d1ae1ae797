"""A model that can be 're-trained' into another, built fast, and a bounded load that records
every answer and every failure: for tests of what replaces a running model."""

from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import urlsplit

import nbformat

ROWS = [[0.0, 1.0], [2.0, 3.0]]


def trained_notebook(path, label: str):
    """A notebook whose 'model' answers `label` for every row: 're-training' it with another
    label makes answers that tell the two models apart. numpy only, so images build fast."""
    cells = [
        "import numpy as np",
        f"labels = np.array([{label!r}])  # the trained state",
        "def predict(X):\n    return np.repeat(labels, len(X))",
        "X = np.zeros((4, 2))",
    ]
    notebook = nbformat.v4.new_notebook(  # the same label writes the same bytes
        cells=[nbformat.v4.new_code_cell(c, id=f"cell-{i}") for i, c in enumerate(cells)]
    )
    path.write_text(nbformat.writes(notebook))
    return path


def build_trained_image(base_image: str, labels: dict, folder, name: str, label: str) -> str:
    """The serving image of `trained_notebook(label)` as `mlcontainer/<name>:<hash>` (and
    `:latest`); returns the content-hash tag."""
    from jupyter_mlcontainer.pipeline.plan import ExportOptions
    from jupyter_mlcontainer.shared.config import MLContainerConfig
    from jupyter_mlcontainer.workflow.build import containerize

    folder.mkdir(parents=True, exist_ok=True)
    notebook = trained_notebook(folder / f"{label}.ipynb", label)
    options = ExportOptions(notebook=str(notebook), entry="predict", sample="X[:2]", name=name)
    config = MLContainerConfig(labels=labels, base_image=base_image)
    return containerize(options, config=config, out_dir=str(folder / label)).tag


def predict(connection: http.client.HTTPConnection) -> tuple[int, str, str]:
    """(status, the predicted label, the replica that answered) over a kept-alive connection."""
    connection.request(
        "POST", "/predict", json.dumps({"instances": ROWS}), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    body = json.loads(response.read())
    return response.status, (body.get("predictions") or ["?"])[0], response.getheader("X-Replica")


def connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)


class Load:
    """`clients` threads sending predictions until stopped (at most `limit` seconds); every
    answer is kept with its time, every failure (an error status or a broken connection) too."""

    def __init__(self, url: str, clients: int = 8, limit: float = 120):
        self.url, self.limit = url, limit
        self.answers: list[tuple[float, str]] = []
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client) for _ in range(clients)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def client(self):
        deadline = time.monotonic() + self.limit
        connection = connect(self.url)
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                status, label, _ = predict(connection)
            except (OSError, http.client.HTTPException, ValueError) as error:
                self.failures.append(repr(error))
                connection.close()
                connection = connect(self.url)
                continue
            if status == 200:
                self.answers.append((time.monotonic(), label))
            else:
                self.failures.append(f"HTTP {status}")
        connection.close()
