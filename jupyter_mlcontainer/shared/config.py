"""Configuration shared by every front door, as one traitlets `Configurable`.

Set it in `jupyter_server_config.py` (or `jupyter_mlcontainer_config.py`) as
`c.MLContainerConfig.base_image = "..."`, by environment variable, or per call.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from traitlets import Bool, Dict, Enum, Float, Int, Unicode, default
from traitlets.config import Configurable

BASE_IMAGE_ENV = "MLCONTAINER_BASE_IMAGE"
LABELS_ENV = "MLCONTAINER_LABELS"


class MLContainerConfig(Configurable):
    base_image = Unicode(
        help=(
            "Base image for generated containers. Empty means python:<kernel major.minor>-slim. "
            f"Defaults to ${BASE_IMAGE_ENV} when set. Build an offline one with "
            "`jupyter mlcontainer base-image`."
        ),
    ).tag(config=True)

    default_port = Int(
        0, help="Host port for local serving instances on 127.0.0.1; 0 picks a free port."
    ).tag(config=True)

    download_wheels = Bool(
        True,
        help=(
            "Download wheels on the host for the image's platform, so the image builds "
            "without network access; False lets pip inside the image reach an index."
        ),
    ).tag(config=True)

    harden = Bool(
        True,
        help=(
            "Run local instances with least privilege: a read-only root filesystem with a "
            "64 MB tmpfs on /tmp, every Linux capability dropped and no-new-privileges. False "
            "(`run --no-harden`) is for a model that must write outside /tmp."
        ),
    ).tag(config=True)

    memory = Unicode(
        "",
        help="Memory limit of local instances as Docker takes it ('512m', '2g'); empty: none. "
        "An instance that outgrows it is killed, and `ls` says OOM-killed.",
    ).tag(config=True)

    cpus = Float(0.0, help="CPUs local instances may use (1.5); 0: no limit.").tag(config=True)

    data_drift_threshold = Float(
        0.2,
        min=0.0,
        help=(
            "Population stability index above which a running instance's input feature counts "
            "as drifting from its training data: JupyterLab's sidebar then shows a 'data drift' "
            "badge (GET /mlcontainer/instances/NAME/data-drift lists such features)."
        ),
    ).tag(config=True)

    proxy_urls = Enum(
        ["auto", "always", "never"],
        "auto",
        help=(
            "Instance URLs in the REST API's answers (and so in JupyterLab): 'auto' gives the "
            "path through this server's jupyter-server-proxy ({base_url}proxy/{port}/) when "
            "running under JupyterHub with jupyter-server-proxy enabled, where 127.0.0.1 is not "
            "the browser's machine; 'always' gives it whenever jupyter-server-proxy is enabled; "
            "'never' keeps the direct 127.0.0.1 URL. Proxied answers keep the direct one as "
            "'direct_url'."
        ),
    ).tag(config=True)

    labels = Dict(
        help=(
            "Extra labels put on every image and container, e.g. {'team': 'fraud'}. "
            f"Defaults to ${LABELS_ENV} given as key=value,key=value."
        ),
    ).tag(config=True)

    @default("labels")
    def _default_labels(self) -> dict:
        pairs = [p for p in os.environ.get(LABELS_ENV, "").split(",") if "=" in p]
        return dict(pair.strip().split("=", 1) for pair in pairs)

    @default("base_image")
    def _default_base_image(self) -> str:
        return os.environ.get(BASE_IMAGE_ENV, "")

    def run_options(self) -> dict:
        """What `ContainerEngine.run` takes from this configuration: hardening and limits."""
        return {"harden": self.harden, "memory": self.memory or None, "cpus": self.cpus or None}

    def base_image_for(self, python_version: str) -> str:
        """The base image to use for a kernel running `python_version` ("3.11")."""
        return self.base_image or f"python:{python_version}-slim"


def load_config() -> MLContainerConfig:
    """Read `MLContainerConfig` settings from the user's Jupyter config files, for headless use."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    merged = Config()
    for directory in reversed(jupyter_config_path()):
        for name in ("jupyter_server_config.py", "jupyter_mlcontainer_config.py"):
            try:
                merged.merge(PyFileConfigLoader(name, path=directory).load_config())
            except ConfigFileNotFound:
                continue
    return MLContainerConfig(config=merged)


def cache_dir(*parts: str) -> Path:
    """A folder under $XDG_CACHE_HOME/jupyter-mlcontainer (~/.cache by default)."""
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root.joinpath("jupyter-mlcontainer", *parts)


def write_cache_file(path: Path, text: str) -> None:
    """Write a cache entry whole or not at all: two builds at once may compute the same entry,
    and one must never read the other's half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
