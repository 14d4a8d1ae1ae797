"""The ASGI app in-process, for failures that no request to a real model provokes."""

import asyncio
import json
import logging

from jupyter_mlcontainer.runtime.app import App


def test_an_unexpected_error_is_a_logged_json_500_and_counted(caplog):
    app = App(service=None)

    async def broken(scope, receive):
        raise KeyError("oops")

    app.routes["/broken"] = {"GET": broken}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": "/broken", "method": "GET", "headers": []}
    with caplog.at_level(logging.ERROR, logger="mlcontainer"):
        asyncio.run(app(scope, receive, send))
    start, body = sent
    assert start["status"] == 500
    assert (b"content-type", b"application/json") in start["headers"]
    assert json.loads(body["body"]) == {"error": "KeyError: 'oops'"}
    assert "GET /broken" in caplog.text and "KeyError: 'oops'" in caplog.text
    assert 'mlcontainer_requests_total{route="/broken",status="500"} 1' in app.metrics.render({})
