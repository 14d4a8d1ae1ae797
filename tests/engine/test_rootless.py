"""Rootless, for real: a user without root builds, runs, lists, pushes and stops through their own
Podman socket with the CLI, and `doctor` says so; then what rootless Podman answers that Docker
does not, read without an engine."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from jupyter_mlcontainer.engine.dockerapi import drops_all_capabilities, refusal_hint
from jupyter_mlcontainer.engine.locate import container_network, rootless
from jupyter_mlcontainer.engine.pushstream import PushTally, push_events

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "iris_classifier.ipynb"
CLI = [sys.executable, "-m", "jupyter_mlcontainer.cli"]


def test_doctor_as_a_user_finds_their_rootless_podman_healthy(rootless_podman):
    done = rootless_podman.run([*CLI, "doctor", "--json"], timeout=180)
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["healthy"], report
    assert (report["engine"], report["rootless"]) == ("podman", True)
    assert report["url"] == rootless_podman.docker_host  # found without DOCKER_HOST
    checks = {f["check"]: f["ok"] for f in report["findings"]}
    for check in ("containers start", "ports", "storage", "subuid", "newuidmap", "tun device"):
        assert checks[check] is True, report


def test_a_user_builds_runs_lists_pushes_and_stops_without_root(
    rootless_podman, base_image, test_labels, registry
):
    user = rootless_podman
    notebook = user.home / EXAMPLE.name
    shutil.copy(EXAMPLE, notebook)
    os.chown(notebook, user.uid, user.gid)
    context = user.home / "test-rootless-context"
    labels = ",".join(f"{key}={value}" for key, value in test_labels.items())
    env = {"MLCONTAINER_LABELS": labels, "MLCONTAINER_BASE_IMAGE": base_image}
    try:
        built = user.run(
            [*CLI, "build", str(notebook), "--name", "test-rootless", "--run", "--json"]
            + ["--out", str(context)],
            env=env,
            timeout=1200,
        )
        assert built.returncode == 0, built.stderr[-3000:]
        result = json.loads(built.stdout)
        instance = result["instance"]
        assert result["parity"]["passed"] and result["parity"]["status"] == 200, result["parity"]
        assert instance["url"].startswith("http://127.0.0.1:")
        assert instance["hardened"], instance  # Podman lists the dropped capabilities one by one

        listed = json.loads(user.run([*CLI, "ls", "--json"], env=env, check=True).stdout)
        assert {i["name"]: i["url"] for i in listed}[instance["name"]] == instance["url"]

        pushed = user.run(
            [*CLI, "push", instance["name"], "--to", f"{registry}/rootless/iris", "--json"],
            env=env,
            timeout=300,
        )
        assert pushed.returncode == 0, pushed.stderr[-2000:]
        push = json.loads(pushed.stdout)
        tag = result["tag"].rpartition(":")[2]  # the content hash, though Podman says docker.io/…
        assert push["target"] == f"{registry}/rootless/iris:{tag}"
        assert push["digest"].startswith("sha256:"), push

        stopped = user.run([*CLI, "stop", instance["name"]], env=env)
        assert stopped.returncode == 0, stopped.stderr
        listed = json.loads(user.run([*CLI, "ls", "--json"], env=env, check=True).stdout)
        assert instance["name"] not in {i["name"] for i in listed}
    finally:
        user.run([*CLI, "stop", "test-rootless"], env=env)
        notebook.unlink(missing_ok=True)
        shutil.rmtree(context, ignore_errors=True)


def test_rootless_podman_is_told_by_its_own_info_field():
    assert rootless({"Rootless": True, "SecurityOptions": ["name=seccomp,profile=default"]})
    assert not rootless({"Rootless": False, "SecurityOptions": []})


def test_rootless_podman_publishes_through_its_own_clis_network():
    assert container_network("podman", "4.3.1", rootless=True) == "slirp4netns"
    assert container_network("podman", "5.2.0", rootless=True) == "pasta"
    assert container_network("podman", "4.3.1", rootless=False) is None
    assert container_network("docker", "24.0.7", rootless=True) is None


def test_capabilities_dropped_one_by_one_count_as_all_dropped():
    podman = (
        "AUDIT_WRITE CHOWN DAC_OVERRIDE FOWNER FSETID KILL MKNOD NET_BIND_SERVICE NET_RAW "
        "SETFCAP SETGID SETPCAP SETUID SYS_CHROOT"
    ).split()
    assert drops_all_capabilities({"CapDrop": podman, "CapAdd": []})
    assert drops_all_capabilities({"CapDrop": ["ALL"]})
    assert not drops_all_capabilities({"CapDrop": ["AUDIT_WRITE", "MKNOD", "NET_RAW"]})
    assert not drops_all_capabilities({"CapDrop": podman, "CapAdd": ["NET_ADMIN"]})


def test_a_tun_device_kept_for_root_is_explained():
    refusal = '/usr/bin/slirp4netns failed: "open(\\"/dev/net/tun\\"): Permission denied'
    assert "chmod 0666 /dev/net/tun" in refusal_hint(refusal)


def test_podmans_push_digest_is_read_from_its_closing_line():
    digest = "sha256:" + "a" * 64
    stream = [
        {"status": "The push refers to repository [127.0.0.1:5000/team/iris:abc]"},
        {"status": f"abc: digest: {digest} size: 1527"},
    ]
    tally = PushTally()
    assert list(push_events(stream, "127.0.0.1:5000", tally)) == []
    assert tally.digest == digest


def test_a_user_without_the_rights_to_dockers_socket_is_told_what_to_do(rootless_podman):
    """Docker's socket belongs to root and the docker group: a user outside it gets the reason
    and the ways out, from `doctor` and from any command, not a traceback."""
    env = {"DOCKER_HOST": "unix:///var/run/docker.sock"}
    doctor = rootless_podman.run([*CLI, "doctor", "--json"], env=env, timeout=120)
    report = json.loads(doctor.stdout)
    engine = next(f for f in report["findings"] if f["check"] == "engine")
    assert doctor.returncode == 1 and not report["healthy"]
    assert "may not use the engine at unix:///var/run/docker.sock" in engine["detail"]
    assert "sudo usermod -aG docker mlc-rootless" in engine["fix"]
    assert "rootless Podman" in engine["fix"] and "Start the Docker engine" not in engine["fix"]
    listed = rootless_podman.run([*CLI, "ls"], env=env, timeout=120)
    assert listed.returncode != 0 and "Traceback" not in listed.stderr
    assert "(permission denied)" in listed.stderr and "usermod -aG docker" in listed.stderr
