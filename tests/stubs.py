"""A stand-in for the serving runtime, shared by the client tests (on the host) and the engine
tests (in an image built from the base image)."""

from __future__ import annotations

from jupyter_mlcontainer.engine.base import image_tags

#: A stand-in for the serving runtime: stdlib only, so it runs on the host and in the base image.
#: STUB_MODE: serve (default), no-ready (no /ready route), crash (exits at start), hang (never listens).
STUB_SERVER = r"""
import json, os, signal, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
mode = os.environ.get("STUB_MODE", "serve")
print(f"stub starting in {mode} mode", flush=True)
if mode == "crash":
    sys.exit("stub crashed: cannot load model.joblib")
if mode == "hang":
    time.sleep(3600)
time.sleep(float(os.environ.get("STUB_DELAY", "1")))
listening = time.monotonic()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.reply(200, {"status": "ok"})
        elif self.path == "/ready" and mode != "no-ready":
            ready = time.monotonic() - listening > 0.5
            self.reply(200 if ready else 503, {"ready": ready})
        elif self.path == "/metadata":
            self.reply(200, {"python": sys.version.split()[0], "mode": mode})
        elif self.path == "/fail":
            self.reply(500, "internal failure", "text/plain")
        else:
            self.reply(404, {"error": f"no route {self.path}"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path != "/predict":
            self.reply(404, {"error": f"no route {self.path}"})
        elif "instances" not in body:
            self.reply(400, {"error": 'expected {"instances": [...]}'})
        else:
            print(f"predict {len(body['instances'])} instances", flush=True)
            self.reply(200, {"predictions": body["instances"]})

    def reply(self, status, body, content_type="application/json"):
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print(format % args, flush=True)


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def remove_instance(engine, instance) -> None:
    """Remove `instance` and the container that publishes its port, whatever state either is in
    (a test may have stopped or removed the instance itself)."""
    ids = [container_id for container_id in (instance.id, instance.port_holder) if container_id]
    for container in engine.client.containers.list(all=True, filters={"id": ids}):
        container.remove(force=True)


def build_serving_image(engine, base_image, labels, directory) -> str:
    """One small image serving the stub; the returned tag is `mlcontainer/<name>:latest`."""
    (directory / "stub.py").write_text(STUB_SERVER)
    (directory / "Dockerfile").write_text(
        f'FROM {base_image}\nCOPY stub.py /srv/stub.py\nCMD ["python3", "-u", "/srv/stub.py"]\n'
    )
    tag, latest = image_tags(f"stub-{next(iter(labels.values()))}", "v1")
    list(engine.build(directory, tag, labels=labels))
    engine.tag_image(tag, latest)
    return latest
