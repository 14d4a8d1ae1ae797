"""Starting a real JupyterHub on 127.0.0.1 for the browser tests: each user's single-user server
runs as that user (LocalProcessSpawner) and reaches that user's rootless Podman."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ports import free_port, wait_until_answers

#: The hub's configuration; what docs/jupyterhub.md explains, with the test's ports and paths.
CONFIG = """\
import pwd

c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = {folder!r} + "/proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + {folder!r} + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = {folder!r} + "/cookie_secret"
c.JupyterHub.pid_file = {folder!r} + "/hub.pid"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allowed_users = {users!r}
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = [
    "--ServerApp.jpserver_extensions="
    "{{'jupyter_mlcontainer': True, 'jupyter_server_proxy': True}}"
]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 180  # a loaded 2-core machine
c.Spawner.http_timeout = 180


def _runtime_dir(spawner):
    return f"/run/user/{{pwd.getpwnam(spawner.user.name).pw_uid}}"


c.Spawner.environment = {{
    "XDG_RUNTIME_DIR": _runtime_dir,
    "DOCKER_HOST": lambda spawner: f"unix://{{_runtime_dir(spawner)}}/podman/podman.sock",
    **{environment!r},
}}
c.JupyterHub.services = [{{"name": "mlc-test", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [
    {{
        "name": "mlc-test",
        "scopes": ["admin:users", "admin:servers", "admin:server_state", "tokens"],
        "services": ["mlc-test"],
    }}
]
"""


@dataclass
class Hub:
    """A running JupyterHub: its URL, the users' password, and its admin API (a service token)."""

    url: str
    password: str
    token: str
    folder: Path
    pids: dict = field(default_factory=dict)  # user → their single-user server's PID

    def api(self, method: str, path: str, body=None, token: str = "") -> tuple[int, object]:
        """(status, parsed JSON or None) of a request to the hub's origin, any status."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            json.dumps(body).encode() if body is not None else None,
            {"Authorization": f"token {token or self.token}", "Content-Type": "application/json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text.decode(errors="replace")

    def user_token(self, user: str) -> str:
        """An API token of `user`'s own, with the user's scopes (access to their server)."""
        status, reply = self.api("POST", f"/hub/api/users/{user}/tokens", {"note": "test"})
        assert status == 201, reply
        return reply["token"]

    def wait_for_server(self, user: str, seconds: float) -> None:
        """Wait until `user`'s server is ready (as a login or the REST call started it)."""
        deadline = time.monotonic() + seconds
        while True:
            status, model = self.api("GET", f"/hub/api/users/{user}")
            server = (model or {}).get("servers", {}).get("") if status == 200 else None
            if server and server.get("ready"):
                self.pids[user] = server.get("state", {}).get("pid")
                return
            assert time.monotonic() < deadline, f"{user}'s server not ready: {model}"
            time.sleep(1)

    def start_server(self, user: str, seconds: float = 240) -> None:
        status, reply = self.api("POST", f"/hub/api/users/{user}/server")
        assert status in (201, 202, 400), reply  # 400: already running
        self.wait_for_server(user, seconds)

    def stop_servers(self) -> None:
        """Stop every user's server through the hub, then make sure their processes are gone."""
        for user in list(self.pids):
            self.api("DELETE", f"/hub/api/users/{user}/server")
        deadline = time.monotonic() + 60
        for pid in self.pids.values():
            while pid and _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.5)
            _end(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child of ours that ended but was not waited for is a zombie: gone for our purpose.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    return False


def _end(pid: int | None) -> None:
    """Terminate `pid` (a process this test started, directly or through the hub) if alive."""
    if pid and _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@contextmanager
def running_hub(folder: Path, users: list[str], environment: dict):
    """JupyterHub on 127.0.0.1 for `users`, configured in `folder`; each single-user server gets
    `environment` besides its Podman socket. Yields a Hub; stops the users' servers, the hub and
    its proxy afterwards, by PID."""
    singleuser = Path(sys.executable).parent / "jupyterhub-singleuser"
    if not singleuser.exists():
        pytest.skip("no jupyterhub in this Python (pip install '.[test]'; scripts/setup.sh does)")
    if shutil.which("configurable-http-proxy") is None:
        pytest.skip("no configurable-http-proxy (npm install -g configurable-http-proxy)")
    port, token, password = free_port(), secrets.token_hex(16), secrets.token_hex(8)
    config = folder / "jupyterhub_config.py"
    config.write_text(
        CONFIG.format(
            port=port,
            hub_port=free_port(),
            proxy_api_port=free_port(),
            folder=str(folder),
            password=password,
            users=set(users),
            singleuser=str(singleuser),
            environment=environment,
            token=token,
        )
    )
    log_path = folder / "hub.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    hub = Hub(f"http://127.0.0.1:{port}", password, token, folder)
    try:
        wait_until_answers(f"{hub.url}/hub/api", process, log_path, 120)
        yield hub
    finally:
        with contextlib.suppress(Exception):  # the hub may be gone already; the PIDs are known
            hub.stop_servers()
        process.terminate()  # cleanup_servers: the hub also stops servers it still runs
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        proxy_pid = folder / "proxy.pid"
        if proxy_pid.is_file():
            with contextlib.suppress(ValueError):
                _end(int(proxy_pid.read_text().strip()))
        for pid in hub.pids.values():
            _end(pid)
