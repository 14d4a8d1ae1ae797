"""Instance URLs as the browser reaches them. Under JupyterHub, 127.0.0.1 is the hub machine's
loopback, not the user's: the URL that works there is the path through the user's own server,
`{base_url}proxy/{port}/`, which jupyter-server-proxy forwards to the instance's port."""

from __future__ import annotations

import importlib.util
import os
from urllib.parse import urlsplit

#: Hosts an instance URL names when its port is published on this machine.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def proxied_url(url: str, base_url: str) -> str:
    """The path that reaches `url` (an instance on this machine's loopback) through
    jupyter-server-proxy under the server's `base_url`; any other URL is returned unchanged."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS or not parts.port:
        return url
    path = parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
    return f"{base_url.rstrip('/')}/proxy/{parts.port}/{path}"


def proxy_base(mode: str, base_url: str, proxy_enabled: bool, environ=None) -> str:
    """The `base_url` to put instance URLs under, or "" to leave them direct: under JupyterHub
    (`JUPYTERHUB_SERVICE_PREFIX` set) with jupyter-server-proxy enabled when `mode` is "auto",
    wherever it is enabled when "always", never when "never"."""
    environ = os.environ if environ is None else environ
    if mode == "never" or not proxy_enabled:
        return ""
    if mode == "always" or environ.get("JUPYTERHUB_SERVICE_PREFIX"):
        return base_url
    return ""


def server_proxy_enabled(server_app) -> bool:
    """Whether this Jupyter server loads jupyter-server-proxy (enabled and importable)."""
    enabled = server_app.jpserver_extensions.get("jupyter_server_proxy", False)
    return bool(enabled) and importlib.util.find_spec("jupyter_server_proxy") is not None


def reachable(value, base_url: str):
    """`value` (a JSON answer) with every loopback `url` in it proxied under `base_url`, the
    original kept beside it as `direct_url`: instances, a build's instance and replacement,
    deployments. Unchanged when `base_url` is ""."""
    if not base_url:
        return value
    if isinstance(value, list):
        return [reachable(item, base_url) for item in value]
    if not isinstance(value, dict):
        return value
    answer = {key: reachable(item, base_url) for key, item in value.items()}
    url = value.get("url")
    if isinstance(url, str) and "direct_url" not in value:
        proxied = proxied_url(url, base_url)
        if proxied != url:
            answer["url"], answer["direct_url"] = proxied, url
    return answer
