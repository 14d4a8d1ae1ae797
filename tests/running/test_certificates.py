"""The tool's own clients pin an HTTPS front to the certificate it was deployed with: a chain a
CA issued works, another certificate from the same CA does not, and a URL with nothing
remembered is checked against the system's authorities."""

from __future__ import annotations

import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jupyter_mlcontainer.running.certificates import forget_certificate, remember_certificate
from jupyter_mlcontainer.running.client import ServingClient
from jupyter_mlcontainer.shared.errors import InstanceUnreachable


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    """A CA and two leaves it issued, each as a chain file (leaf, then CA) and a key."""
    folder = tmp_path_factory.mktemp("pki")
    ca, ca_key = folder / "ca.crt", folder / "ca.key"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test CA",
            "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    leaves = {}
    for name in ("models.test", "other.test"):
        key, request, leaf = (folder / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", str(key), "-out", str(request))  # fmt: skip
        openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
                "-CAcreateserial", "-days", "1", "-out", str(leaf))  # fmt: skip
        chain = folder / f"{name}.chain.pem"
        chain.write_text(leaf.read_text() + ca.read_text())
        leaves[name] = (str(chain), str(key))
    return leaves


class _Health(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def serve_tls():
    """`serve_tls(chain, key)`: an HTTPS server on 127.0.0.1 presenting that chain; its URL."""
    servers = []

    def serve(chain: str, key: str) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"https://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_a_front_with_a_ca_issued_chain_is_reached_once_its_certificate_is_remembered(
    issued, serve_tls
):
    chain, key = issued["models.test"]
    url = serve_tls(chain, key)
    with pytest.raises(InstanceUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
        ServingClient(url).health()  # nothing remembered: the system's CAs do not know it
    remember_certificate(url, chain)
    assert ServingClient(url).health().status == 200
    forget_certificate(url)
    with pytest.raises(InstanceUnreachable):
        ServingClient(url).health()


def test_another_certificate_of_the_same_ca_is_refused(issued, serve_tls):
    url = serve_tls(*issued["other.test"])
    remember_certificate(url, issued["models.test"][0])  # deployed with models.test's
    with pytest.raises(InstanceUnreachable, match="another certificate than the one"):
        ServingClient(url).health()
