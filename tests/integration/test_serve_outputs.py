"""``SAGEMAKER_INFERENCE_OUTPUT`` and ``outputs=``: the names a model answers with start it, others stop it.

A regression model answers with ``score`` (the field of its JSON answers); a setting that does not fit the
model stops the server at start with one line naming the variable and the accepted values, the line
CloudWatch shows for an endpoint whose health check never passes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import OptMl, TrainedTree, exit_code_of_refused_start, serving, start_server


def copy_of(tt: TrainedTree, tmp_path: Path) -> OptMl:
    tree = OptMl(tmp_path / "opt_ml")
    shutil.copytree(tt.tree.base, tree.base)
    return tree


def test_a_regression_model_starts_with_output_score_and_answers_scores(
    trained_tree_for_serving: TrainedTree, tmp_path: Path
) -> None:
    with serving(copy_of(trained_tree_for_serving, tmp_path), SAGEMAKER_INFERENCE_OUTPUT="score") as server:
        row = ",".join("0.1" for _ in range(trained_tree_for_serving.X.shape[1])).encode() + b"\n"
        plain = server.post(row, accept="application/json")
        asked = server.post(row, accept="application/json",
                            headers={"X-Amzn-SageMaker-Custom-Attributes": "outputs=score"})

    assert plain.status == asked.status == 200
    assert list(plain.json()["predictions"][0]) == ["score"]
    assert asked.body == plain.body


def test_a_regression_model_asked_for_labels_answers_400_naming_what_it_answers_with(
    trained_tree_for_serving: TrainedTree, tmp_path: Path
) -> None:
    with serving(copy_of(trained_tree_for_serving, tmp_path)) as server:
        row = ",".join("0.1" for _ in range(trained_tree_for_serving.X.shape[1])).encode() + b"\n"
        response = server.post(row, headers={"X-Amzn-SageMaker-Custom-Attributes": "outputs=predicted_label"})

    assert response.status == 400
    assert "a regression model answers with score, not predicted_label" in response.json()["message"]


def test_an_output_setting_that_does_not_fit_the_model_stops_the_server_with_one_clear_line(
    trained_tree_for_serving: TrainedTree, tmp_path: Path
) -> None:
    server = start_server(copy_of(trained_tree_for_serving, tmp_path),
                          SAGEMAKER_INFERENCE_OUTPUT="predicted_label,probability")
    code = exit_code_of_refused_start(server)

    assert code != 0
    lines = [line for line in server.log().splitlines() if "SAGEMAKER_INFERENCE_OUTPUT ==" in line]
    assert lines and "a regression model answers with score, not predicted_label, probability" in lines[0]
