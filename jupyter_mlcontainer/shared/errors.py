"""Errors a person can act on: each says what went wrong and what to do next.

Front doors turn them into a 4xx response, a red line in a widget or a non-zero exit.
"""


class MLContainerError(Exception):
    """Base class: `message` says what went wrong, `hint` what to do about it, `output` the
    log that shows it (a failed build step's, a failed replica's)."""

    def __init__(self, message: str, hint: str = "", output: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.output = output

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


def last_lines(text: str, count: int = 15) -> str:
    """The end of a long tool output, where the reason it failed usually is."""
    return "\n".join(text.strip().splitlines()[-count:])


class NotebookError(MLContainerError):
    """The notebook is missing, unreadable, or lacks what the options name."""


class ContextFolderRefused(MLContainerError):
    """The folder asked for the build context holds other files, which writing would delete."""


class CaptureError(MLContainerError):
    """The kernel could not evaluate or serialise what the serving code needs."""


class SecretFound(MLContainerError):
    """The served code, a captured value or a copied file holds what looks like a credential."""


class DependencyError(MLContainerError):
    """A package the serving code needs cannot be pinned or downloaded."""


class EngineUnavailable(MLContainerError):
    """The Docker engine cannot be reached."""


class DiskFull(MLContainerError):
    """No space was left to write a build context or a wheel."""


class BaseImageMissing(MLContainerError):
    """The base image is neither present nor pullable."""


class BaseImageError(MLContainerError):
    """The offline base image cannot be built on this machine."""


class BuildFailed(MLContainerError):
    """A build step failed; `output` holds that step's log."""


class TrialFailed(BuildFailed):
    """The served code failed, or answered differently, in a fresh interpreter before the build."""


class PushFailed(MLContainerError):
    """The registry could not be reached, refused us, or the target is not a valid name."""


class DeployFailed(MLContainerError):
    """A deployment could not be made, scaled or rolled out; a failed rollout was rolled back."""


class SwarmNotActive(DeployFailed):
    """Replicas need Docker's swarm mode, and it is off; it is never turned on unasked."""


class DeploymentNotFound(DeployFailed):
    """No deployment has the given name."""


class AuditUnavailable(MLContainerError):
    """An audit could not run: no bill of materials, no pip-audit, or no advisory service."""


class ManifestError(MLContainerError):
    """Options for Kubernetes or KServe manifests are invalid or contradict each other."""


class ForeignImage(MLContainerError):
    """An image that no notebook built here, started without --allow-foreign."""


class RunFailed(MLContainerError):
    """A container did not start or did not become ready."""


class NameTaken(RunFailed):
    """Another container already has the instance name asked for."""


class InstanceNotFound(MLContainerError):
    """No running instance matches the given name or id."""


class JobCancelled(MLContainerError):
    """The user cancelled a build; what it had made is removed."""


class PortInUse(RunFailed):
    """The host port asked for is already taken."""


class InstanceUnreachable(MLContainerError):
    """Nothing answers at an instance's URL."""


class InvalidRequest(MLContainerError):
    """A request to the server extension lacks a field or gives one of the wrong type."""


class PathOutsideRoot(MLContainerError):
    """A notebook path points outside the directory the Jupyter server serves."""


class HiddenPath(PathOutsideRoot):
    """A notebook path names a hidden file or folder, which the server does not serve."""


class NotebookNotFound(NotebookError):
    """No notebook exists at the given path."""


class JobNotFound(MLContainerError):
    """No build job has the given id in this server's memory."""


class LoadTestRefused(MLContainerError):
    """A load test was asked of a URL that is not on this machine, or beyond the bounds."""


class PredictionFailed(MLContainerError):
    """An instance answered a prediction request with an error status."""

    def __init__(self, message: str, hint: str = "", status: int = 0, body=None):
        super().__init__(message, hint)
        self.status = status
        self.body = body
