"""The object `inst = %containerize clf` returns: a running instance to use from code.

`inst.predict(X)` takes what the notebook's model takes (a DataFrame, an ndarray, a list), sends
the JSON body the runtime expects and returns the predictions; `stop()` and `logs()` go through
the engine, which stays the record of what runs.
"""

from __future__ import annotations

import html
import io
import sys

from ..deploy.plan import DeployOptions, PushOptions
from ..engine.base import Instance
from ..running.client import ServingClient
from ..running.tokens import forget
from ..runtime.convert import to_jsonable
from ..shared.errors import PredictionFailed, RunFailed
from ..workflow.options import keyword_signature


def request_body(inputs) -> dict:
    """`{"instances": rows}`: DataFrame rows as records, arrays and tensors as nested lists."""
    if isinstance(inputs, dict) and ("instances" in inputs or "inputs" in inputs):
        return inputs  # already a request body
    rows = to_jsonable(inputs)
    if not isinstance(rows, list):
        raise TypeError(
            f"predict() takes a batch of rows (DataFrame, array, list); got {type(inputs).__name__}"
        )
    return {"instances": rows}


def notebook_progress():
    """Progress lines in the cell's output, without the build log's detail."""
    from ..shared.terminal import TerminalProgress

    return TerminalProgress(stream=sys.stdout, verbose=False)


class ServingInstance:
    def __init__(
        self,
        instance: Instance,
        sample: dict | None = None,
        reference=None,
        engine=None,
        timeout: float = 30,
        rebuild=None,
        namespace: dict | None = None,
    ):
        self.instance = instance
        self._rebuild = rebuild  # the magic's build again, from the live kernel
        self._namespace = namespace  # the live kernel's variables, to compare captured state
        self.sample = sample  # sample.json's {"request", "expected"}
        self.reference = reference  # request body → the kernel's own predictions
        self.client = ServingClient(instance.url, timeout=timeout)
        self._engine = engine

    url = property(lambda self: self.instance.url, doc="the instance's URL on 127.0.0.1")
    name = property(lambda self: self.instance.name, doc="the container's name")
    id = property(lambda self: self.instance.id, doc="the container's id")
    image = property(lambda self: self.instance.image, doc="the image it runs")

    def push(self, to: str, on_event=None):
        """Push this instance's image to `to` (`REGISTRY/REPOSITORY[:TAG]`, default tag: the
        content hash) with your Docker credentials; returns a PushResult."""
        from ..deploy.push import push_image

        return push_image(self.engine, PushOptions(self.image, to), on_event or notebook_progress())

    def check(self):
        """Does the image still match? The notebook on disk, the kernel's packages and, from
        the kernel that built it, the captured values (a model re-trained since differs).
        A DriftReport: `.drifted`, `.summary()`, `.details()`."""
        from ..trust.provenance import check_image

        return check_image(self.engine, self.name, namespace=self._namespace)

    def drift(self, plot: bool = True):
        """How live inputs differ from the training data: a DataFrame (feature, psi, rows,
        drifting), the worst first, and in a notebook a plot of training's histogram against
        live traffic's for the worst features."""
        from .traffic import answer_of, drift_figure, drift_frame

        report = answer_of(
            self.client.drift(), self.name, "Build the image again with this version."
        )
        frame = drift_frame(report)
        if plot and len(frame):
            _display(drift_figure(report, list(frame["feature"])))
        return frame

    def requests(self):
        """The captured requests (`--capture-requests N`): each row, its prediction, its time."""
        from .traffic import answer_of, requests_frame

        captured = answer_of(
            self.client.captured(),
            self.name,
            "Start the instance with --capture-requests N (capture_requests=N) to keep them.",
        )
        return requests_frame(captured)

    def compare(self, model):
        """Replay the captured requests through `model` (a re-trained one, in this kernel) and
        through this instance: the rows whose answers differ, before a redeploy."""
        from .traffic import answer_of, model_inputs, replay

        captured = answer_of(
            self.client.captured(),
            self.name,
            "Start the instance with --capture-requests N (capture_requests=N) to keep them.",
        )
        rows = [entry["input"] for entry in captured["requests"]]
        if not rows:
            raise PredictionFailed(f"{self.name} has captured no request yet.", "Send some first.")
        served = self.predict(rows)
        spec = answer_of(self.client.metadata(), self.name, "")["input"]
        return replay(rows, model_inputs(rows, spec), served, model)

    def redeploy(self) -> ServingInstance:
        """After re-training: rebuild from the live kernel (from cache where nothing else
        changed) and replace this instance at the same URL, or roll out its deployment; prints
        the sample's answers before and after. This object then stands for the new one."""
        if self._rebuild is None:
            raise RunFailed(
                f"{self.name} was not made by %containerize in this kernel.",
                "Run `%containerize` again with the same name instead.",
            )
        new = self._rebuild()
        self.instance, self.client = new.instance, new.client
        self.sample, self.reference = new.sample, new.reference
        return self

    @keyword_signature(DeployOptions, leave_out=("source",))
    def deploy(self, **options):
        """Serve this instance's image from replicas behind one URL (Docker's swarm mode;
        `init_swarm=True` turns it on if it is off), named after the instance unless `name` is
        given; takes DeployOptions' fields; returns a DeployedModel."""
        from ..deploy.replicas import deploy

        chosen = DeployOptions(self.image, **{"name": self.name, **options})
        return DeployedModel(self.engine, deploy(self.engine, chosen, None, notebook_progress()))

    @property
    def engine(self):
        if self._engine is None:
            from ..engine import open_engine

            self._engine = open_engine()
        return self._engine

    def predict(self, inputs):
        """The instance's predictions for `inputs`; PredictionFailed on an error answer."""
        answer = self.client.predict(request_body(inputs))
        if not answer.ok:
            raise PredictionFailed(
                f"{self.name} answered {answer.status}: {answer.error}",
                "Compare the input with the sample (`inst.sample['request']`).",
                status=answer.status,
                body=answer.body,
            )
        return answer.body["predictions"]

    @property
    def state(self) -> str:
        """The container's state as the engine says now: `running`, `exited`, or
        `OOM-killed (limit 64 MB)` when it outgrew its memory limit."""
        self.instance = self.engine.find_instance(self.id)
        return self.instance.state

    def health(self) -> bool:
        return self.client.ready().ok

    def logs(self, tail: int = 200) -> str:
        return self.engine.logs(self.id, tail=tail)

    def stop(self) -> None:
        """Stop and remove the container (and forget its token, if it had one)."""
        url = self.url
        self.engine.stop(self.id)
        forget(url)

    def panel(self):
        """A fresh test panel for this instance."""
        from .widget import TestPanel

        return TestPanel(self.url, sample=self.sample, reference=self.reference, instance=self)

    def __repr__(self) -> str:
        return (
            f"<ServingInstance {self.name} "
            f"{self.url if self.instance.status == 'running' else self.instance.state} "
            f"image={self.image}>"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{key}</th><td><code>{html.escape(str(value))}</code></td></tr>"
            for key, value in (
                ("url", self.url if self.instance.status == "running" else self.instance.state),
                ("image", self.image),
                ("id", self.id[:12]),
            )
        )
        return f"<b>ServingInstance {html.escape(self.name)}</b><table>{rows}</table>"


