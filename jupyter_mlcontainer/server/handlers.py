"""REST handlers: thin wrappers that validate input, call the pipeline or engine, write JSON."""

from __future__ import annotations

import json

import tornado
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from .. import __version__


class ConfigHandler(APIHandler):
    """The effective configuration, so the frontend can show the defaults it will get."""

    @tornado.web.authenticated
    def get(self):
        config = self.settings["mlcontainer_config"]
        self.finish(json.dumps({
            "version": __version__,
            "base_image": config.base_image,
            "default_port": config.default_port,
            "download_wheels": config.download_wheels,
        }))


def setup_handlers(web_app) -> None:
    base = url_path_join(web_app.settings["base_url"], "mlcontainer")
    web_app.add_handlers(".*$", [(url_path_join(base, "config"), ConfigHandler)])
