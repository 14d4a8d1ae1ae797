"""Batch scoring with a built image, against the real engine: `jupyter mlcontainer predict` and
`docker run -i IMAGE predict`, in chunks, with the notebook's answers, and a bad row named."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from jupyter_mlcontainer.cli import main

pytestmark = pytest.mark.engine

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "iris_classifier.ipynb"
REPEATS = 10_000  # 30,000 rows: three chunks and a bit


@pytest.fixture(scope="module")
def iris(example_build):
    return example_build("iris_classifier").result


def rows_file(path: Path, rows: list, repeats: int, bad_row: int | None = None) -> Path:
    lines = ["a,b,c,d"]
    for index in range(repeats * len(rows)):
        cells = [str(v) for v in rows[index % len(rows)]]
        if index + 1 == bad_row:
            cells[2] = "tall"
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_csv_is_scored_in_chunks_with_the_notebooks_answers(iris, tmp_path, capsys):
    rows, expected = iris.sample["request"]["instances"], iris.sample["expected"]["predictions"]
    source = rows_file(tmp_path / "rows.csv", rows, REPEATS)
    assert main(["predict", iris.tag, str(source), "-o", str(tmp_path / "out.csv")]) == 0
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "prediction" and len(lines) == 1 + REPEATS * len(rows)
    assert [int(v) for v in lines[1:]] == expected * REPEATS
    progress = capsys.readouterr().err
    assert (
        f"{REPEATS * len(rows)} rows predicted" in progress and "10000 rows predicted" in progress
    )


def test_a_bad_value_stops_the_run_naming_its_row_and_column(iris, tmp_path, capsys):
    rows = iris.sample["request"]["instances"]
    source = rows_file(tmp_path / "bad.csv", rows, 100, bad_row=123)
    assert main(["predict", iris.tag, str(source), "-o", str(tmp_path / "out.csv")]) == 1
    error = capsys.readouterr().err
    assert "row 123, column 'c': 'tall' is not a number" in error


def test_docker_run_i_predict_reads_stdin_and_writes_stdout(iris, tmp_path):
    rows = iris.sample["request"]["instances"]
    lines = "".join(json.dumps(row) + "\n" for row in rows)
    done = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            iris.tag,
            "predict",
            "--format",
            "jsonl",
        ],
        input=lines.encode(),
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    answers = [json.loads(line)["prediction"] for line in done.stdout.decode().splitlines()]
    assert answers == iris.sample["expected"]["predictions"]
    assert b"3 rows predicted" in done.stderr
