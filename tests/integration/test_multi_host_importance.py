"""The mean |SHAP| importance of a multi-host job: the leader explains its rows with the fold models the
hosts sent back as native model files; a sharded job, whose rows stay on the hosts, writes its reports
without it and says why. Each host is its own `container/train` process (``test_multi_host``'s harness)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, make_regression
from test_multi_host import needs_own_addresses, network, shard_rows, start_hosts, wait_all  # noqa: F401

pytest.importorskip("distributed")

NAMES = ["algo-1", "algo-2"]


def report(tree: OptMl, name: str) -> Any:
    return json.loads((tree.output_data / name).read_text(encoding="utf-8"))


def test_the_leader_of_a_multi_host_job_reports_the_mean_abs_shap_of_the_fold_models_the_hosts_sent(
    network: list[str], tmp_path: Path,  # noqa: F811 (the fixture)
) -> None:
    X, y = make_regression()
    hosts = start_hosts(network, tmp_path, NAMES, X, y, FAST_HYPERPARAMETERS)
    wait_all(hosts)
    leader = hosts["algo-1"]

    shap = report(leader.tree, "feature_importance.json")["mean_abs_shap"]
    assert max(shap, key=shap.get) == "f0"  # y = 3 x0 - 2 x1 x2 + sin(x3) + noise
    cost = report(leader.tree, "cv_results.json")["shap_importance"]
    assert cost["rows"] == 200 and cost["left_out"] == {}
    assert "Feature importance: mean |SHAP| importance over 200 out-of-fold rows of " in leader.log()
    assert (leader.tree.output_data / "report.html").is_file()


def test_a_sharded_job_writes_its_reports_without_the_mean_abs_shap_and_says_why(
    network: list[str], tmp_path: Path,  # noqa: F811 (the fixture)
) -> None:
    needs_own_addresses(network)
    X, y = make_regression(n_rows=300)
    hosts = start_hosts(network, tmp_path, NAMES, X, y, FAST_HYPERPARAMETERS, shards=shard_rows(X, y, NAMES))
    wait_all(hosts)
    leader = hosts["algo-1"]

    importance = report(leader.tree, "feature_importance.json")
    assert set(importance) == {"catboost", "lightgbm", "xgboost", "ensemble"}
    why = "the rows stay on the hosts that loaded them (sharded data)"
    assert report(leader.tree, "cv_results.json")["shap_importance"]["left_out"] == {"*": why}
    assert f"Feature importance: mean |SHAP| importance not computed; {why}." in leader.log()
    assert (leader.tree.output_data / "report.html").is_file()
