"""Shared fixtures: small seeded data, a temporary /opt/ml tree, and the real entry points as processes."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAIN_SCRIPT = ROOT / "container" / "train"
SERVE_SCRIPT = ROOT / "container" / "serve"
SHARED_CONFIGS = ROOT.parent / "shared" / "sagemaker-configs"

FAST_HYPERPARAMETERS = {"k_fold": "3", "num_round": "60", "eta": "0.3", "max_depth": "3",
                        "early_stopping_rounds": "10"}
"""Small, fast settings for tests: every unit trains in a few hundredths of a second."""


def make_regression(n_rows: int = 200, n_features: int = 5, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features)).round(4)
    y = (3.0 * X[:, 0] - 2.0 * X[:, 1] * X[:, 2] + np.sin(X[:, 3])
         + rng.normal(scale=0.3, size=n_rows)).round(4)
    return X, y


def write_csv(path: Path, rows: Any, header: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


@dataclass
class OptMl:
    """A temporary /opt/ml tree, pointed to by SAGEMAKER_BASE_DIR."""

    base: Path

    @property
    def model_dir(self) -> Path:
        return self.base / "model"

    @property
    def failure_file(self) -> Path:
        return self.base / "output" / "failure"

    @property
    def output_data(self) -> Path:
        return self.base / "output" / "data"

    def channel(self, name: str) -> Path:
        return self.base / "input" / "data" / name

    def write_config(self, name: str, content: Mapping[str, Any]) -> None:
        path = self.base / "input" / "config" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))

    def hyperparameters(self, values: Mapping[str, Any]) -> None:
        self.write_config("hyperparameters.json", values)

    def add_training_csv(
        self, X: np.ndarray, y: np.ndarray, channel: str = "train", name: str = "data.csv"
    ) -> Path:
        rows = [[repr(float(label)), *(repr(float(v)) for v in features)]
                for features, label in zip(X, y, strict=True)]
        return write_csv(self.channel(channel) / name, rows)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")}
        env.update(SAGEMAKER_BASE_DIR=str(self.base), PYTHONUNBUFFERED="1", **extra)
        return env

    def model_files(self) -> list[str]:
        if not self.model_dir.exists():
            return []
        return sorted(str(p.relative_to(self.model_dir)) for p in self.model_dir.rglob("*") if p.is_file())


@pytest.fixture
def opt_ml(tmp_path: Path) -> OptMl:
    return make_opt_ml(tmp_path / "opt_ml")


def make_opt_ml(base: Path) -> OptMl:
    """A new tree at ``base`` with one host, a CSV ``train`` channel and ``FAST_HYPERPARAMETERS``."""
    tree = OptMl(base)
    for sub in ("input/config", "input/data", "model", "output"):
        (tree.base / sub).mkdir(parents=True)
    tree.write_config("inputdataconfig.json",
                      {"train": {"TrainingInputMode": "File", "ContentType": "text/csv"}})
    tree.write_config("resourceconfig.json", {"current_host": "algo-1", "hosts": ["algo-1"]})
    tree.hyperparameters(FAST_HYPERPARAMETERS)
    return tree


def run_train(tree: OptMl, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real ``container/train`` as SageMaker would, as its own process."""
    return subprocess.run(
        [sys.executable, str(TRAIN_SCRIPT), "train"],
        env=tree.env(), capture_output=True, text=True, timeout=timeout, check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None,
         timeout: float = 30) -> HttpResponse:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpResponse(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return HttpResponse(error.code, dict(error.headers), error.read())


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def post(self, body: bytes, content_type: str | None = "text/csv", accept: str | None = None,
             headers: Mapping[str, str] | None = None) -> HttpResponse:
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        if accept is not None:
            sent["Accept"] = accept
        return http("POST", self.url + "/invocations", body, sent)

    def get(self, path: str) -> HttpResponse:
        return http("GET", self.url + path)

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def start_server(tree: OptMl, **env: str) -> Server:
    """Start the real ``container/serve`` (gunicorn) on a free port; does not wait for it to be ready."""
    port = free_port()
    log_path = tree.base.parent / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(SERVE_SCRIPT), "serve"],
            env=tree.env(SAGEMAKER_BIND_TO_PORT=str(port), SAGEMAKER_MODEL_SERVER_WORKERS="2", **env),
            stdout=log, stderr=subprocess.STDOUT,
        )
    return Server(process, f"http://127.0.0.1:{port}", log_path)


