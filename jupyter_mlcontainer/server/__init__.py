"""The jupyter_server extension: REST API under /mlcontainer/ for the JupyterLab frontend."""

from ..shared.config import MLContainerConfig
from .handlers import setup_handlers
from .jobs import JobManager, pipeline_build
from .proxy import proxy_base, server_proxy_enabled


def _load_jupyter_server_extension(server_app):
    config = MLContainerConfig(parent=server_app)
    settings = server_app.web_app.settings
    settings["mlcontainer_config"] = config
    settings["mlcontainer_jobs"] = JobManager(pipeline_build(config, server_app.kernel_manager))
    settings["mlcontainer_proxy_base"] = proxy_base(
        config.proxy_urls, server_app.base_url, server_proxy_enabled(server_app)
    )
    setup_handlers(server_app.web_app)
    server_app.log.info(
        "jupyter_mlcontainer: serving /mlcontainer/ (base image: %s)",
        config.base_image or "python:<kernel version>-slim",
    )
    if settings["mlcontainer_proxy_base"]:
        server_app.log.info(
            "jupyter_mlcontainer: instance URLs through jupyter-server-proxy (%sproxy/PORT/)",
            settings["mlcontainer_proxy_base"],
        )


def _unload_jupyter_server_extension(server_app):
    """Cancel queued and running builds when the server stops."""
    server_app.web_app.settings["mlcontainer_jobs"].shutdown()
