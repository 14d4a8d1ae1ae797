"""`jupyter mlcontainer run | ls | logs | stop` against a real engine."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone

import pytest

from jupyter_mlcontainer.cli.instances import add_commands, format_table, uptime
from jupyter_mlcontainer.engine.base import split_image_ref
from jupyter_mlcontainer.running.client import ServingClient
from jupyter_mlcontainer.shared.errors import ForeignImage, InstanceNotFound, RunFailed

from stubs import remove_instance


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="jupyter mlcontainer")
    add_commands(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.fixture
def label_args(test_labels) -> list[str]:
    ((key, value),) = test_labels.items()
    return ["--label", f"{key}={value}"]


@pytest.fixture
def names(engine, serving_image, test_labels):
    """Two instance names unique to this session; whatever still uses them afterwards is removed."""
    prefix = split_image_ref(serving_image)[0].rsplit("/", 1)[-1]
    used = [f"{prefix}-a", f"{prefix}-b"]
    yield used
    for instance in engine.list_instances(all=True, labels=test_labels):
        if instance.name in used:
            remove_instance(engine, instance)


@pytest.mark.engine
def test_run_ls_logs_stop(engine, serving_image, names, label_args, test_labels, capsys):
    first, second = names

    # The stub image is not one a notebook built here: refused, unless allowed.
    with pytest.raises(ForeignImage, match="was not built by jupyter-mlcontainer"):
        cli(["run", serving_image, "--name", first])
    assert first not in {i.name for i in engine.list_instances(all=True, labels=test_labels)}
    assert cli(["run", serving_image, "--name", first, "--port", "0", "--allow-foreign"]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith("http://127.0.0.1:")
    assert ServingClient(url).predict({"instances": [7]}).body == {"predictions": [7]}

    assert cli(["run", serving_image, "--name", second, "--json", "--allow-foreign"]) == 0
    second_instance = json.loads(capsys.readouterr().out)
    assert second_instance["name"] == second and second_instance["status"] == "running"

    assert cli(["ls", *label_args]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["NAME", "IMAGE", "URL", "STATUS", "NOTEBOOK", "UPTIME"]
    row = next(line for line in table if line.startswith(first + " "))
    assert url in row and serving_image in row and "running" in row

    assert cli(["ls", "--json", *label_args]) == 0
    assert {i["name"]: i["url"] for i in json.loads(capsys.readouterr().out)}[first] == url

    assert cli(["logs", first, "--tail", "50"]) == 0
    assert "predict 1 instances" in capsys.readouterr().out

    assert cli(["stop", first]) == 0
    assert capsys.readouterr().out == f"stopped {first}\n"
    assert cli(["stop", "--all", *label_args]) == 0
    assert capsys.readouterr().out == f"stopped {second}\n"

    assert cli(["ls", "--all", *label_args]) == 0
    assert capsys.readouterr().out == ""
    with pytest.raises(InstanceNotFound, match=first):
        cli(["logs", first])


@pytest.mark.engine
def test_run_that_does_not_get_ready_removes_its_container(
    engine,
    serving_image,  # noqa: F811 (the fixture imported above)
    names,
    test_labels,
):
    with pytest.raises(RunFailed, match="not ready after 0.3 s"):
        cli(["run", serving_image, "--name", names[0], "--timeout", "0.3", "--allow-foreign"])
    assert names[0] not in {i.name for i in engine.list_instances(all=True, labels=test_labels)}


def test_stop_needs_a_name_or_all(capsys):
    with pytest.raises(SystemExit):
        cli(["stop"])
    with pytest.raises(SystemExit):
        cli(["stop", "x", "--all"])
    with pytest.raises(SystemExit):
        cli(["ls", "--label", "no-equals-sign"])
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_table_and_uptime_formatting():
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert uptime("2026-01-02T03:04:00.123456789Z", now) == "5s"
    assert uptime("2026-01-02T02:00:00Z", now) == "1h 4m"
    assert uptime("2025-12-30T03:04:05Z", now) == "3d 0h"
    assert format_table(("A", "BB"), [("long", "x")]) == "A     BB\nlong  x"
