"""Every front door takes every build option `ExportOptions` declares, and hands it on unchanged."""

from __future__ import annotations

import pytest
from IPython.core.magic_arguments import parse_argstring

from jupyter_mlcontainer.cli import build_parser
from jupyter_mlcontainer.notebook.exporter import MLContainerExporter
from jupyter_mlcontainer.notebook.magic import ContainerizeMagics
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.server.validation import read_job_request
from jupyter_mlcontainer.shared.errors import InvalidRequest
from jupyter_mlcontainer.workflow.options import declared_options, options_from

#: A value other than the default for each kind of option.
SAMPLE_VALUES = {str: "chosen", int: 8081, bool: True, tuple: ("libgomp1", "libgeos-c1v5")}


def _given(option):
    if option.name == "entry":
        return None  # model and entry exclude each other; model stands for both
    if option.choices:
        return option.choices[-1]
    return SAMPLE_VALUES[option.kind]


def built(values: dict) -> ExportOptions:
    return options_from(ExportOptions, values, notebook="nb.ipynb")


def _flags(option, value) -> list[str]:
    if option.kind is bool:
        return [option.flag]
    if option.kind is tuple:
        return [word for item in value for word in (option.flag, item)]
    return [option.flag, str(value)]


BUILD_OPTIONS = declared_options(ExportOptions)
OPTIONS = [o for o in BUILD_OPTIONS if _given(o) is not None]


def test_options_are_declared_once_with_help():
    names = [o.name for o in BUILD_OPTIONS]
    assert {"model", "entry", "sample", "system_packages", "keep_gpu_packages", "port"} <= set(
        names
    )
    assert all(o.help for o in BUILD_OPTIONS)


@pytest.mark.parametrize("option", OPTIONS, ids=[o.name for o in OPTIONS])
def test_the_cli_takes_it(option):
    value = _given(option)
    args = build_parser().parse_args(["build", "nb.ipynb", *_flags(option, value)])
    assert getattr(built(vars(args)), option.name) == value


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.name != "run"], ids=lambda o: o.name)
def test_the_magic_takes_it(option):
    value = _given(option)
    args = parse_argstring(ContainerizeMagics.containerize, " ".join(_flags(option, value)))
    assert getattr(built(vars(args)), option.name) == value


def test_the_magic_runs_unless_told_not_to():
    assert not parse_argstring(ContainerizeMagics.containerize, "").no_run
    assert parse_argstring(ContainerizeMagics.containerize, "--no-run").no_run


@pytest.mark.parametrize("option", OPTIONS, ids=[o.name for o in OPTIONS])
def test_the_rest_body_takes_it(option, tmp_path):
    (tmp_path / "nb.ipynb").write_text("{}")
    value = _given(option)
    json_value = list(value) if isinstance(value, tuple) else value
    options, _ = read_job_request({"path": "nb.ipynb", option.name: json_value}, str(tmp_path))
    assert getattr(options, option.name) == value


@pytest.mark.parametrize("option", [o for o in OPTIONS if not o.instance], ids=lambda o: o.name)
def test_the_exporter_takes_it(option):
    value = _given(option)
    exporter = MLContainerExporter(**{option.name: list(value) if option.kind is tuple else value})
    values = {o.name: getattr(exporter, o.name) for o in BUILD_OPTIONS if not o.instance}
    assert getattr(built(values), option.name) == value


def test_the_rest_body_checks_types(tmp_path):
    (tmp_path / "nb.ipynb").write_text("{}")
    with pytest.raises(InvalidRequest, match="list of strings"):
        read_job_request({"path": "nb.ipynb", "system_packages": [1]}, str(tmp_path))
    with pytest.raises(InvalidRequest, match="keep_gpu_packages"):
        read_job_request({"path": "nb.ipynb", "keep_gpu_packages": "yes"}, str(tmp_path))
    with pytest.raises(InvalidRequest, match="not both"):
        read_job_request({"path": "nb.ipynb", "model": "a", "entry": "b"}, str(tmp_path))
