"""The front of a deployment: HAProxy from Debian, in an image built once from the base image,
spreading requests over the replicas that Docker's DNS lists for the service.

With a certificate (`--tls-cert`, `--tls-key`) it serves HTTPS and terminates TLS; the replicas
behind it still speak HTTP on the deployment's own overlay network. The certificate and key go
into the front's container as one file before it starts, so no image layer, label, environment
or `inspect` holds the key.

HAProxy rather than swarm's routing mesh because the mesh needs IPVS in the host's kernel, which
many hosts (and containers running Docker) lack; a proxy works everywhere. It health-checks each
replica on `/ready`, retries a request whose connection a stopping replica closed on another
replica, and re-reads DNS every 250 ms, which is what makes a rollout lose no request.
"""

from __future__ import annotations

import csv
import hashlib
import io
import ssl
import tempfile
import time
import urllib.request
from pathlib import Path

from ..engine.base import IMAGE_NAMESPACE, MANAGED_LABEL, ContainerEngine, label
from ..shared.errors import InvalidRequest
from ..shared.events import EventSink, ProgressEvent, ignore_events
from .plan import MAX_REPLICAS

#: The front's container reads the service to resolve from here.
SERVICE_VARIABLE = "MODEL_SERVICE"
#: The front's statistics page; with ";csv", one row per replica slot: its address and state.
STATS_PATH = "/_front/stats"
#: Set in a front's environment, the path of its certificate and key: it then serves HTTPS.
TLS_VARIABLE = "FRONT_TLS_PEM"
#: Where that file goes: a folder only the haproxy user (and root) may enter.
TLS_PEM = "/etc/haproxy/tls/front.pem"

CONFIG = f"""\
# The front of one deployment; {SERVICE_VARIABLE} names the swarm service of its replicas.
global
    maxconn 4096
    log stdout format raw local0 warning

defaults
    mode http
    log global
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    # A health check may take a second on a busy host, though replicas are checked twice as often.
    timeout check 1s
    # A replica that is stopping closes its idle connections: a request caught by that is sent
    # again, to another replica. Model errors (500) are answers, never retried.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response junk-response response-timeout 503

resolvers docker
    nameserver dns 127.0.0.11:53
    resolve_retries 3
    # DNS is asked every 250 ms. A replica that swarm stops leaves DNS about a second later and
    # keeps serving 2 s more before its SIGTERM (swarm's gossip delay), so the front drops it as
    # soon as an answer lacks it (hold obsolete 0s) rather than after its health checks fail.
    timeout resolve 250ms
    timeout retry 500ms
    hold valid 1s
    hold other 1s
    hold refused 1s
    hold nx 1s
    hold timeout 1s
    hold obsolete 0s

frontend model
.if defined({TLS_VARIABLE})
    bind :8080 ssl crt "${{{TLS_VARIABLE}}}"
.else
    bind :8080
.endif
    # Which replicas the front sends requests to: deploy, scale and rollout return once these are
    # exactly the replicas swarm runs, so the URL serves from all of them, and from no replaced one.
    stats enable
    stats uri {STATS_PATH}
    # Without it the page leaves out the replicas' addresses (on 127.0.0.1 only, like the URL).
    stats show-legends
    default_backend replicas

# Which replica answered, for a person debugging (and for tests that check the spread).
backend replicas
    http-response set-header X-Replica %[srv_name]
    balance leastconn
    option httpchk GET /ready
    http-check expect status 200
    # Out after two failed checks in a row (one slow check on a busy host is not a failure), so
    # a draining replica (503 on /ready) leaves within a second of its SIGTERM, and a rollout
    # ends that much sooner; requests a stopped replica refuses in between are retried on
    # another (retry-on above).
    default-server check inter 500ms fall 2 rise 1 resolvers docker init-addr none
    server-template replica {MAX_REPLICAS} "tasks.${{{SERVICE_VARIABLE}}}":8080
"""

DOCKERFILE = """\
FROM {base}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends haproxy \\
 && rm -rf /var/lib/apt/lists/*
COPY haproxy.cfg /etc/haproxy/mlcontainer.cfg
RUN install -d -o haproxy -g haproxy -m 0700 /etc/haproxy/tls
USER haproxy
EXPOSE 8080
CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/mlcontainer.cfg"]
"""


def front_image_tag(base_image: str) -> str:
    """`mlcontainer/front:<hash of the recipe and base>`: a changed recipe is a new image."""
    recipe = DOCKERFILE.format(base=base_image) + CONFIG
    return f"{IMAGE_NAMESPACE}/front:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def ensure_front_image(
    engine: ContainerEngine, base_image: str, labels: dict, on_event: EventSink = ignore_events
) -> str:
    """The front image, built the first time (a few seconds: apt installs haproxy)."""
    tag = front_image_tag(base_image)
    if engine.image_exists(tag):
        return tag
    on_event(ProgressEvent("stage", f"Building the front image {tag} (HAProxy)", "deploy"))
    with tempfile.TemporaryDirectory(prefix="mlcontainer-front-") as folder:
        context = Path(folder)
        (context / "Dockerfile").write_text(DOCKERFILE.format(base=base_image))
        (context / "haproxy.cfg").write_text(CONFIG)
        front_labels = {MANAGED_LABEL: "true", label("role"): "front", **labels}
        for event in engine.build(context, tag, labels=front_labels):
            on_event(event)
    return tag


def tls_bundle(cert: str, key: str) -> bytes:
    """The certificate and its key as HAProxy reads them (one PEM file), once Python's TLS has
    loaded them together: a wrong path, a key that does not match or an encrypted key is said
    before anything of the deployment exists."""
    try:
        # No pass phrase: an encrypted key is refused here, never asked for on a terminal.
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key, password=lambda: b"")
    except FileNotFoundError as error:
        raise InvalidRequest(
            f"No such certificate or key file: {error.filename}",
            "Pass --tls-cert and --tls-key as paths to PEM files on the machine that deploys.",
        ) from error
    except (ssl.SSLError, OSError) as error:
        raise InvalidRequest(
            f"The certificate {cert} and the key {key} cannot serve TLS together: {error}",
            "Give the certificate (PEM, with its chain) and its own private key, unencrypted "
            "(`openssl pkey -in KEY -out KEY.plain`).",
        ) from error
    pem = Path(cert).read_bytes().rstrip(b"\n") + b"\n" + Path(key).read_bytes()
    return pem if pem.endswith(b"\n") else pem + b"\n"


def wait_front_sees(url: str, addresses: set, timeout: float) -> bool:
    """Whether, within `timeout` seconds, the front at `url` answers and sends requests to the
    replicas at exactly `addresses` (it learns of them from DNS and its checks, a second or two
    after swarm does; counting them is not enough, since a replaced replica may still count)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if serving_addresses(url) == addresses:
                return True
        except (OSError, ValueError):
            pass  # not answering yet, or not yet with its statistics
        time.sleep(0.1)  # the front's statistics page costs it next to nothing
    return False


def serving_addresses(url: str) -> set:
    """The addresses of the replicas the front at `url` finds up, from its statistics."""
    # Our own front on the engine's address, asked only which replicas it sends requests to: its
    # certificate (perhaps self-signed) is the user's clients' business, not checked here.
    unchecked = ssl._create_unverified_context() if url.startswith("https:") else None
    with urllib.request.urlopen(f"{url}{STATS_PATH};csv", timeout=2, context=unchecked) as answer:
        text = answer.read().decode()
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {
        row["addr"].rsplit(":", 1)[0]
        for row in rows
        if row.get("pxname") == "replicas"
        and row.get("status", "").startswith("UP")
        and row.get("addr")
    }
