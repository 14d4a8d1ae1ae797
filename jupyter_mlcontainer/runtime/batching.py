"""Adaptive micro-batching: concurrent small requests share one model call.

Only for models whose build found that predicting rows together answers what predicting them one
by one answers (serving.json "batching"). A batch leaves as soon as the model is free, so a lone
client waits for nothing; requests that arrive while the model computes queue and go together
next, up to `max_batch` rows. Once a batch has shown concurrent clients, the next one waits up to
`max_wait_ms` for as many rows as that batch had. A batch that fails is retried request by
request, so one bad request gets its own error and the others their predictions.
"""

import asyncio
import os

#: Set to 0 to serve every request on its own, whatever serving.json says.
BATCHING_ENV = "MLCONTAINER_BATCHING"
BATCHED_FORMS = ("rows", "inputs")


def batcher_for(service, call_model):
    """A Batcher when serving.json enables batching (and the environment does not veto it)."""
    serving = getattr(service, "serving", None)  # None: an app without a model
    if serving is None or not serving.batching.enabled or os.environ.get(BATCHING_ENV) == "0":
        return None
    return Batcher(service, call_model, serving.batching.max_batch, serving.batching.max_wait_ms)


class Batcher:
    def __init__(self, service, call_model, max_batch: int, max_wait_ms: float):
        self.service = service
        self.call_model = call_model  # the app's: inline, or on its worker thread
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.calls = 0  # model calls made for batches, for tests and metrics
        self._queue = []  # (form, rows, future)
        self._rows = 0
        self._busy = False
        self._last_rows = 1
        self._filled = None  # an Event while a batch waits for more rows

    def accepts(self, form: str, value) -> bool:
        return form in BATCHED_FORMS and isinstance(value, list) and 0 < len(value) < self.max_batch

    async def predict(self, form: str, rows: list) -> list:
        """This request's predictions (JSON values), computed with whatever requests came along."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((form, rows, future))
        self._rows += len(rows)
        if self._filled is not None and self._rows >= min(self._last_rows, self.max_batch):
            self._filled.set()
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self):
        try:
            while self._queue:
                if self.max_wait and self._rows < min(self._last_rows, self.max_batch):
                    await self._wait_for_rows()
                batch = self._take()
                self._last_rows = sum(len(rows) for _, rows, _ in batch)
                await self._run(batch)
        finally:
            self._busy = False

    async def _wait_for_rows(self):
        self._filled = asyncio.Event()
        timer = asyncio.get_running_loop().call_later(self.max_wait, self._filled.set)
        try:
            await self._filled.wait()
        finally:
            timer.cancel()
            self._filled = None

    def _take(self) -> list:
        """The queue's head: requests of one form, up to max_batch rows (at least one request)."""
        form = self._queue[0][0]
        taken, rows = 0, 0
        for item_form, item_rows, _ in self._queue:
            if item_form != form or (taken and rows + len(item_rows) > self.max_batch):
                break
            taken += 1
            rows += len(item_rows)
        batch, self._queue = self._queue[:taken], self._queue[taken:]
        self._rows -= rows
        return batch

    async def _run(self, batch: list):
        if len(batch) > 1:
            form = batch[0][0]
            rows = [row for _, item_rows, _ in batch for row in item_rows]
            self.calls += 1
            try:
                predictions = await self.call_model(self.service.predict_rows, form, rows)
            except Exception:  # a bad request or a failing row: each request on its own below
                predictions = None
            if predictions is not None:
                start = 0
                for _, item_rows, future in batch:
                    _settle(future, result=predictions[start : start + len(item_rows)])
                    start += len(item_rows)
                return
        for form, item_rows, future in batch:
            self.calls += 1
            try:
                _settle(
                    future,
                    result=await self.call_model(self.service.predict_value, form, item_rows),
                )
            except Exception as error:  # the request's own error, answered to it alone
                _settle(future, error=error)


def _settle(future, result=None, error=None):
    if future.done():  # its client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
