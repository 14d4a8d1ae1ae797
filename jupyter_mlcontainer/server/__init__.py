"""The jupyter_server extension: REST API under /mlcontainer/ for the JupyterLab frontend."""

from ..config import MLContainerConfig
from .handlers import setup_handlers


def _load_jupyter_server_extension(server_app):
    config = MLContainerConfig(parent=server_app)
    server_app.web_app.settings["mlcontainer_config"] = config
    setup_handlers(server_app.web_app)
    server_app.log.info("jupyter_mlcontainer: serving /mlcontainer/ (base image: %s)",
                        config.base_image or "python:<kernel version>-slim")
