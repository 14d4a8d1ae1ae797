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

from ..pipeline.plan import ExportOptions
from ..pipeline.render import CONTEXT_MARKER
from ..workflow.options import exporter_traits, options_from


class _ContextExporter(Exporter):
    """The exporter's behaviour; its configurable traits are the build options, added below."""

    export_from_notebook = "ML container build context"
    output_mimetype = "application/gzip"

    def _file_extension_default(self):
        return ".tar.gz"

    def from_notebook_node(self, nb, resources=None, **kwargs):
        from ..workflow.build import containerize

        nb_copy, resources = super().from_notebook_node(nb, resources, **kwargs)
        metadata = resources.get("metadata", {})
        name = metadata.get("name") or "notebook"
        folder = Path(metadata.get("path") or ".")
        with tempfile.TemporaryDirectory(prefix="mlcontainer-export-") as scratch:
            notebook = folder / f"{name}.ipynb"
            if not notebook.is_file():  # an in-memory notebook: its local modules are unknown
                notebook = Path(scratch) / f"{name}.ipynb"
                nbformat.write(nb_copy, notebook)
            values = {name: getattr(self, name) for name in self.trait_names(config=True)}
            options = options_from(ExportOptions, values, notebook=str(notebook))
            context = Path(scratch) / "context"
            containerize(options, context_only=True, out_dir=str(context))
            return archive(context), resources


#: `--MLContainerExporter.<option>`: every build option but those about a running instance.
MLContainerExporter = type("MLContainerExporter", (_ContextExporter,), exporter_traits())


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
