"""What a state-only rebuild rests on, without an engine: which changes keep the layers below
the state (BuildContext.below_state_hash), and the archive committed over them."""

from __future__ import annotations

import io
import tarfile

from jupyter_mlcontainer.pipeline.plan import ServingPlan
from jupyter_mlcontainer.pipeline.render import below_state_hash, content_hash, state_archive
from jupyter_mlcontainer.pipeline.templates import dockerfile


def context(folder, notebook_sha256="0" * 64, state=b"model v1", code="def predict(X): ..."):
    """A context shaped as render writes one: the Dockerfile, app/, the state entries."""
    plan = ServingPlan("nb.ipynb", notebook_sha256, "nb", "function", "predict", "")
    (folder / "app").mkdir(parents=True, exist_ok=True)
    (folder / "app" / "notebook_code.py").write_text(code)
    (folder / "artifacts" / "state").mkdir(parents=True, exist_ok=True)
    (folder / "artifacts" / "state" / "model.joblib").write_bytes(state)
    (folder / "sample.json").write_text('{"request": {}}')
    text = dockerfile(plan, "base:1", offline=True, runtime="mlcontainer_runtime", labels={})
    (folder / "Dockerfile").write_text(text)
    return folder


def test_a_retraining_keeps_the_layers_below_the_state_and_a_code_change_does_not(tmp_path):
    first = context(tmp_path / "a")
    # re-trained, and the notebook saved: its hash is in the Dockerfile's last LABEL step only
    retrained = context(tmp_path / "b", notebook_sha256="1" * 64, state=b"model v2")
    edited = context(tmp_path / "c", code="def predict(X): return X")
    assert content_hash(first) != content_hash(retrained)
    assert below_state_hash(first) == below_state_hash(retrained)
    assert below_state_hash(first) != below_state_hash(edited)


def test_the_state_archive_holds_the_state_entries_owned_by_root(tmp_path):
    folder = context(tmp_path / "a")
    with tarfile.open(fileobj=io.BytesIO(state_archive(folder))) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert set(members) == {
            "sample.json",
            "artifacts/state",
            "artifacts/state/model.joblib",
        }  # not artifacts/ itself: COPY keeps the folder the image has
        assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}
        model = archive.extractfile(members["artifacts/state/model.joblib"]).read()
        assert model == b"model v1"