def exit_code_of_refused_start(server: Server, deadline_s: float = 120) -> int:
    """The exit code of a server expected to refuse to start; killed if it is still running at the end."""
    try:
        return server.process.wait(timeout=deadline_s)
    finally:
        if server.process.poll() is None:
            server.process.kill()


def wait_until_healthy(server: Server, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited with {server.process.returncode}:\n{server.log()}")
        with contextlib.suppress(OSError):
            if server.get("/ping").status == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"server not healthy within {deadline_s} s:\n{server.log()}")


def serving(tree: OptMl, **env: str) -> contextlib.AbstractContextManager[Server]:
    """A healthy server started by ``start_server``, stopped (SIGTERM, so no worker outlives it) after the
    block."""
    return healthy_until_stopped(start_server(tree, **env))


@contextlib.contextmanager
def healthy_until_stopped(server: Server) -> Iterator[Server]:
    """``server`` once it answers /ping; stopped with SIGTERM (SIGKILL after 30 s) when the block ends."""
    try:
        wait_until_healthy(server)
        yield server
    finally:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=30)


def metric_lines(stdout: str, name: str) -> list[float]:
    prefix = name + ":"
    return [float(line[len(prefix):].rstrip(";")) for line in stdout.splitlines() if line.startswith(prefix)]


# -- serving helpers ---------------------------------------------------------------------------------------


def start_server_with(tree: OptMl, env: Mapping[str, str]) -> Server:
    """Like ``start_server``, but with exactly ``env`` on top of the tree's: no worker count is forced."""
    port = free_port()
    log_path = tree.base.parent / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(SERVE_SCRIPT), "serve"],
            env=tree.env(SAGEMAKER_BIND_TO_PORT=str(port), **env),
            stdout=log, stderr=subprocess.STDOUT,
        )
    return Server(process, f"http://127.0.0.1:{port}", log_path)


def serving_with(tree: OptMl, env: Mapping[str, str]) -> contextlib.AbstractContextManager[Server]:
    """A healthy server started by ``start_server_with``, stopped (SIGTERM) when the block ends."""
    return healthy_until_stopped(start_server_with(tree, env))


def worker_pids(server: Server) -> list[int]:
    """The gunicorn workers: the children of the server process (``container/serve`` execs gunicorn)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()  # after "pid (name)": state, ppid, ...
            if int(fields[1]) == server.process.pid and fields[0] != "Z":  # a zombie is already gone
                pids.append(int(stat.parent.name))
    return sorted(pids)


def thread_count(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no thread count for process {pid}")


def csv_body(rows: np.ndarray) -> bytes:
    """Rows as headerless CSV at full precision, one line each."""
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode()


@dataclass
class TrainedTree:
    """A trained model in a temporary /opt/ml tree, with the rows and fold ensemble it came from."""

    tree: OptMl
    ensemble: Any
    X: np.ndarray


@pytest.fixture(scope="session")
def trained_tree_for_serving(tmp_path_factory: pytest.TempPathFactory) -> TrainedTree:
    """One small model (FAST_HYPERPARAMETERS, 200 rows, 5 features) shared by the serving tests."""
    import io

    from ensemble_byoc.contract.paths import SageMakerPaths
    from ensemble_byoc.training.config import TrainConfig
    from ensemble_byoc.training.job import run_training

    tree = OptMl(tmp_path_factory.mktemp("serve") / "opt_ml")
    X, y = make_regression()
    tree.add_training_csv(X, y)
    result = run_training(
        SageMakerPaths(tree.base),
        TrainConfig.from_hyperparameters(FAST_HYPERPARAMETERS),
        input_data_config={"train": {"ContentType": "text/csv"}},
        n_threads=1,
        metric_stream=io.StringIO(),
    )
    return TrainedTree(tree, result.ensemble, X)
