"""Every front door takes every deploy and push option their declarations give (deploy/plan.py)
and hands it on unchanged: the CLI, the REST bodies, `inst.deploy()`/`inst.push()`; and a field
added to a declaration reaches each of them, and the frontend's request types, with no other edit.
No engine: the one service entry point each front door calls is replaced by a recorder."""

from __future__ import annotations

import argparse
import inspect
import runpy
from dataclasses import make_dataclass
from pathlib import Path

import pytest

from jupyter_mlcontainer.cli import build_parser, main
from jupyter_mlcontainer.deploy import push, replicas
from jupyter_mlcontainer.deploy.plan import DeployOptions, PushOptions, RunLimits
from jupyter_mlcontainer.engine.base import Instance
from jupyter_mlcontainer.notebook.instance import ServingInstance
from jupyter_mlcontainer.pipeline.plan import option
from jupyter_mlcontainer.server.validation import read_options
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.shared.errors import InvalidRequest
from jupyter_mlcontainer.workflow.options import (
    add_arguments,
    declared_options,
    json_fields,
    keyword_signature,
    options_from,
    required_fields,
)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "request_types.py"
DECLARATIONS = {"deploy": DeployOptions, "push": PushOptions}

#: A value other than the default for each kind of option.
SAMPLE_VALUES = {str: "chosen", int: 3, float: 1.5}


def given(declaration: type) -> dict:
    """A value for every option: the one its flag gives for a boolean (`--no-harden`: False)."""
    return {o.name: _value(o) for o in declared_options(declaration)}


def _value(option):
    if option.kind is bool:
        return not option.negated
    return option.choices[-1] if option.choices else SAMPLE_VALUES[option.kind]


def command_line(declaration: type, values: dict) -> list[str]:
    words = []
    for o in declared_options(declaration):
        if o.kind is bool:
            words.append(o.flag)
        elif o.flag.startswith("-"):
            words += [o.flag, str(values[o.name])]
        else:
            words.append(str(values[o.name]))  # a positional
    return words


@pytest.mark.parametrize("command", DECLARATIONS)
def test_the_cli_takes_every_option(command):
    declaration, values = DECLARATIONS[command], given(DECLARATIONS[command])
    args = build_parser().parse_args([command, *command_line(declaration, values)])
    assert options_from(declaration, vars(args)) == declaration(**values)


@pytest.mark.parametrize("command", DECLARATIONS)
def test_the_rest_body_takes_every_option(command):
    declaration, values = DECLARATIONS[command], given(DECLARATIONS[command])
    assert read_options(values, declaration) == declaration(**values)


@pytest.fixture
def inst(monkeypatch):
    """An instance object whose deploys and pushes are recorded instead of run."""
    served = ServingInstance(
        Instance(
            id="c0ffee",
            name="iris",
            image="mlcontainer/iris:abc",
            url="http://127.0.0.1:9",
            status="running",
        ),
        engine=object(),
    )
    served.asked = []
    monkeypatch.setattr(
        replicas, "deploy", lambda engine, options, *_: served.asked.append(options)
    )
    monkeypatch.setattr(
        push, "push_image", lambda engine, options, *_: served.asked.append(options)
    )
    return served


def test_the_instance_object_deploys_with_every_option(inst):
    values = given(DeployOptions)
    del values["source"]
    assert set(inspect.signature(ServingInstance.deploy).parameters) == {"self", *values}
    inst.deploy(**values)
    inst.deploy()
    assert inst.asked == [
        DeployOptions(inst.image, **values),
        DeployOptions(inst.image, name=inst.name),  # named after the instance
    ]
    with pytest.raises(TypeError, match="source"):
        inst.deploy(source="another")


def test_the_instance_object_pushes_with_every_option(inst):
    values = given(PushOptions)
    del values["source"]
    inst.push(**values)
    assert inst.asked == [PushOptions(inst.image, **values)]


def test_the_replica_count_is_checked_by_the_declaration_whatever_the_front_door(inst, capsys):
    with pytest.raises(InvalidRequest, match="99 replicas is outside 1..32"):
        read_options({"source": "img", "replicas": 99}, DeployOptions)
    with pytest.raises(InvalidRequest, match="0 replicas"):
        inst.deploy(replicas=0)
    assert main(["deploy", "img", "--replicas", "99"]) == 1  # before the engine is opened
    assert "99 replicas is outside 1..32" in capsys.readouterr().err


def test_the_rest_body_checks_types_as_json_has_them():
    assert read_options({"source": "img", "cpus": 2}, DeployOptions).cpus == 2  # a number
    for wrong in ({"replicas": True}, {"replicas": "2"}, {"cpus": "2"}, {"init_swarm": 1}):
        with pytest.raises(InvalidRequest, match=f"'{next(iter(wrong))}' must be"):
            read_options({"source": "img", **wrong}, DeployOptions)
    with pytest.raises(InvalidRequest, match="'to' is required"):
        read_options({"source": "img"}, PushOptions)


def test_replicas_and_instances_run_with_the_configured_limits_and_the_given_ones_over_them():
    config = MLContainerConfig(memory="1g", cpus=2.0)
    assert DeployOptions("img").run_options(config) == config.run_options()
    chosen = DeployOptions("img", harden=False, cpus=0.5).run_options(config)
    assert chosen == {"harden": False, "memory": "1g", "cpus": 0.5}
    args = build_parser().parse_args(["run", "img", "--no-harden", "--memory", "2g"])
    limits = options_from(RunLimits, vars(args)).run_options(config)
    assert limits == {"harden": False, "memory": "2g", "cpus": 2.0}


def test_a_new_deploy_option_reaches_each_derived_surface():
    """A field added to a declaration reaches every surface derived from it: the argparse
    arguments, the REST body's check, the keyword signature and the TypeScript interface (the
    real front doors are built from these same functions: the tests above)."""
    canary = option(False, "send a share of the requests to the new image")
    extended = make_dataclass(
        "Extended", [("canary", bool, canary)], bases=(DeployOptions,), frozen=True
    )

    parser = argparse.ArgumentParser()
    add_arguments(parser, extended)
    assert options_from(extended, vars(parser.parse_args(["img", "--canary"]))).canary is True

    assert read_options({"source": "img", "canary": True}, extended).canary is True

    @keyword_signature(extended, leave_out=("source",))
    def deploy(self, **options):
        pass

    assert inspect.signature(deploy).parameters["canary"].default is False

    interface = runpy.run_path(str(SCRIPT))["interface"]
    typescript = interface(
        "IDeployRequest", "POST x", json_fields(extended), required_fields(extended)
    )
    assert "  canary?: boolean;" in typescript.splitlines()
    assert "  source: string;" in typescript.splitlines()
