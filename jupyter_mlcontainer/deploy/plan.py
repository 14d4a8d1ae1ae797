"""What a deploy and a push are asked, declared once like `ExportOptions`: the CLI's flags, the
REST bodies, `inst.deploy()`'s keywords and the frontend's request types are derived from these
fields (`jupyter_mlcontainer.workflow.options`). Plain data: no engine, no Jupyter."""

from __future__ import annotations

from dataclasses import MISSING, dataclass

from ..pipeline.plan import ServingOptions, option
from ..shared.errors import InvalidRequest

#: Replicas one deployment's front can address (its HAProxy server-template slots).
MAX_REPLICAS = 32
SOURCE_HELP = "an instance's name, a notebook's image name, or an image reference"


@dataclass(frozen=True, kw_only=True)
class RunLimits(ServingOptions):
    """How a container runs, over what `MLContainerConfig` sets: `run`'s instances and each
    replica of a deployment take the same flags."""

    harden: bool | None = option(
        None,
        "turn least privilege off (REST: false): a writable root filesystem and Docker's "
        "default capabilities (default: as MLContainerConfig.harden says, on: a read-only root, "
        "a 64 MB /tmp, no capabilities, no-new-privileges)",
        flag="--no-harden",
    )
    memory: str | None = option(
        None, "memory limit as Docker takes it, e.g. 512m or 2g (default: configured)", "SIZE"
    )
    cpus: float | None = option(None, "CPUs it may use, e.g. 1.5 (default: configured)", "N")

    def run_options(self, config) -> dict:
        """What `ContainerEngine.run` takes: the configured hardening and limits, with the ones
        given here over them, and the runtime's environment for what it watches."""
        limits = ("harden", "memory", "cpus")
        given = {name: getattr(self, name) for name in limits if getattr(self, name) is not None}
        environment = self.environment()
        return {
            **config.run_options(),
            **given,
            **({"environment": environment} if environment else {}),
        }


@dataclass(frozen=True)
class DeployOptions(RunLimits):
    """Replicas of one image behind one URL on Docker's swarm mode (deploy/replicas.py)."""

    source: str = option(MISSING, SOURCE_HELP, metavar="NAME|IMAGE")
    replicas: int = option(2, "how many replicas serve it (default: %(default)s)", "N")
    port: int | None = option(None, "the front's port on 127.0.0.1 (default: a free one)", "N")
    name: str | None = option(
        None, "the deployment's name (default: the instance's or image's)", "NAME"
    )
    init_swarm: bool = option(
        False,
        "turn on Docker's swarm mode if it is off (one node, on 127.0.0.1; the last undeploy "
        "turns it off again)",
    )
    allow_foreign: bool = option(
        False, "deploy an image that jupyter-mlcontainer did not build (refused by default)"
    )
    registry: str | None = option(
        None,
        "push the image there first and run the replicas from the pushed image, e.g. "
        "10.0.0.5:5000/team/iris (tag: the image's content hash); needed on a swarm of more "
        "than one node, whose every node must reach it",
        "REGISTRY/REPOSITORY",
    )

    tls_cert: str | None = option(
        None,
        "serve HTTPS with this certificate (PEM, with its chain; needs --tls-key): the front "
        "terminates TLS",
        "FILE",
    )
    tls_key: str | None = option(
        None,
        "the certificate's private key (PEM, unencrypted); it goes into the front's container "
        "only, never into an image, a label or inspect",
        "FILE",
    )

    def __post_init__(self):
        super().__post_init__()
        check_replicas(self.replicas, least=1)
        if bool(self.tls_cert) != bool(self.tls_key):
            raise InvalidRequest(
                "A certificate needs its key, and a key its certificate.",
                "Pass both --tls-cert and --tls-key, or neither to serve plain HTTP.",
            )


@dataclass(frozen=True)
class PushOptions:
    """A built image to a registry (deploy/push.py)."""

    source: str = option(MISSING, SOURCE_HELP, metavar="NAME|IMAGE")
    to: str = option(
        MISSING,
        "where to push it, e.g. 127.0.0.1:5000/team/iris (default tag: the image's content hash)",
        metavar="REGISTRY/REPOSITORY[:TAG]",
        flag="--to",
    )


def check_replicas(replicas: int, least: int = 0) -> None:
    """A deployment starts with 1 or more replicas; it can be scaled down to 0 (kept, not
    serving) and up to what one front addresses."""
    if not least <= replicas <= MAX_REPLICAS:
        raise InvalidRequest(
            f"{replicas} replicas is outside {least}..{MAX_REPLICAS}.",
            f"One front addresses up to {MAX_REPLICAS} replicas; a deployment starts with at "
            "least 1 and can be scaled to 0 (kept, not serving).",
        )
