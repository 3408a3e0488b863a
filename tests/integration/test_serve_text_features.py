"""A model with a text (categorical) feature behind the real `container/serve`: the hints numeric models
give, missing-value tokens as in training, and Parquet text columns."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, Server, serving_with, worker_pids

from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.job import TrainingResult, run_training


def frame(n: int = 200, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue"], n)
    x = rng.normal(size=n).round(3)
    label = (np.where(color == "red", 2.0, -1.0) + x + rng.normal(scale=0.3, size=n)).round(3)
    return pd.DataFrame({"label": label, "color": color, "x": x})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, TrainingResult]]:
    tree = OptMl(tmp_path_factory.mktemp("text") / "opt_ml")
    tree.channel("train").mkdir(parents=True)
    frame().to_csv(tree.channel("train") / "data.csv", index=False)
    config = TrainConfig.from_hyperparameters({**FAST_HYPERPARAMETERS, "target": "label"})
    result = run_training(SageMakerPaths(tree.base), config, input_data_config={}, n_threads=1,
                          metric_stream=io.StringIO())
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "ENSEMBLE_BYOC_MAX_REQUESTS": "0"}
    with serving_with(tree, env) as server:
        yield server, result


def message(server: Server, body: bytes, content_type: str = "text/csv") -> str:
    response = server.post(body, content_type=content_type)
    assert response.status == 400, response.body
    return str(response.json()["message"])


def test_a_row_with_the_label_gets_the_label_hint(served: tuple[Server, TrainingResult]) -> None:
    server, _ = served
    # Before: "Row 1, column 1: ... is not a number" (the label's value was read as the text feature).
    assert "Rows must not include the label" in message(server, b"1.5,red,0.3\n")
    jsonl = message(server, b'[1.5, "red", 0.3]\n', "application/jsonlines")
    assert "Rows must not include the label" in jsonl


def test_a_header_row_is_named_as_one(served: tuple[Server, TrainingResult]) -> None:
    server, _ = served
    text = message(server, b"color,x\nred,0.3\n")
    assert text == "The first line looks like a header row; send rows without a header."


def test_a_misspelt_record_key_gets_the_closest_feature_name(served: tuple[Server, TrainingResult]) -> None:
    server, _ = served
    text = message(server, b'{"colour": "red", "x": 0.3}\n', "application/jsonlines")
    assert "unknown features ['colour']" in text and "Did you mean 'color' for 'colour'?" in text


def test_training_missing_value_tokens_are_missing_when_served(served: tuple[Server, TrainingResult]) -> None:
    server, _ = served
    # Before: 'NA' is not a number.
    tokens = server.post(b"NA,null\nred,None\n")
    blanks = server.post(b",\nred,\n")
    assert tokens.status == 200, tokens.body
    assert tokens.body == blanks.body


def test_a_parquet_text_column_is_read_through_the_models_levels(
    served: tuple[Server, TrainingResult]
) -> None:
    server, result = served
    rows = pd.DataFrame({"color": ["red", "blue", "purple"], "x": [0.3, -0.2, 0.1]})
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), buffer)
    response = server.post(buffer.getvalue(), content_type="application/x-parquet", accept="application/json")
    assert response.status == 200, response.body
    csv_answer = server.post(b"red,0.3\nblue,-0.2\npurple,0.1\n")
    served_scores = [p["score"] for p in response.json()["predictions"]]
    assert served_scores == [float(line) for line in csv_answer.body.decode().splitlines()]


def test_the_parquet_dictionary_bomb_of_a_text_feature_is_answered_with_little_memory(
    served: tuple[Server, TrainingResult]
) -> None:
    server, _ = served
    bomb = pa.DictionaryArray.from_arrays(pa.array(np.zeros(5000, dtype=np.int32)),
                                          pa.array(["x" * 200_000]))
    buffer = io.BytesIO()
    pq.write_table(pa.table({"color": bomb, "x": np.zeros(5000)}), buffer, compression="zstd")
    (worker,) = worker_pids(server)
    Path(f"/proc/{worker}/clear_refs").write_text("5")  # the peak RSS starts afresh
    before = _peak_mib(worker)
    response = server.post(buffer.getvalue(), content_type="application/x-parquet")
    assert response.status == 200, response.body
    assert len(response.body.decode().splitlines()) == 5000
    assert _peak_mib(worker) - before < 200
    assert worker_pids(server) == [worker]


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(pid)
