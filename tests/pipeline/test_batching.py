"""The build's decision to batch, made on the captured sample."""

import numpy as np
import pandas as pd

from jupyter_mlcontainer.pipeline.batching import OFF, batching_for

ROWS = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])


def decide(entry, sample):
    return batching_for(entry, sample, entry(sample))


def test_a_row_by_row_model_is_batched():
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    features, target = load_iris(return_X_y=True)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(features, target)
    decision = decide(model.predict_proba, features[:3])
    assert decision == {"enabled": True, "max_batch": 512, "max_wait_ms": 2}


def test_a_dataframe_sample_is_cut_into_one_row_frames():
    frame = pd.DataFrame(ROWS, columns=["a", "b"])
    assert decide(lambda x: (x["a"] + x["b"]).to_numpy(), frame)["enabled"] is True


def test_a_model_that_looks_at_the_whole_batch_is_not_batched():
    assert decide(lambda x: x[:, 0] - x[:, 0].mean(), ROWS) == OFF


def test_one_row_or_an_answer_not_per_row_leaves_batching_off():
    assert decide(lambda x: x[:, 0], ROWS[:1]) == OFF
    assert decide(lambda x: {"total": float(x.sum())}, ROWS) == OFF


def test_a_model_that_fails_on_one_row_is_not_batched():
    def entry(x):
        if len(x) < 2:
            raise ValueError("needs two rows")
        return x[:, 0]

    assert decide(entry, ROWS) == OFF