class DeployedModel:
    """A deployment made from the notebook: `url`, `scale(n)`, `rollout()`, `undeploy()`."""

    def __init__(self, engine, deployment):
        self.engine = engine
        self.deployment = deployment

    name = property(lambda self: self.deployment.name, doc="the deployment's name")
    url = property(lambda self: self.deployment.url, doc="the front's URL on 127.0.0.1")

    def predict(self, inputs):
        """Predictions from whichever replica the front picks."""
        answer = ServingClient(self.url).predict(request_body(inputs))
        if not answer.ok:
            raise PredictionFailed(f"{self.name} answered {answer.status}: {answer.error}")
        return answer.body["predictions"]

    def scale(self, replicas: int) -> DeployedModel:
        from ..deploy.replicas import scale

        self.deployment = scale(self.engine, self.name, replicas, notebook_progress())
        return self

    def rollout(self, image: str | None = None) -> DeployedModel:
        """To `image`, or to the notebook's latest build; a failed rollout is rolled back."""
        from ..deploy.replicas import rollout

        self.deployment = rollout(self.engine, self.name, image, notebook_progress())
        return self

    def undeploy(self) -> None:
        from ..deploy.replicas import undeploy

        undeploy(self.engine, self.name, notebook_progress())

    def __repr__(self) -> str:
        d = self.deployment
        return f"<DeployedModel {d.name} {d.url} {d.running}/{d.replicas} replicas image={d.image}>"


def _display(figure) -> None:
    """Show a matplotlib figure in the notebook's output, as a PNG (no pyplot backend needed)."""
    try:
        from IPython.display import Image, display
    except ImportError:
        return
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    display(Image(buffer.getvalue()))
