"""What an instance has served, brought back into the kernel: drift from training as a
DataFrame and a plot, the captured requests as a DataFrame, and a replay of them through a
re-trained model to see which answers would change before a redeploy."""

from __future__ import annotations

from ..runtime.parity import compare
from ..shared.errors import PredictionFailed

#: Features a drift plot draws at most: the worst first.
PLOTTED = 3


def answer_of(response, what: str, hint: str):
    """The body of an instance's answer, or PredictionFailed saying what it said."""
    if not response.ok:
        raise PredictionFailed(f"{what} answered {response.status}: {response.error}", hint)
    return response.body


def drift_frame(report: dict):
    """(feature, psi, rows, drifting), the worst first; the predictions as `(prediction)`."""
    import pandas as pd

    histograms = dict(report["features"])
    if report.get("prediction"):
        histograms["(prediction)"] = report["prediction"]
    threshold = report.get("drifting_above", 0.2)
    frame = pd.DataFrame(
        [
            {"feature": name, "psi": h["psi"], "rows": h["rows"], "drifting": h["psi"] > threshold}
            for name, h in histograms.items()
        ],
        columns=["feature", "psi", "rows", "drifting"],
    )
    return frame.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)


def drift_figure(report: dict, features: list):
    """Training's share per bin against live traffic's, for `features` (side by side)."""
    from matplotlib.figure import Figure

    histograms = {**report["features"], "(prediction)": report.get("prediction")}
    shown = [name for name in features if histograms.get(name)][:PLOTTED]
    figure = Figure(figsize=(4.2 * max(len(shown), 1), 3.2), layout="constrained")
    for index, name in enumerate(shown, 1):
        histogram = histograms[name]
        axes = figure.add_subplot(1, len(shown), index)
        positions = range(len(histogram["bins"]))
        axes.bar([p - 0.2 for p in positions], histogram["expected"], 0.4, label="training")
        axes.bar([p + 0.2 for p in positions], histogram["actual"], 0.4, label="live")
        axes.set_xticks(list(positions), histogram["bins"], rotation=45, ha="right", fontsize=7)
        axes.set_title(f"{name}: PSI {histogram['psi']:.3f} ({histogram['rows']} rows)", fontsize=9)
        axes.set_ylabel("share of rows")
        axes.legend(fontsize=7)
    return figure


def requests_frame(captured: dict):
    """The captured rows with each one's prediction and when it came, oldest first."""
    import pandas as pd

    rows = captured.get("requests") or []
    inputs = [row["input"] for row in rows]
    if inputs and all(isinstance(row, dict) for row in inputs):
        frame = pd.DataFrame(inputs)
    else:
        frame = pd.DataFrame({"input": inputs})
    frame["prediction"] = [row["prediction"] for row in rows]
    frame["time"] = pd.to_datetime([row["time"] for row in rows], unit="s")
    return frame


def model_inputs(rows: list, input_spec: dict):
    """Captured rows as the model takes them, from the image's input description (/metadata)."""
    kind = input_spec.get("kind")
    if kind == "dataframe":
        import pandas as pd

        return pd.DataFrame(rows, columns=input_spec.get("columns"))
    if kind in ("ndarray", "tensor"):
        import numpy as np

        return np.asarray(rows, dtype=input_spec.get("dtype"))
    return rows


def replay(rows: list, inputs, served: list, model):
    """The rows whose answer from `model` (a fitted model, or the served function) differs
    from what the instance answered: the row, then `served` and `notebook`, by row number."""
    import pandas as pd

    from ..runtime.convert import to_jsonable

    predict = getattr(model, "predict", model)
    changed = [row for row in compare(served, to_jsonable(predict(inputs))).rows if not row.ok]
    shown = [
        rows[r.index] if isinstance(rows[r.index], dict) else {"input": rows[r.index]}
        for r in changed
    ]
    frame = pd.DataFrame(shown, index=[r.index for r in changed])
    frame["served"] = [r.expected for r in changed]
    frame["notebook"] = [r.actual for r in changed]
    return frame
