"""Other machines for the tests: extra Docker engines, each in a network namespace of its own.

`engine_nodes(count)` starts `count` dockerd processes. Each runs in its own network namespace
(`nsenter --net`, so it keeps this machine's mounts and cgroups), with its own --data-root,
--exec-root, --pidfile, Unix socket and the containerd it starts itself, and a cgroup parent of
its own. The namespaces hang off a bridge in one more namespace (a "switch"), which this
machine joins with a veth pair: this machine is SUBNET.1, node i is SUBNET.(i+1). The bridge
is in a namespace of its own so that this machine's firewall (Docker's FORWARD policy is DROP,
and bridged frames pass through it) is neither in the way nor changed.

Facts this rests on (Debian 12, dockerd 20.10, cgroup v1, kernel 6.x):
- `ip netns exec` remounts /sys, which hides /sys/fs/cgroup: dockerd then fails with "Devices
  cgroup isn't mounted". `nsenter --net=/run/netns/NAME` keeps the mounts and works.
- overlay2 works on a --data-root on the same ext4 as /var/lib/docker.
- Docker's iptables rules go into the node's namespace, so publishing works there
  (`-p 10.213.0.2:PORT:8080` answers this machine at 10.213.0.2:PORT).
- Every dockerd on the machine reads /etc/docker/key.json, so `docker info`'s ID is the same
  on every node; swarm's node IDs are not.

Teardown ends the daemons (and with them their containers), then any process still in a node's
namespace or cgroups, unmounts what they left under the node's folder, removes the cgroups, the
namespaces, the host's veth and the folder. It runs when the `with` block raises, too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SUBNET = "10.213.0"
HOST_ADDRESS = f"{SUBNET}.1"
TLS_PORT = 2376
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Node:
    """One engine on "another machine"."""

    name: str  # its network namespace, and its cgroup parent
    address: str  # where this machine (and the other nodes) reach it
    folder: Path  # its data-root, exec-root, socket, log and certificates
    pid: int  # its dockerd
    cert_path: str = ""  # DOCKER_CERT_PATH for its TCP+TLS endpoint, when it has one

    @property
    def socket(self) -> str:
        """Its Unix socket, as a DOCKER_HOST value."""
        return f"unix://{self.folder}/docker.sock"

    @property
    def tcp(self) -> str:
        """Its TCP+TLS endpoint, as a DOCKER_HOST value ('' without TLS)."""
        return f"tcp://{self.address}:{TLS_PORT}" if self.cert_path else ""

    @property
    def tls_environment(self) -> dict:
        """DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH for its TLS endpoint."""
        return {
            "DOCKER_HOST": self.tcp,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": self.cert_path,
        }

    def client(self):
        import docker

        return docker.DockerClient(base_url=self.socket, timeout=120)

    def docker(self, *args: str, check: bool = True, **options) -> subprocess.CompletedProcess:
        """The docker CLI against this node's socket."""
        options.setdefault("capture_output", True)
        options.setdefault("text", True)
        options.setdefault("timeout", 300)
        return subprocess.run(["docker", "-H", self.socket, *args], check=check, **options)

    def run_inside(self, *command: str, **options) -> subprocess.CompletedProcess:
        """`command` in the node's network namespace (this machine's view of files)."""
        options.setdefault("capture_output", True)
        options.setdefault("text", True)
        options.setdefault("timeout", 60)
        return subprocess.run(["nsenter", f"--net={_netns_path(self.name)}", *command], **options)


def nodes_available() -> None:
    """Skip unless this machine can make nodes: root, dockerd, nsenter, ip, openssl, and the
    subnet free."""
    if os.getuid() != 0:
        pytest.skip("engine nodes need root (network namespaces, dockerd)")
    missing = [tool for tool in ("dockerd", "nsenter", "ip", "openssl") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"engine nodes need {', '.join(missing)}")
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    if f"{SUBNET}." in routes:
        pytest.skip(f"{SUBNET}.0/24 is in use on this machine (another test run's nodes?)")


