"""Classification and categorical features through the real `container/serve`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, Server, serving

from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.job import TrainingResult, run_training


def table(n: int = 240, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue"], n)
    x = rng.normal(size=n).round(3)
    score = np.where(color == "red", 1.5, -0.5) + x + rng.normal(scale=0.5, size=n)
    label = np.where(score > 0.5, "yes", "no")
    return pd.DataFrame({"label": label, "color": color, "x": x})


def train_tree(base, frame: pd.DataFrame, **hyperparameters: str) -> tuple[OptMl, TrainingResult]:
    tree = OptMl(base / "opt_ml")
    tree.channel("train").mkdir(parents=True)
    frame.to_csv(tree.channel("train") / "data.csv", index=False)
    config = TrainConfig.from_hyperparameters({**FAST_HYPERPARAMETERS, "target": "label", **hyperparameters})
    result = run_training(SageMakerPaths(tree.base), config, input_data_config={}, n_threads=1,
                          metric_stream=io.StringIO())
    return tree, result


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, TrainingResult, pd.DataFrame]]:
    frame = table()
    tree, result = train_tree(tmp_path_factory.mktemp("binary"), frame)
    with serving(tree) as server:
        yield server, result, frame


def test_binary_model_answers_the_predicted_label_and_its_probability_by_default(binary) -> None:
    server, result, frame = binary
    rows = frame[["color", "x"]].head(6)
    body = "".join(f"{color},{x!r}\n" for color, x in rows.itertuples(index=False)).encode()
    response = server.post(body)
    assert response.status == 200, response.body
    lines = list(csv.reader(io.StringIO(response.body.decode())))
    codes = np.array([[["blue", "green", "red"].index(c), x] for c, x in rows.itertuples(index=False)],
                     dtype=float)
    p_yes = result.ensemble.predict(codes)
    expected = [("yes" if p > 0.5 else "no", p if p > 0.5 else 1 - p) for p in p_yes]
    assert [line[0] for line in lines] == [label for label, _ in expected]
    np.testing.assert_allclose([float(line[1]) for line in lines], [p for _, p in expected], rtol=1e-12)


def test_json_records_with_text_categories_get_labels_and_probabilities_on_request(binary) -> None:
    server, _, _ = binary
    body = json.dumps({"instances": [{"x": 0.3, "color": "red"}, {"color": "purple", "x": 0.3},
                                     {"color": None, "x": 0.3}]}).encode()
    response = server.post(body, content_type="application/json", accept="application/json",
                           headers={"X-Amzn-SageMaker-Custom-Attributes": "outputs=probabilities,labels"})
    assert response.status == 200, response.body
    predictions = response.json()["predictions"]
    assert [sorted(p) for p in predictions] == [["labels", "probabilities"]] * 3
    assert all(p["labels"] == ["no", "yes"] for p in predictions)
    assert all(sum(p["probabilities"]) == pytest.approx(1.0) for p in predictions)
    red, unseen, missing = (p["probabilities"][1] for p in predictions)
    assert red > unseen  # red pushes towards "yes"; an unseen colour is treated as missing
    assert unseen == pytest.approx(missing)


def test_unknown_output_names_are_a_400_that_lists_the_valid_ones(binary) -> None:
    server, _, _ = binary
    response = server.post(b"red,0.1\n", headers={"X-Amzn-SageMaker-Custom-Attributes": "outputs=score"})
    assert response.status == 400
    assert "a binary model answers with predicted_label, probability, probabilities, labels, not score" in \
        response.json()["message"]
    assert server.get("/ping").status == 200


def test_a_word_in_a_numeric_feature_is_still_a_400_naming_row_and_column(binary) -> None:
    server, _, _ = binary
    response = server.post(b"red,abc\n")
    assert response.status == 400
    assert "Row 1, column 2: 'abc' is not a number" in response.json()["message"]


def test_multiclass_csv_answers_quote_the_probability_list(tmp_path) -> None:
    frame = table(n=300)
    frame["label"] = np.select([frame["x"] < -0.4, frame["x"] > 0.4], ["low", "high"], "mid")
    tree, result = train_tree(tmp_path, frame)
    with serving(tree, SAGEMAKER_INFERENCE_OUTPUT="predicted_label,probabilities") as server:
        response = server.post(b"red,-1.2\nblue,1.1\n")
        assert response.status == 200, response.body
        lines = list(csv.reader(io.StringIO(response.body.decode())))
        assert [line[0] for line in lines] == ["low", "high"]
        for line in lines:
            probabilities = json.loads(line[1])
            assert len(probabilities) == 3
            assert sum(probabilities) == pytest.approx(1.0)
        jsonl = server.post(b"red,-1.2\n", accept="application/jsonlines")
        assert json.loads(jsonl.body.decode().splitlines()[0])["predicted_label"] == "low"


@pytest.mark.parametrize("options", [{"portfolio_size": "2", "blend": "mean"}, {"refit_full": "true"},
                                     {"blend": "stack", "portfolio_size": "2", "refit_full": "true"}])
def test_portfolio_and_refitted_models_serve_the_in_process_predictions(tmp_path, options) -> None:
    from conftest import make_regression

    X, y = make_regression()
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    frame.insert(0, "label", y)
    tree, result = train_tree(tmp_path, frame, **options)
    with serving(tree) as server:
        body = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in X[:20]).encode()
        response = server.post(body)
        assert response.status == 200, response.body
        served = np.array([float(line) for line in response.body.decode().splitlines()])
    np.testing.assert_allclose(served, result.ensemble.predict(X[:20]), rtol=1e-6)
