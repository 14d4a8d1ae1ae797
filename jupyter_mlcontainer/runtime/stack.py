"""Which event loop, HTTP parser and JSON library serve: the compiled ones (uvloop, httptools,
orjson) when the image has their wheels, the pure-Python ones (asyncio, h11, json) otherwise."""

import importlib

from . import fastjson


def serving_stack() -> dict:
    def have(module):
        """Imported, not just found: a wheel whose compiled library fails to load is not used.
        uvicorn imports the chosen ones anyway."""
        try:
            importlib.import_module(module)
        except ImportError:
            return False
        return True

    return {
        "loop": "uvloop" if have("uvloop") else "asyncio",
        "http": "httptools" if have("httptools") else "h11",
        "json": fastjson.ENGINE,
    }
