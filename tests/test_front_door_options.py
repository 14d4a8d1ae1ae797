"""Every front door takes the build options the pipeline has, and hands them on unchanged."""

from __future__ import annotations

import pytest
from IPython.core.magic_arguments import parse_argstring

from jupyter_mlcontainer.cli import build_parser
from jupyter_mlcontainer.errors import InvalidRequest
from jupyter_mlcontainer.exporter import MLContainerExporter
from jupyter_mlcontainer.magic import ContainerizeMagics
from jupyter_mlcontainer.server.validation import read_job_request


def test_the_cli_takes_system_packages_and_keeps_gpu_packages():
    args = build_parser().parse_args(
        [
            "build",
            "nb.ipynb",
            "--system-package",
            "libgomp1",
            "--system-package",
            "libgeos-c1v5",
            "--keep-gpu-packages",
        ]
    )
    assert args.system_packages == ["libgomp1", "libgeos-c1v5"] and args.keep_gpu_packages
    defaults = build_parser().parse_args(["build", "nb.ipynb"])
    assert defaults.system_packages == [] and not defaults.keep_gpu_packages


def test_the_magic_takes_them_too():
    args = parse_argstring(
        ContainerizeMagics.containerize, "clf --system-package libgomp1 --keep-gpu-packages"
    )
    assert args.system_packages == ["libgomp1"] and args.keep_gpu_packages


def test_the_rest_body_takes_them_and_checks_their_types(tmp_path):
    (tmp_path / "nb.ipynb").write_text("{}")
    options, _ = read_job_request(
        {"path": "nb.ipynb", "system_packages": ["libgomp1"], "keep_gpu_packages": True},
        str(tmp_path),
    )
    assert options.system_packages == ("libgomp1",) and options.keep_gpu_packages
    with pytest.raises(InvalidRequest, match="list of strings"):
        read_job_request({"path": "nb.ipynb", "system_packages": [1]}, str(tmp_path))
    with pytest.raises(InvalidRequest, match="keep_gpu_packages"):
        read_job_request({"path": "nb.ipynb", "keep_gpu_packages": "yes"}, str(tmp_path))


def test_the_exporter_has_them_as_traits():
    exporter = MLContainerExporter(system_packages=["libgomp1"], keep_gpu_packages=True)
    assert exporter.system_packages == ["libgomp1"] and exporter.keep_gpu_packages
