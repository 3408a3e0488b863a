"""`container/serve` with a binary classifier trained on a text (categorical) feature: what a client sends
and gets back over HTTP. One server answers every test of this module."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import numpy as np
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, Server, serving_with, write_csv

from ensemble_byoc.bundle.ensemble import Ensemble
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.job import run_training

LEVELS = ("red", "green", "blue")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[OptMl, Ensemble, list[list[object]]]:
    rng = np.random.default_rng(3)
    colour = rng.integers(0, 3, size=300)
    x = rng.normal(size=(300, 2)).round(3)
    label = ((colour == 2) ^ (x[:, 0] > 0.5)).astype(int)
    rows = [[int(y), LEVELS[c], float(a), float(b)] for y, c, (a, b) in zip(label, colour, x, strict=True)]
    tree = OptMl(tmp_path_factory.mktemp("classifier") / "opt_ml")
    write_csv(tree.channel("train") / "data.csv", rows)
    result = run_training(SageMakerPaths(tree.base), TrainConfig.from_hyperparameters(FAST_HYPERPARAMETERS),
                          input_data_config={"train": {"ContentType": "text/csv"}}, n_threads=1,
                          metric_stream=io.StringIO())
    return tree, result.ensemble, [row[1:] for row in rows]


@pytest.fixture(scope="module")
def server(classifier: tuple[OptMl, Ensemble, list[list[object]]]) -> Iterator[Server]:
    with serving_with(classifier[0], {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}) as running:
        yield running


def expected(ensemble: Ensemble, rows: list[list[object]]) -> np.ndarray:
    """P(class 1) from the in-process fold ensemble, with the colours coded as the manifest's levels."""
    levels = ensemble.categories[ensemble.feature_names[0]]
    X = np.array([[float(levels.index(str(r[0]))), float(r[1]), float(r[2])] for r in rows])
    return ensemble.predict(X)


def test_a_classifier_answers_the_predicted_label_and_its_probability(server: Server, classifier) -> None:
    _, ensemble, rows = classifier
    body = "".join(f"{c},{a},{b}\n" for c, a, b in rows[:20]).encode()
    response = server.post(body, accept="application/json")
    assert response.status == 200, response.body
    predictions = response.json()["predictions"]
    assert list(predictions[0]) == ["predicted_label", "probability"]
    p1 = expected(ensemble, rows[:20])
    assert [p["predicted_label"] for p in predictions] == [int(v > 0.5) for v in p1]
    np.testing.assert_allclose([p["probability"] for p in predictions], np.maximum(p1, 1 - p1), atol=1e-6)


def test_custom_attributes_choose_the_classification_outputs(server: Server, classifier) -> None:
    _, ensemble, rows = classifier
    records = [{name: value for name, value in zip(ensemble.feature_names, row, strict=True)}
               for row in rows[:3]]
    response = server.post(json.dumps({"instances": records}).encode(), content_type="application/json",
                           accept="application/jsonlines",
                           headers={"X-Amzn-SageMaker-Custom-Attributes": "outputs=probabilities,labels"})
    assert response.status == 200, response.body
    answers = [json.loads(line) for line in response.body.decode().splitlines()]
    p1 = expected(ensemble, rows[:3])
    assert [a["labels"] for a in answers] == [[0, 1]] * 3
    np.testing.assert_allclose([a["probabilities"] for a in answers], np.column_stack([1 - p1, p1]),
                               atol=1e-6)


@pytest.mark.parametrize("separator", [",", "|"])
def test_custom_attributes_take_the_same_list_separators_for_models_and_outputs(
    server: Server, classifier, separator: str
) -> None:
    # Before, the two keys were parsed apart: outputs= took "|", models= answered 400 for it.
    _, ensemble, rows = classifier
    libraries = list(ensemble.weights)
    header = f"models={separator.join(libraries)}; outputs=labels{separator}predicted_label"
    body = "".join(f"{c},{a},{b}\n" for c, a, b in rows[:3]).encode()
    response = server.post(body, accept="application/json",
                           headers={"X-Amzn-SageMaker-Custom-Attributes": header})
    assert response.status == 200, response.body
    predictions = response.json()["predictions"]
    assert list(predictions[0]) == ["labels", "predicted_label", *libraries]
    assert [p["predicted_label"] for p in predictions] == [int(v > 0.5) for v in expected(ensemble, rows[:3])]


def test_an_unseen_or_missing_category_is_a_missing_value_not_an_error(server: Server) -> None:
    response = server.post(b"purple,0.1,0.2\n,0.1,0.2\n", accept="text/csv")
    assert response.status == 200, response.body
    assert len(response.body.decode().splitlines()) == 2


def test_unknown_outputs_are_a_400_naming_the_choices(server: Server) -> None:
    response = server.post(b"red,0.1,0.2\n", headers={"X-Amzn-SageMaker-Custom-Attributes": "outputs=margin"})
    assert response.status == 400
    assert "unknown outputs ['margin']" in response.json()["message"]