@contextmanager
def engine_nodes(
    count: int,
    *,
    tls: bool = False,
    image_from: tuple[str, ...] = (),
    insecure_registries: tuple[str, ...] = (f"{SUBNET}.0/24",),
    hidden: tuple[str, ...] = (),
) -> Iterator[list[Node]]:
    """`count` engine nodes at SUBNET.2, SUBNET.3, …; with `tls`, the first one also listens on
    tcp://SUBNET.2:2376 with certificates made here by openssl (its `cert_path`). The images
    named in `image_from` are copied into every node from the engine `docker` reaches (the host's).
    Registries in `insecure_registries` (addresses or CIDRs) are trusted over plain HTTP.
    The folders in `hidden` (which must exist) are empty to the nodes, as on another machine:
    each daemon then runs in a mount namespace of its own with a tmpfs over each of them."""
    nodes_available()
    tag = os.urandom(2).hex()
    folder = Path(tempfile.mkdtemp(prefix=f"mlcn-{tag}-", dir="/tmp"))  # short: socket paths
    switch, host_veth = f"mlc{tag}sw", f"mlc{tag}h"
    names = [f"mlc{tag}n{i + 1}" for i in range(count)]
    started: list[subprocess.Popen] = []
    nodes: list[Node] = []
    try:
        _network(switch, host_veth, names)
        certificates = _certificates(folder / "tls", f"{SUBNET}.2") if tls else None
        for index, name in enumerate(names):
            node_folder = folder / f"n{index + 1}"
            node_folder.mkdir()
            address = f"{SUBNET}.{index + 2}"
            process = _start_daemon(
                name,
                address,
                node_folder,
                insecure_registries,
                certificates if index == 0 else None,
                hidden,
            )
            started.append(process)
            nodes.append(
                Node(
                    name,
                    address,
                    node_folder,
                    process.pid,
                    str(certificates / "client") if certificates and index == 0 else "",
                )
            )
        for node, process in zip(nodes, started, strict=True):
            _wait_answers(node, process)
        if image_from:
            archive = folder / "images.tar"
            subprocess.run(["docker", "save", "-o", str(archive), *image_from], check=True)
            for node in nodes:
                node.docker("load", "-q", "-i", str(archive))
            archive.unlink()
        yield nodes
    finally:
        _stop(started)
        for name in names:
            _end_leftovers(name)
        _unmount_under(folder)
        for name in names:
            _remove_cgroups(name)
        for name in [*names, switch]:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", host_veth], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def swarm_of(nodes: list[Node]) -> Iterator[str]:
    """Swarm mode over `nodes`: the first one initialises it, advertised on its address; the
    others join it as workers. Yields the manager's node ID. (The nodes' teardown ends it.)"""
    manager = nodes[0].client()
    manager.swarm.init(advertise_addr=nodes[0].address, listen_addr=f"{nodes[0].address}:2377")
    manager.swarm.reload()
    token = manager.swarm.attrs["JoinTokens"]["Worker"]
    for node in nodes[1:]:
        node.client().swarm.join(
            remote_addrs=[f"{nodes[0].address}:2377"],
            join_token=token,
            advertise_addr=node.address,
            listen_addr=f"{node.address}:2377",
        )
    deadline = time.monotonic() + 60
    while True:
        ready = [n for n in manager.nodes.list() if n.attrs["Status"]["State"] == "ready"]
        if len(ready) == len(nodes):
            break
        assert time.monotonic() < deadline, f"only {len(ready)} of {len(nodes)} nodes ready"
        time.sleep(0.5)
    yield manager.info()["Swarm"]["NodeID"]


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)


def _netns_path(name: str) -> str:
    return f"/run/netns/{name}"


