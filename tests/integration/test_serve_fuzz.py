"""Seeded mutations of valid request bodies of every format against the real `container/serve`: no answer
is a 5xx, no worker dies (crash or timeout), and no worker's peak memory grows past a bound.

Worker recycling is off here (``ENSEMBLE_BYOC_MAX_REQUESTS=0``), so any new worker PID is a death. The
default run sends 2,000 bodies to a numeric model and 1,000 to a model with a text feature;
``ENSEMBLE_BYOC_FUZZ_REQUESTS`` sets another number, and
``ENSEMBLE_BYOC_FUZZ_SEED`` another seed, for a longer run by hand.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, Server, TrainedTree, serving_with, worker_pids

from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.job import run_training

CSV, JSON, JSON_LINES, NPY, PARQUET = ("text/csv", "application/json", "application/jsonlines",
                                       "application/x-npy", "application/x-parquet")
REQUESTS = int(os.environ.get("ENSEMBLE_BYOC_FUZZ_REQUESTS", "2000"))
SEED = int(os.environ.get("ENSEMBLE_BYOC_FUZZ_SEED", "20261201"))
PEAK_GROWTH_MIB = 300


def seeds(rows: pd.DataFrame) -> list[tuple[bytes, str]]:
    """Valid bodies of every format and shape the server reads for ``rows`` (one column per feature)."""
    records = rows.to_dict("records")
    lists = rows.to_numpy(dtype=object).tolist()
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), buffer)
    bodies = [
        (rows.to_csv(header=False, index=False).encode(), CSV),
        (json.dumps({"instances": lists}).encode(), JSON),
        (json.dumps({"instances": records}).encode(), JSON),
        (json.dumps([{"features": row} for row in lists]).encode(), JSON),
        ("".join(json.dumps(row) + "\n" for row in lists).encode(), JSON_LINES),
        ("".join(json.dumps(record) + "\n" for record in records).encode(), JSON_LINES),
        (buffer.getvalue(), PARQUET),
    ]
    numbers = rows.select_dtypes("number")
    if numbers.shape[1] == rows.shape[1]:
        structured = np.zeros(len(rows), dtype=[(str(name), "f8") for name in rows.columns])
        for name in rows.columns:
            structured[str(name)] = rows[name].to_numpy()
        values = rows.to_numpy(dtype=np.float64)
        bodies += [(_npy(values), NPY), (_npy(values.astype(np.float32)), NPY), (_npy(structured), NPY)]
    return bodies


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


Mutation = Callable[[bytes, np.random.Generator], bytes]


def _flip(body: bytes, rng: np.random.Generator) -> bytes:
    data = bytearray(body)
    for _ in range(int(rng.integers(1, 8))):
        data[int(rng.integers(len(data)))] = int(rng.integers(256))
    return bytes(data)


def _truncate(body: bytes, rng: np.random.Generator) -> bytes:
    return body[: int(rng.integers(len(body)))]


def _duplicate(body: bytes, rng: np.random.Generator) -> bytes:
    start = int(rng.integers(len(body)))
    end = min(len(body), start + int(rng.integers(1, 200)))
    return body[:end] + body[start:end] * int(rng.integers(1, 50)) + body[end:]


def _insert(body: bytes, rng: np.random.Generator) -> bytes:
    pieces = [b"1e999", b"-1e400", b"9" * 5000, b"1" * 400, b"NaN", b"NA", b"null", b"true", b'"',
              b'"' + b"x" * 140_000 + b'"', b"[" * 3000, b"{" * 3000, b",", b"\n", b"\n\n", b"\r", b"\x00",
              b"\xff\xfe", b'{"instances": ', b"]]", b'"colour": 1,', b"f0,f1,f2,f3,f4\n", b"-0", b"0x1F"]
    at = int(rng.integers(len(body) + 1))
    return body[:at] + pieces[int(rng.integers(len(pieces)))] + body[at:]


def _width(body: bytes, rng: np.random.Generator) -> bytes:
    text = body.decode("latin-1")
    if rng.random() < 0.5:
        return text.replace(",", "", int(rng.integers(1, 4))).encode("latin-1")
    return text.replace(",", ",0,", int(rng.integers(1, 4))).encode("latin-1")


def _header(body: bytes, rng: np.random.Generator) -> bytes:
    words = [b"f0", b"f1", b"f2", b"f3", b"f4", b"label", b"x", b"colour", b"\xc3\xa9t\xc3\xa9"]
    header = b",".join(words[int(i)] for i in rng.integers(len(words), size=int(rng.integers(1, 7))))
    return header + b"\n" + body


def _random(body: bytes, rng: np.random.Generator) -> bytes:
    return rng.bytes(int(rng.integers(1, 2000)))


MUTATIONS: list[Mutation] = [_flip, _flip, _truncate, _duplicate, _insert, _insert, _width, _header, _random]


def fuzzed(rows: pd.DataFrame, count: int,
           rng: np.random.Generator) -> Iterator[tuple[bytes, str, dict[str, str]]]:
    valid = seeds(rows)
    for _ in range(count):
        body, content_type = valid[int(rng.integers(len(valid)))]
        for _ in range(int(rng.integers(1, 4))):
            body = MUTATIONS[int(rng.integers(len(MUTATIONS)))](body or b"0", rng)
        if rng.random() < 0.1:
            content_type = [CSV, JSON, JSON_LINES, NPY, PARQUET][int(rng.integers(5))]  # the wrong decoder
        headers: dict[str, str] = {}
        if rng.random() < 0.15:
            headers["Content-Encoding"] = "gzip"
            packed = gzip.compress(body)
            body = packed if rng.random() < 0.7 else _flip(packed, rng)
        yield body, content_type, headers


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def text_model(base: Path) -> tuple[OptMl, pd.DataFrame]:
    """A regression model of one text (categorical) feature and one number, trained on 200 rows."""
    rng = np.random.default_rng(11)
    color = rng.choice(["red", "green", "blue"], 200)
    x = rng.normal(size=200).round(3)
    frame = pd.DataFrame({"label": np.where(color == "red", 2.0, -1.0) + x, "color": color, "x": x})
    tree = OptMl(base / "opt_ml")
    tree.channel("train").mkdir(parents=True)
    frame.to_csv(tree.channel("train") / "data.csv", index=False)
    run_training(SageMakerPaths(tree.base),
                 TrainConfig.from_hyperparameters({**FAST_HYPERPARAMETERS, "target": "label"}),
                 input_data_config={}, n_threads=1, metric_stream=io.StringIO())
    return tree, frame.drop(columns="label").head(6)


@pytest.fixture(scope="module", params=["numeric-model", "text-feature-model"])
def target(request: pytest.FixtureRequest, trained_tree_for_serving: TrainedTree,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, pd.DataFrame, int]]:
    if request.param == "numeric-model":
        tt = trained_tree_for_serving
        tree = tt.tree
        rows = pd.DataFrame(tt.X[:6], columns=list(tt.ensemble.feature_names))
        count = REQUESTS
    else:
        tree, rows = text_model(tmp_path_factory.mktemp("fuzz_text"))
        count = REQUESTS // 2
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "30",
           "ENSEMBLE_BYOC_MAX_REQUESTS": "0", "LOG_LEVEL": "WARNING"}
    with serving_with(tree, env) as running:
        yield running, rows, count


def test_thousands_of_mutated_bodies_never_get_a_5xx_kill_a_worker_or_grow_its_memory(
    target: tuple[Server, pd.DataFrame, int]
) -> None:
    server, rows, count = target
    for _ in range(300):
        if len(worker_pids(server)) == 2:
            break
        server.get("/ping")
    workers = worker_pids(server)
    assert len(workers) == 2
    baseline = {pid: peak_rss_mib(pid) for pid in workers}
    rng = np.random.default_rng(SEED)
    statuses: dict[int, int] = {}
    failures = []
    for number, (body, content_type, headers) in enumerate(fuzzed(rows, count, rng)):
        response = server.post(body, content_type=content_type, headers=headers)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if response.status >= 500:
            failures.append((number, content_type, headers, body[:200], response.body[:300]))
    assert not failures, (f"{len(failures)} answers of 5xx (seed {SEED}); first: {failures[:3]}\n"
                          + server.log()[-3000:])
    assert worker_pids(server) == workers, server.log()[-3000:]
    assert "WORKER TIMEOUT" not in server.log() and "Traceback" not in server.log()
    grown = {pid: peak_rss_mib(pid) - baseline[pid] for pid in workers}
    assert max(grown.values()) < PEAK_GROWTH_MIB, grown
    assert statuses.get(200, 0) > 0 and sum(n for s, n in statuses.items() if 400 <= s < 500) > count / 4
