"""`jupyter nbconvert --to mlcontainer`: the build context as a gzipped tar archive.

The archive is itself a Docker build context (`docker build - < notebook.tar.gz`), and is what
JupyterLab's "Save and Export Notebook As → Mlcontainer" downloads.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import tempfile
from pathlib import Path

import nbformat
from nbconvert.exporters import Exporter
from traitlets import Bool, List, Unicode

from .pipeline.plan import OPTION_HELP, ExportOptions
from .pipeline.render import CONTEXT_MARKER


class MLContainerExporter(Exporter):
    export_from_notebook = "ML container build context"
    output_mimetype = "application/gzip"

    model = Unicode(None, allow_none=True, help="Model variable to serve (VAR.predict).").tag(
        config=True
    )
    entry = Unicode(None, allow_none=True, help="Function to serve (default: predict).").tag(
        config=True
    )
    sample = Unicode(None, allow_none=True, help="Sample input expression.").tag(config=True)
    system_packages = List(Unicode(), help=OPTION_HELP["system_package"]).tag(config=True)
    keep_gpu_packages = Bool(False, help=OPTION_HELP["keep_gpu_packages"]).tag(config=True)

    def _file_extension_default(self):
        return ".tar.gz"

    def from_notebook_node(self, nb, resources=None, **kwargs):
        from .workflow import containerize

        nb_copy, resources = super().from_notebook_node(nb, resources, **kwargs)
        metadata = resources.get("metadata", {})
        name = metadata.get("name") or "notebook"
        folder = Path(metadata.get("path") or ".")
        with tempfile.TemporaryDirectory(prefix="mlcontainer-export-") as scratch:
            notebook = folder / f"{name}.ipynb"
            if not notebook.is_file():  # an in-memory notebook: its local modules are unknown
                notebook = Path(scratch) / f"{name}.ipynb"
                nbformat.write(nb_copy, notebook)
            options = ExportOptions(
                notebook=str(notebook),
                model=self.model,
                entry=self.entry,
                sample=self.sample,
                system_packages=tuple(self.system_packages),
                keep_gpu_packages=self.keep_gpu_packages,
            )
            context = Path(scratch) / "context"
            containerize(options, context_only=True, out_dir=str(context))
            return archive(context), resources


def archive(folder: Path) -> bytes:
    """A reproducible tar.gz with the context at its root: sorted, no timestamps or owners."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed:
        with tarfile.open(fileobj=compressed, mode="w") as tar:
            for path in sorted(p for p in folder.rglob("*") if p.name != CONTEXT_MARKER):
                info = tar.gettarinfo(str(path), arcname=path.relative_to(folder).as_posix())
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if path.is_file():
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
                else:
                    tar.addfile(info)
    return buffer.getvalue()
