"""The object `inst = %containerize clf` returns: a running instance to use from code.

`inst.predict(X)` takes what the notebook's model takes (a DataFrame, an ndarray, a list), sends
the JSON body the runtime expects and returns the predictions; `stop()` and `logs()` go through
the engine, which stays the record of what runs.
"""

from __future__ import annotations

import html
import sys

from .client import ServingClient
from .engine.base import Instance
from .errors import PredictionFailed
from .runtime.convert import to_jsonable


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


class ServingInstance:
    def __init__(
        self,
        instance: Instance,
        sample: dict | None = None,
        reference=None,
        engine=None,
        timeout: float = 30,
    ):
        self.instance = instance
        self.sample = sample  # sample.json's {"request", "expected"}
        self.reference = reference  # request body → the kernel's own predictions
        self.client = ServingClient(instance.url, timeout=timeout)
        self._engine = engine

    url = property(lambda self: self.instance.url, doc="the instance's URL on 127.0.0.1")
    name = property(lambda self: self.instance.name, doc="the container's name")
    id = property(lambda self: self.instance.id, doc="the container's id")
    image = property(lambda self: self.instance.image, doc="the image it runs")

    def push(self, target: str, on_event=None):
        """Push this instance's image to `target` (`REGISTRY/REPOSITORY[:TAG]`, default tag:
        the content hash) with your Docker credentials; returns a PushResult."""
        from .deploy.push import push_image
        from .terminal import TerminalProgress

        sink = on_event or TerminalProgress(stream=sys.stdout, verbose=False)
        return push_image(self.engine, self.image, target, on_event=sink)

    @property
    def engine(self):
        if self._engine is None:
            from .engine import DockerEngine

            self._engine = DockerEngine()
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

    def health(self) -> bool:
        return self.client.ready().ok

    def logs(self, tail: int = 200) -> str:
        return self.engine.logs(self.id, tail=tail)

    def stop(self) -> None:
        """Stop and remove the container."""
        self.engine.stop(self.id)

    def panel(self):
        """A fresh test panel for this instance."""
        from .widget import TestPanel

        return TestPanel(self.url, sample=self.sample, reference=self.reference, instance=self)

    def __repr__(self) -> str:
        return (
            f"<ServingInstance {self.name} {self.url or self.instance.status} image={self.image}>"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{key}</th><td><code>{html.escape(str(value))}</code></td></tr>"
            for key, value in (("url", self.url), ("image", self.image), ("id", self.id[:12]))
        )
        return f"<b>ServingInstance {html.escape(self.name)}</b><table>{rows}</table>"
