"""Starting a real JupyterLab on 127.0.0.1 for the browser tests, and how Chromium is run."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from ports import free_port, wait_until_answers

REPO = Path(__file__).resolve().parents[2]
#: Copied into the server's root, for the tests that build them.
NOTEBOOKS = ("iris_classifier.ipynb", "xgboost_churn.ipynb")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def running_lab(tmp_path_factory, base_image, test_labels, **extra_env):
    """Start `jupyter lab` (its environment plus `extra_env`); (url, token) while it runs."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    root = tmp_path_factory.mktemp("lab-root")
    for notebook in NOTEBOOKS:
        shutil.copy(REPO / "examples" / notebook, root / notebook)
    home = tmp_path_factory.mktemp("lab-home")
    token, port = secrets.token_hex(16), free_port()
    ((label, value),) = test_labels.items()
    env = {
        **os.environ,
        "MLCONTAINER_BASE_IMAGE": base_image,
        "MLCONTAINER_LABELS": f"{label}={value}",
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        **extra_env,
    }
    with open(home / "lab.log", "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--allow-root",
                "--ip=127.0.0.1",
                f"--port={port}",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_answers(f"{url}/api/status?token={token}", process, home / "lab.log", 60)
            yield url, token
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
