"""Multi-model serving (SAGEMAKER_MULTI_MODEL=true): the real `container/serve` with two gunicorn workers,
SageMaker's model API spoken to over HTTP, and three models trained here on data of different shapes.

The module's server replaces each worker after 15 requests (ENSEMBLE_BYOC_MAX_REQUESTS, no jitter), so the
tests also run across workers started after the models were loaded.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import (
    FAST_HYPERPARAMETERS,
    HttpResponse,
    OptMl,
    Server,
    csv_body,
    http,
    make_regression,
    serving_with,
    worker_pids,
)

from ensemble_byoc.serving.model_loading import estimated_bytes

TARGET_MODEL = "X-Amzn-SageMaker-Target-Model"
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
SHAPES = {"north": (200, 5, 1), "south": (240, 7, 2), "east": (160, 4, 3)}
"""name -> rows, features, seed: each model reads its own width, so a mix-up cannot pass unnoticed."""


@dataclass
class Trained:
    url: str
    ensemble: Any
    X: np.ndarray


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Trained]:
    from ensemble_byoc.contract.paths import SageMakerPaths
    from ensemble_byoc.training.config import TrainConfig
    from ensemble_byoc.training.job import run_training

    trained = {}
    for name, (rows, features, seed) in SHAPES.items():
        tree = OptMl(tmp_path_factory.mktemp(name) / "opt_ml")
        X, y = make_regression(rows, features, seed)
        tree.add_training_csv(X, y)
        config = TrainConfig.from_hyperparameters(FAST_HYPERPARAMETERS)
        result = run_training(SageMakerPaths(tree.base), config, n_threads=1, metric_stream=io.StringIO(),
                              input_data_config={"train": {"ContentType": "text/csv"}})
        trained[name] = Trained(str(tree.model_dir), result.ensemble, X)
    return trained


def start(tmp_path_factory: pytest.TempPathFactory, **env: str) -> Any:
    tree = OptMl(tmp_path_factory.mktemp("mme") / "opt_ml")
    tree.base.mkdir(parents=True)
    return serving_with(tree, {"SAGEMAKER_MULTI_MODEL": "True", "SAGEMAKER_MODEL_SERVER_WORKERS": "2", **env})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    recycled = {"ENSEMBLE_BYOC_MAX_REQUESTS": "15", "ENSEMBLE_BYOC_MAX_REQUESTS_JITTER": "0"}
    with start(tmp_path_factory, **recycled) as running:
        yield running


def load(server: Server, name: str, url: str) -> HttpResponse:
    return http("POST", server.url + "/models", json.dumps({"model_name": name, "url": url}).encode(),
                {"Content-Type": "application/json"})


def invoke(server: Server, name: str, rows: np.ndarray,
           headers: dict[str, str] | None = None) -> HttpResponse:
    return http("POST", f"{server.url}/models/{name}/invoke", csv_body(rows),
                {"Content-Type": "text/csv", TARGET_MODEL: f"{name}.tar.gz", **(headers or {})})


def assert_predicts(response: HttpResponse, model: Trained, rows: np.ndarray) -> None:
    assert response.status == 200, response.body
    served = np.array([float(line) for line in response.body.decode().splitlines()])
    expected = model.ensemble.predict(rows)
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-6 * float(np.max(np.abs(expected))))


def test_three_models_load_and_each_answers_with_its_own_predictions(
    server: Server, models: dict[str, Trained]
) -> None:
    for name, model in models.items():
        assert load(server, f"own-{name}", model.url).status == 200
    for _ in range(3):  # more requests than one worker answers, across recycled workers
        for name, model in models.items():
            assert_predicts(invoke(server, f"own-{name}", model.X[:7]), model, model.X[:7])
    assert "target model 'own-north.tar.gz'" in server.log()


def test_a_model_is_listed_with_paging_described_and_unknown_names_are_404(
    server: Server, models: dict[str, Trained]
) -> None:
    for name in ("list-a", "list-b", "list-c"):
        assert load(server, name, models["east"].url).status == 200
    listed, token = [], ""
    while True:
        page = server.get(f"/models?limit=2&next_page_token={token}").json()
        assert len(page["models"]) <= 2
        listed += page["models"]
        if "nextPageToken" not in page:
            break
        token = page["nextPageToken"]
    assert {"modelName": "list-b", "modelUrl": models["east"].url} in listed
    assert len({entry["modelName"] for entry in listed}) == len(listed)
    described = server.get("/models/list-b").json()
    assert (described["modelName"], described["modelUrl"]) == ("list-b", models["east"].url)
    assert described["memoryBytes"] == estimated_bytes(Path(models["east"].url))
    assert server.get("/models/never-loaded").status == 404
    assert http("DELETE", server.url + "/models/never-loaded").status == 404
    sent_in_full = http("POST", server.url + "/models/never-loaded/invoke", b"1,2,3,4,5\n" * 600_000,
                        {"Content-Type": "text/csv"})  # 6 MB, read to the end before the 404
    assert sent_in_full.status == 404 and sent_in_full.json()["error"] == "ModelNotFoundError"
    assert server.get("/models?limit=0").status == 400


def test_an_unloaded_model_answers_404_and_loads_again_and_a_double_load_is_409(
    server: Server, models: dict[str, Trained]
) -> None:
    south = models["south"]
    assert load(server, "swap", south.url).status == 200
    conflict = load(server, "swap", south.url)
    assert conflict.status == 409
    assert "already loaded" in conflict.json()["message"]
    assert_predicts(invoke(server, "swap", south.X[:3]), south, south.X[:3])
    assert http("DELETE", server.url + "/models/swap").status == 200
    for _ in range(4):  # every worker has forgotten it
        missing = invoke(server, "swap", south.X[:3])
        assert missing.status == 404
        assert "not loaded" in missing.json()["message"]
    north = models["north"]  # the same name, now another model: no worker keeps the old one
    assert load(server, "swap", north.url).status == 200
    for _ in range(4):
        assert_predicts(invoke(server, "swap", north.X[:3]), north, north.X[:3])


def test_a_bad_body_or_a_missing_directory_is_a_400_naming_the_field(server: Server, tmp_path: Path) -> None:
    bad = http("POST", server.url + "/models", b"{not json")
    assert bad.status == 400
    assert "JSON object" in bad.json()["message"]
    no_url = http("POST", server.url + "/models", json.dumps({"model_name": "x"}).encode())
    assert no_url.status == 400
    assert "url" in no_url.json()["message"]
    missing = load(server, "x", str(tmp_path / "absent"))
    assert missing.status == 400
    assert "not a directory" in missing.json()["message"]


def test_a_model_with_a_changed_byte_is_refused_and_the_others_keep_serving(
    server: Server, models: dict[str, Trained], tmp_path: Path
) -> None:
    north = models["north"]
    assert load(server, "healthy", north.url).status == 200
    broken = tmp_path / "broken"
    shutil.copytree(north.url, broken)
    member = next(path for path in sorted(broken.rglob("*"))
                  if path.is_file() and path.name != "manifest.json")
    data = bytearray(member.read_bytes())
    data[len(data) // 2] ^= 0x01
    member.write_bytes(bytes(data))
    refused = load(server, "broken", str(broken))
    assert refused.status == 400
    assert "checksum" in refused.json()["message"]
    assert invoke(server, "broken", north.X[:2]).status == 404
    for _ in range(4):
        assert_predicts(invoke(server, "healthy", north.X[:5]), north, north.X[:5])


def test_invocations_answer_exactly_as_in_single_model_serving(
    server: Server, models: dict[str, Trained]
) -> None:
    east = models["east"]
    assert load(server, "formats", east.url).status == 200
    answer = invoke(server, "formats", east.X[:4],
                    {"Accept": "application/json", CUSTOM_ATTRIBUTES: "models=all"})
    assert answer.status == 200
    assert answer.headers[CUSTOM_ATTRIBUTES] == "models=all"
    scores = [entry["score"] for entry in answer.json()["predictions"]]
    np.testing.assert_allclose(scores, east.ensemble.predict(east.X[:4]), rtol=1e-6)
    wrong = invoke(server, "formats", east.X[:4], {CUSTOM_ATTRIBUTES: "models=nope"})
    assert wrong.status == 400
    assert "nope" in wrong.json()["message"]
    narrow = invoke(server, "formats", east.X[:4, :3])
    assert narrow.status == 400
    unsupported = http("POST", server.url + "/models/formats/invoke", b"x", {"Content-Type": "image/png"})
    assert unsupported.status == 415


def test_invokes_from_threads_all_answer_while_another_model_loads(
    server: Server, models: dict[str, Trained]
) -> None:
    north, south = models["north"], models["south"]
    assert load(server, "busy", north.url).status == 200
    failures: list[str] = []

    def keep_invoking() -> None:
        for _ in range(10):
            response = invoke(server, "busy", north.X[:3])
            served = [float(v) for v in response.body.decode().splitlines()] if response.status == 200 else []
            expected = north.ensemble.predict(north.X[:3])
            if response.status != 200 or not np.allclose(served, expected, atol=1e-5):
                failures.append(f"{response.status} {response.body[:200]!r}")

    threads = [threading.Thread(target=keep_invoking) for _ in range(3)]
    for thread in threads:
        thread.start()
    assert load(server, "arriving", south.url).status == 200
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert_predicts(invoke(server, "arriving", south.X[:3]), south, south.X[:3])


def test_a_model_loaded_through_one_worker_is_served_by_workers_started_later(
    server: Server, models: dict[str, Trained]
) -> None:
    east = models["east"]
    assert load(server, "everywhere", east.url).status == 200
    before = set(worker_pids(server))
    for _ in range(40):  # each worker is replaced after 15 requests
        assert_predicts(invoke(server, "everywhere", east.X[:2]), east, east.X[:2])
    deadline = time.monotonic() + 10
    while len(worker_pids(server)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(worker_pids(server)) - before  # one worker answered at least 20 of the 40: it was replaced


def test_a_load_past_the_memory_budget_is_507_until_a_model_is_unloaded(
    tmp_path_factory: pytest.TempPathFactory, models: dict[str, Trained]
) -> None:
    north, south = models["north"], models["south"]
    sizes = [estimated_bytes(Path(model.url)) for model in (north, south)]
    budget_mib = 2 * max(sizes) * 1.5 / 2**20  # two workers hold one model, not two
    with start(tmp_path_factory, ENSEMBLE_BYOC_MODELS_MEMORY_MB=f"{budget_mib:.4f}") as small:
        assert load(small, "first", north.url).status == 200
        full = load(small, "second", south.url)
        assert full.status == 507
        assert "memory budget" in full.json()["message"]
        assert small.get("/models").json()["models"] == [{"modelName": "first", "modelUrl": north.url}]
        assert_predicts(invoke(small, "first", north.X[:3]), north, north.X[:3])
        assert http("DELETE", small.url + "/models/first").status == 200
        assert load(small, "second", south.url).status == 200
        assert_predicts(invoke(small, "second", south.X[:3]), south, south.X[:3])
        registry = Path(re.search(r"models registered in (\S+);", small.log()).group(1))  # type: ignore[union-attr]
        assert (registry / "models.json").is_file()
    assert not registry.exists()  # the master removed it when it stopped


def test_a_model_whose_files_break_after_loading_answers_400_for_itself_in_restarted_workers(
    server: Server, models: dict[str, Trained], tmp_path: Path
) -> None:
    north, east = models["north"], models["east"]
    fragile = tmp_path / "fragile"
    shutil.copytree(north.url, fragile)
    assert load(server, "fragile", str(fragile)).status == 200
    assert load(server, "steady", east.url).status == 200
    manifest = json.loads((fragile / "manifest.json").read_text())
    member = fragile / next(iter(manifest["libraries"].values()))["folds"][0]["file"]
    member.write_bytes(member.read_bytes()[:-10])
    replace_workers(server)  # the new workers load models lazily, from the broken files
    for _ in range(4):
        broken = invoke(server, "fragile", north.X[:2])
        assert broken.status == 400
        assert "'fragile'" in broken.json()["message"]
        assert_predicts(invoke(server, "steady", east.X[:2]), east, east.X[:2])
    assert server.process.poll() is None
    assert "Traceback" not in server.log()


def replace_workers(server: Server) -> None:
    """SIGTERM every worker and wait until gunicorn has started two new ones."""
    before = set(worker_pids(server))
    for pid in before:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = set(worker_pids(server))
        if len(now) == 2 and not now & before:
            return
        time.sleep(0.05)
    raise AssertionError(f"gunicorn did not replace workers {sorted(before)}:\n{server.log()}")
