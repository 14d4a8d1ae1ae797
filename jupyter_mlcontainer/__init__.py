"""Turn a Jupyter notebook into a running model-serving container without leaving Jupyter."""

from .shared.version import __version__

__all__ = ["__version__", "load_ipython_extension"]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyter-mlcontainer"}]


def _jupyter_server_extension_points():
    return [{"module": "jupyter_mlcontainer.server"}]


def _load_jupyter_server_extension(server_app):
    # Imported lazily: the package must stay importable without jupyter_server (inside kernels).
    from .server import _load_jupyter_server_extension as load

    load(server_app)


def load_ipython_extension(ipython):
    """`%load_ext jupyter_mlcontainer` registers the `%containerize` magic."""
    from .notebook.magic import load_ipython_extension as load

    load(ipython)