def _network(switch: str, host_veth: str, names: list[str]) -> None:
    _run("ip", "netns", "add", switch)
    _run("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
    _run("ip", "-n", switch, "link", "set", "br0", "up")
    _run("ip", "-n", switch, "link", "set", "lo", "up")
    _run("ip", "link", "add", host_veth, "type", "veth", "peer", "name", "host", "netns", switch)
    _run("ip", "-n", switch, "link", "set", "host", "master", "br0", "up")
    _run("ip", "addr", "add", f"{HOST_ADDRESS}/24", "dev", host_veth)
    _run("ip", "link", "set", host_veth, "up")
    for index, name in enumerate(names):
        port = f"p{index + 1}"
        _run("ip", "netns", "add", name)
        _run("ip", "-n", switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
             "netns", name)  # fmt: skip
        _run("ip", "-n", switch, "link", "set", port, "master", "br0", "up")
        _run("ip", "-n", name, "addr", "add", f"{SUBNET}.{index + 2}/24", "dev", "eth0")
        _run("ip", "-n", name, "link", "set", "eth0", "up")
        _run("ip", "-n", name, "link", "set", "lo", "up")
        _run("ip", "-n", name, "route", "add", "default", "via", HOST_ADDRESS)


def _certificates(folder: Path, address: str) -> Path:
    """A CA, a server certificate for `address` and a client certificate, by openssl:
    `folder/server/{ca,cert,key}.pem` and `folder/client/{ca,cert,key}.pem` (DOCKER_CERT_PATH)."""
    for part in ("server", "client"):
        (folder / part).mkdir(parents=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca, ca_key = folder / "ca.pem", folder / "ca-key.pem"
    _run("openssl", "req", "-x509", *key, "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
         "-subj", "/CN=mlcontainer test CA")  # fmt: skip
    uses = {"server": f"subjectAltName=IP:{address}\nextendedKeyUsage=serverAuth\n",
            "client": "extendedKeyUsage=clientAuth\n"}  # fmt: skip
    for part, extensions in uses.items():
        out = folder / part
        (out / "extensions.cnf").write_text(extensions)
        _run("openssl", "req", "-new", *key, "-keyout", str(out / "key.pem"),
             "-out", str(out / "request.csr"), "-subj", f"/CN={address if part == 'server' else 'client'}")  # fmt: skip
        _run("openssl", "x509", "-req", "-in", str(out / "request.csr"), "-CA", str(ca),
             "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
             "-extfile", str(out / "extensions.cnf"), "-out", str(out / "cert.pem"))  # fmt: skip
        shutil.copy(ca, out / "ca.pem")
    return folder


def _start_daemon(
    name: str,
    address: str,
    folder: Path,
    insecure: tuple[str, ...],
    certificates: Path | None,
    hidden: tuple[str, ...] = (),
) -> subprocess.Popen:
    config = {"insecure-registries": list(insecure), "shutdown-timeout": 5}
    (folder / "daemon.json").write_text(json.dumps(config))
    command = [
        "nsenter", f"--net={_netns_path(name)}",  # execs dockerd: the process is the daemon
        "dockerd",
        "--config-file", str(folder / "daemon.json"),
        "--data-root", str(folder / "data"),
        "--exec-root", str(folder / "exec"),
        "--pidfile", str(folder / "docker.pid"),
        "--cgroup-parent", name,
        "-H", f"unix://{folder}/docker.sock",
    ]  # fmt: skip
    if certificates is not None:
        server = certificates / "server"
        command += [
            "--tlsverify",
            "--tlscacert", str(server / "ca.pem"),
            "--tlscert", str(server / "cert.pem"),
            "--tlskey", str(server / "key.pem"),
            "-H", f"tcp://{address}:{TLS_PORT}",
        ]  # fmt: skip
    if hidden:  # its own mounts (unshare execs, as does sh): the process is still the daemon
        mounts = " && ".join(f"mount -t tmpfs -o size=1m hidden '{path}'" for path in hidden)
        command = [*command[:2], "unshare", "--mount", "--propagation", "slave",
                   "sh", "-c", f'{mounts} && exec "$@"', "sh", *command[2:]]  # fmt: skip
    with open(folder / "dockerd.log", "w") as log:
        return subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)


def _wait_answers(node: Node, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while node.docker("version", "--format", "{{.Server.Version}}", check=False).returncode:
        if process.poll() is not None or time.monotonic() > deadline:
            log = (node.folder / "dockerd.log").read_text()[-3000:]
            raise RuntimeError(f"dockerd of {node.name} did not start:\n{log}")
        time.sleep(0.3)


def _stop(processes: list[subprocess.Popen]) -> None:
    """dockerd stops its containers and its containerd on SIGTERM: all at once, then waited
    for (each takes up to its shutdown-timeout)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 40
    for process in processes:
        try:
            process.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _cgroup_dirs(name: str) -> list[Path]:
    """The node's cgroups (under its cgroup parent) in every hierarchy, deepest first."""
    found = []
    if CGROUP_ROOT.is_dir():
        for hierarchy in CGROUP_ROOT.iterdir():
            top = hierarchy / name
            if top.is_dir():
                found += [Path(root) for root, _, _ in os.walk(top)]
    return sorted(found, key=lambda path: len(path.parts), reverse=True)


def _end_leftovers(name: str) -> None:
    """Processes the daemon left: in the node's namespace (shims), or in its cgroups
    (containers)."""
    for _ in range(2):
        pids = set()
        listed = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
        pids.update(int(pid) for pid in listed.stdout.split())
        for cgroup in _cgroup_dirs(name):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in (cgroup / "cgroup.procs").read_text().split())
        pids.discard(os.getpid())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)


def _unmount_under(folder: Path) -> None:
    """Whatever the daemons left mounted under `folder` (overlays, shm, namespaces), deepest
    first."""
    prefix = str(folder) + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            points.append(point)
    for point in sorted(set(points), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def _remove_cgroups(name: str) -> None:
    for cgroup in _cgroup_dirs(name):
        with contextlib.suppress(OSError):
            cgroup.rmdir()


@contextmanager
def bridge_registry(folder: Path) -> Iterator[str]:
    """Debian's reference registry (v2) on HOST_ADDRESS, which every node reaches and trusts
    over plain HTTP (their insecure-registries); storage in `folder`. Yields host:port. Only
    while `engine_nodes` holds the address."""
    import socket

    from ports import reference_registry

    with socket.socket() as probe:
        probe.bind((HOST_ADDRESS, 0))
        address = f"{HOST_ADDRESS}:{probe.getsockname()[1]}"
    with reference_registry(folder, address) as serving:
        yield serving
