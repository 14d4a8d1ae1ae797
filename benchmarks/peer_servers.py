"""The servers a user would pick instead of ours, started the same way and timed the same way.

Each peer runs on the host from its own virtual environment (never the system Python), one
worker process each, bound to 127.0.0.1; ours runs as the container our pipeline built.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sklearn
from process_memory import process_tree

HERE = Path(__file__).resolve().parent
VENV = Path("/tmp/peers-venv")
REQUIREMENTS = (
    "mlflow>=3,<4",
    "bentoml>=1.4,<1.5",
    f"scikit-learn=={sklearn.__version__}",  # the pickles load only in the version that wrote them
    "fastapi",
    "uvicorn",
    "pandas",
    "joblib",
)
# MLflow 3 saves scikit-learn models with skops, which refuses a forest's trees until trusted.
MLFLOW_SAVE = """import sys, joblib, mlflow.sklearn
mlflow.sklearn.save_model(
    joblib.load(sys.argv[1]), sys.argv[2], skops_trusted_types=["sklearn.tree._tree.Tree"]
)
"""
# One service, served plain or with BentoML's adaptive batching (PEERS_BATCHING=1).
BENTO_SERVICE = """import os

import bentoml
import joblib
import numpy as np


@bentoml.service(workers=1)
class Model:
    def __init__(self):
        self.model = joblib.load(os.environ["PEERS_MODEL"])

    @bentoml.api(batchable=os.environ.get("PEERS_BATCHING") == "1")
    def predict(self, instances: np.ndarray) -> np.ndarray:
        return self.model.predict(instances)
"""
START_SECONDS = 90


def venv_commands(venv: Path = VENV) -> list[list[str]]:
    return [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *REQUIREMENTS],
    ]


def make_venv(venv: Path = VENV) -> None:
    for command in venv_commands(venv):
        subprocess.run(command, check=True)


@dataclass
class Running:
    """A started server: where it answers, how long it took, its processes, how to stop it."""

    url: str
    cold_start_s: float
    pids: Callable[[], list[int]]
    stop: Callable[[], None]


@dataclass
class HostServer:
    name: str
    command: list[str]
    route: str = "/predict"
    body_key: str = "instances"
    cwd: Path = HERE
    env: dict = field(default_factory=dict)

    def body(self, rows: list) -> bytes:
        return json.dumps({self.body_key: rows}).encode()

    def start(self, rows: list, expected: list) -> Running:
        port = free_port()
        command = [part.replace("{port}", str(port)) for part in self.command]
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=self.cwd,
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its workers form one group, stopped together
        )
        url = f"http://127.0.0.1:{port}{self.route}"
        try:
            seconds = first_correct_prediction(url, self.body(rows), expected, started)
        except BaseException:
            _stop_group(process)
            raise
        return Running(
            url, seconds, lambda: process_tree(process.pid), lambda: _stop_group(process)
        )


@dataclass
class OurContainer:
    client: object  # docker.DockerClient
    tag: str
    labels: dict
    name: str = "mlcontainer"
    environment: dict = field(default_factory=dict)

    def body(self, rows: list) -> bytes:
        return json.dumps({"instances": rows}).encode()

    def start(self, rows: list, expected: list) -> Running:
        container = self.client.containers.create(
            self.tag,
            ports={"8080/tcp": ("127.0.0.1", None)},
            labels=self.labels,
            environment=self.environment,
        )
        try:
            started = time.perf_counter()
            container.start()
            container.reload()
            port = container.ports["8080/tcp"][0]["HostPort"]
            url = f"http://127.0.0.1:{port}/predict"
            seconds = first_correct_prediction(url, self.body(rows), expected, started)
        except BaseException:
            container.remove(force=True)
            raise
        return Running(
            url, seconds, lambda: _container_pids(container), lambda: container.remove(force=True)
        )


def host_servers(model_file: Path, work: Path, venv: Path = VENV) -> list[HostServer]:
    """MLflow, BentoML plain and batching, and hand-written FastAPI, all serving `model_file`."""
    python = str(venv / "bin" / "python")
    # As if activated: `mlflow models serve` runs `uvicorn` found on PATH.
    activated = {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    mlflow_model = work / "mlflow-model"
    subprocess.run(
        [python, "-c", MLFLOW_SAVE, str(model_file), str(mlflow_model)],
        check=True,
        capture_output=True,
    )
    (work / "bento_service.py").write_text(BENTO_SERVICE)
    bento_env = {
        **activated,
        "PEERS_MODEL": str(model_file),
        "BENTOML_HOME": str(work / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    bento = [
        str(venv / "bin" / "bentoml"),
        "serve",
        "bento_service:Model",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
    ]
    return [
        HostServer(
            "mlflow",
            [
                str(venv / "bin" / "mlflow"),
                "models",
                "serve",
                "-m",
                str(mlflow_model),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                "{port}",
            ],
            route="/invocations",
            body_key="inputs",
            env={**activated, "MLFLOW_TRACKING_URI": str(work / "mlruns")},
        ),
        HostServer("bentoml", bento, cwd=work, env=bento_env),
        HostServer("bentoml-batch", bento, cwd=work, env={**bento_env, "PEERS_BATCHING": "1"}),
        HostServer(
            "fastapi",
            [
                python,
                str(HERE / "baseline_fastapi.py"),
                "--model",
                str(model_file),
                "--port",
                "{port}",
            ],
            env=activated,
        ),
    ]


def first_correct_prediction(url: str, body: bytes, expected: list, started: float) -> float:
    """Seconds from `started` until `url` answers `body` with `expected` predictions."""
    while (elapsed := time.perf_counter() - started) < START_SECONDS:
        if predictions(url, body) == expected:
            return time.perf_counter() - started
        time.sleep(0.01)
    raise RuntimeError(f"{url} gave no correct prediction within {elapsed:.0f} s")


def predictions(url: str, body: bytes):
    """The predictions answered (a bare list, or under "predictions"); None for no answer."""
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            parsed = json.load(answer)
    except (OSError, ValueError, urllib.error.HTTPError):
        return None
    return parsed.get("predictions") if isinstance(parsed, dict) else parsed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _container_pids(container) -> list[int]:
    top = container.top()
    column = top["Titles"].index("PID")
    return [int(row[column]) for row in top["Processes"]]


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's own process group (it was started as its leader), then wait."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
