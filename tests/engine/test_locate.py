"""Finding the engine and reading what it is, without one: the candidates, remote engines'
addresses, Podman told from Docker, known refusals mapped to their fix."""

from __future__ import annotations

import grp
from types import SimpleNamespace

from jupyter_mlcontainer.engine.dockerapi import instance_of, refusal_hint, short_image_name
from jupyter_mlcontainer.engine.locate import EngineSocket, engine_sockets, flavour_of, rootless


def test_docker_host_alone_is_tried_when_set():
    assert engine_sockets({"DOCKER_HOST": "ssh://me@gpu-box"}) == [
        EngineSocket("ssh://me@gpu-box", "DOCKER_HOST")
    ]


def test_without_docker_host_docker_then_podman_then_the_users_podman():
    sockets = engine_sockets({"XDG_RUNTIME_DIR": "/run/user/1000"}, uid=1000)
    assert [s.url for s in sockets] == [
        "unix:///var/run/docker.sock",
        "unix:///run/podman/podman.sock",
        "unix:///run/user/1000/podman/podman.sock",
    ]
    assert engine_sockets({}, uid=1001)[2].url == "unix:///run/user/1001/podman/podman.sock"


def test_a_remote_engine_publishes_and_is_reached_on_its_own_address():
    local = EngineSocket("unix:///var/run/docker.sock", "Docker's socket")
    assert (local.remote, local.host, local.publish_address) == (False, "127.0.0.1", "127.0.0.1")
    loopback_tcp = EngineSocket("tcp://127.0.0.1:2375", "DOCKER_HOST")
    assert not loopback_tcp.remote and loopback_tcp.publish_address == "127.0.0.1"
    by_ip = EngineSocket("tcp://10.0.0.7:2376", "DOCKER_HOST")
    assert (by_ip.remote, by_ip.host, by_ip.publish_address) == (True, "10.0.0.7", "10.0.0.7")
    by_name = EngineSocket("ssh://me@gpu-box", "DOCKER_HOST")
    assert (by_name.remote, by_name.host, by_name.publish_address) == (True, "gpu-box", "0.0.0.0")


def test_an_absent_unix_socket_is_not_asked(tmp_path):
    assert not EngineSocket(f"unix://{tmp_path}/none.sock", "x").present
    assert EngineSocket("tcp://10.0.0.7:2376", "x").present  # only asking tells


def test_podman_and_rootless_are_read_from_the_engines_answers():
    podman = {"Components": [{"Name": "Podman Engine", "Version": "4.3.1"}]}
    docker = {"Components": [{"Name": "Engine", "Version": "20.10.24"}]}
    assert (flavour_of(podman), flavour_of(docker), flavour_of({})) == (
        "podman",
        "docker",
        "docker",
    )
    assert rootless({"SecurityOptions": ["name=seccomp,profile=default", "name=rootless"]})
    assert not rootless({"SecurityOptions": ["name=seccomp,profile=default"]})


def test_known_refusals_come_with_their_fix():
    assert "catatonit" in refusal_hint("stat /usr/libexec/podman/catatonit: no such file")
    assert "default_ulimits = []" in refusal_hint("error setting rlimit type 7")
    assert refusal_hint("something else entirely") == ""


def test_podmans_qualified_names_are_shown_as_given():
    assert short_image_name("docker.io/mlcontainer/iris:3f2a") == "mlcontainer/iris:3f2a"
    assert short_image_name("localhost/mlcontainer/python:3.11") == "mlcontainer/python:3.11"
    assert short_image_name("docker.io/library/python:3.11-slim") == "python:3.11-slim"
    assert short_image_name("ghcr.io/team/iris:v1") == "ghcr.io/team/iris:v1"


def test_an_instance_of_a_remote_engine_has_the_engines_address():
    container = SimpleNamespace(
        id="c1",
        name="iris",
        status="running",
        labels={},
        attrs={
            "Config": {"Image": "docker.io/mlcontainer/iris:3f2a"},
            "Created": "",
            "State": {"StartedAt": ""},
            "HostConfig": {},
            "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "4100"}]}},
        },
    )
    assert instance_of(container, address="gpu-box").url == "http://gpu-box:4100"
    local = instance_of(container)
    assert local.url == "http://0.0.0.0:4100" and local.image == "mlcontainer/iris:3f2a"


def test_the_hint_for_a_refused_socket_names_a_group_only_where_it_may_use_the_socket(
    tmp_path,
):
    import socket

    from jupyter_mlcontainer.engine.locate import no_rights_hint

    path = tmp_path / "engine.sock"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(path))
        path.chmod(0o660)
        group = grp.getgrgid(path.stat().st_gid).gr_name
        hint = no_rights_hint(f"unix://{path}")
        if group == "root":
            assert "root's only" in hint and "usermod" not in hint
        else:
            assert f"usermod -aG {group} " in hint
        path.chmod(0o600)  # the group may not use it: joining it would not help
        assert "root's only" in no_rights_hint(f"unix://{path}")
    assert "usermod" not in no_rights_hint(f"unix://{tmp_path}/gone/engine.sock")
