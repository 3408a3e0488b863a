"""Multi-host training jobs on one machine: each host is its own `container/train` process with its own
/opt/ml tree, resourceconfig.json and loopback address (127.0.0.2, 127.0.0.3), joined through Dask."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import (
    FAST_HYPERPARAMETERS,
    TRAIN_SCRIPT,
    OptMl,
    csv_body,
    make_regression,
    metric_lines,
    run_train,
    serving,
    write_csv,
)

from ensemble_byoc.bundle.artifacts import load_bundle
from ensemble_byoc.training.scores import get_metric

pytest.importorskip("distributed")

ADDRESSES = {"algo-1": "127.0.0.2", "algo-2": "127.0.0.3", "algo-3": "127.0.0.4"}


@pytest.fixture(scope="module")
def network() -> Iterator[list[str]]:
    """A network namespace whose loopback holds each host's address as its own (LightGBM's distributed
    mode finds its rank among the interface addresses, as on real instances); the command prefix that
    runs a host's process inside it (empty where no namespace can be made: the hosts then share this
    machine's loopback, which is enough for everything but LightGBM's distributed training)."""
    name = f"ebyoc-test-{os.getpid()}"
    setup = ["ip link set lo up", *(f"ip addr add {address}/8 dev lo" for address in ADDRESSES.values())]
    try:
        created = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
    except OSError:  # no iproute2
        created = subprocess.CompletedProcess([], returncode=1)
    if created.returncode != 0:  # the hosts share this machine's loopback; sharded tests need the namespace
        yield []
        return
    try:
        for command in setup:
            subprocess.run(["ip", "netns", "exec", name, *command.split()], check=True, capture_output=True)
        yield ["ip", "netns", "exec", name]
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


@dataclass
class Host:
    name: str
    tree: OptMl
    log_path: Path
    command: list[str]
    env: dict[str, str]
    cpus: set[int]
    process: subprocess.Popen[bytes] = field(init=False)

    def start(self) -> None:
        """Run the host's `container/train` on its tree (again, for a rerun of the job), on its own core."""
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=partial(os.sched_setaffinity, 0, self.cpus))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float = 300) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            raise AssertionError(f"{self.name} still running after {timeout} s:\n{self.log()}") from None


def make_tree(base: Path, X: np.ndarray, y: np.ndarray, hyperparameters: dict[str, str],
              distribution: str = "FullyReplicated") -> OptMl:
    tree = OptMl(base)
    for sub in ("input/config", "input/data", "model", "output"):
        (tree.base / sub).mkdir(parents=True)
    tree.write_config("inputdataconfig.json", {"train": {"TrainingInputMode": "File",
                                                         "ContentType": "text/csv",
                                                         "S3DistributionType": distribution}})
    tree.hyperparameters(hyperparameters)
    if len(y):
        tree.add_training_csv(X, y)
    else:
        tree.channel("train").mkdir(parents=True)
    return tree


_CLUSTER_PORTS = count(20_000 + 2 * (os.getpid() % 4_000), 2)
"""Each job's scheduler and worker ports, new for every job and below the ephemeral range (32768 up), so no
connection of an earlier job (its sockets in TIME_WAIT, a port the kernel lent an outgoing connection)
holds the port a leader is about to listen on."""


def cluster_ports() -> tuple[str, str]:
    port = next(_CLUSTER_PORTS)
    return str(port), str(port + 1)


def start_hosts(network: list[str], tmp_path: Path, hosts: list[str], X: np.ndarray, y: np.ndarray,
                hyperparameters: dict[str, str], *, start: list[str] | None = None, join_timeout: int = 120,
                checkpoints: bool = False, distribution: str = "FullyReplicated", worker_ttl: int = 60,
                shards: dict[str, list[list[Any]]] | None = None,
                validation: dict[str, list[list[Any]]] | None = None,
                secret: str | None = "new") -> dict[str, Host]:
    """Start `container/train` for each host in ``start`` (default: all), as SageMaker starts each instance.

    Every host gets the job's ``secret`` (``"new"``: a new one, as the launcher makes; ``None``: none).
    Each host runs on a core of its own where there are enough, as on real instances.

    With ``shards`` (CSV rows, label first, by host), each host's train channel holds its own rows
    (``ShardedByS3Key``); a host missing from ``shards`` gets an empty channel, as when a job has more hosts
    than files.
    """
    scheduler_port, worker_port = cluster_ports()
    environment = {
        "ENSEMBLE_BYOC_SCHEDULER_PORT": scheduler_port, "ENSEMBLE_BYOC_WORKER_PORT": worker_port,
        "ENSEMBLE_BYOC_JOIN_TIMEOUT": str(join_timeout), "ENSEMBLE_BYOC_WORKER_TTL": str(worker_ttl),
        "ENSEMBLE_BYOC_TEST_HOST_ADDRESSES": json.dumps({h: ADDRESSES[h] for h in hosts})}
    if secret is not None:
        environment["ENSEMBLE_BYOC_CLUSTER_SECRET"] = secrets.token_urlsafe(32) if secret == "new" else secret
    if shards is not None:
        distribution = "ShardedByS3Key"
    cpus = sorted(os.sched_getaffinity(0))
    started = {}
    for name in start or hosts:
        if shards is None:
            tree = make_tree(tmp_path / name / "opt_ml", X, y, hyperparameters, distribution)
        else:
            tree = make_tree(tmp_path / name / "opt_ml", X[:0], y[:0], hyperparameters, distribution)
            if shards.get(name):
                write_csv(tree.channel("train") / "part-0.csv", shards[name])
            if validation is not None:
                channel = {"TrainingInputMode": "File", "ContentType": "text/csv",
                           "S3DistributionType": distribution}
                replicated = {**channel, "S3DistributionType": "FullyReplicated"}  # as holdout needs
                tree.write_config("inputdataconfig.json", {"train": channel, "validation": replicated
                                  if hyperparameters.get("validation_mode") == "holdout" else channel})
                tree.channel("validation").mkdir(parents=True)
                if validation.get(name):
                    write_csv(tree.channel("validation") / "part-0.csv", validation[name])
        if checkpoints:
            (tree.base / "checkpoints").mkdir()
        tree.write_config("resourceconfig.json", {"current_host": name, "hosts": hosts,
                                                  "network_interface_name": "eth1"})
        command = [*network, sys.executable, str(TRAIN_SCRIPT), "train"]
        host = Host(name, tree, tmp_path / f"{name}.log", command, tree.env(**environment),
                    {cpus[hosts.index(name) % len(cpus)]})
        host.start()
        started[name] = host
    return started


def wait_all(hosts: dict[str, Host], timeout: float = 300) -> None:
    """Wait for every host's process to end; each must exit 0. Whatever still runs is stopped."""
    try:
        for host in hosts.values():
            assert host.wait(timeout) == 0, host.log()
    finally:
        stop_all(hosts)


def stop_all(hosts: dict[str, Host]) -> None:
    for host in hosts.values():
        if host.process.poll() is None:
            host.process.kill()
            host.process.wait(timeout=30)


def wait_for(host: Host, text: str, deadline_s: float = 240) -> None:
    deadline = time.monotonic() + deadline_s
    while text not in host.log():
        assert host.process.poll() is None, host.log()
        assert time.monotonic() < deadline, host.log()
        time.sleep(0.2)


def predictions(tree: OptMl, X: np.ndarray) -> np.ndarray:
    ensemble, _ = load_bundle(tree.model_dir, n_threads=1)
    return np.asarray(ensemble.predict(X))


@pytest.mark.parametrize("names", [["algo-1", "algo-2"], ["algo-1", "algo-2", "algo-3"]],
                         ids=["2-hosts", "3-hosts"])
def test_multi_host_job_spreads_units_over_every_host_and_equals_the_single_host_model(
    network: list[str], opt_ml: OptMl, tmp_path: Path, names: list[str]
) -> None:
    X, y = make_regression()
    opt_ml.add_training_csv(X, y)
    single = run_train(opt_ml)
    assert single.returncode == 0, single.stderr
    hosts = start_hosts(network, tmp_path, names, X, y, FAST_HYPERPARAMETERS)
    wait_all(hosts)
    leader = hosts["algo-1"]
    log = leader.log()
    assert f"All {len(names)} hosts joined the Dask cluster" in log
    for name in names:
        assert re.search(rf"unit \d+ of 9: .* on {name}$", log, flags=re.M), name  # every host trained units
    assert metric_lines(log, "validation-rmse") == metric_lines(single.stdout, "validation-rmse")
    np.testing.assert_allclose(predictions(leader.tree, X), predictions(opt_ml, X), rtol=1e-12, atol=0)
    assert not leader.tree.failure_file.exists()
    for name in names[1:]:
        assert hosts[name].tree.model_files() == [] and not hosts[name].tree.output_data.exists()
        assert metric_lines(hosts[name].log(), "validation-rmse") == []
    with serving(leader.tree) as server:
        response = server.post(csv_body(X[:25]))
    assert response.status == 200, response.body
    served = np.array([float(v) for v in response.body.decode().split()])
    # merged fold trees: float32 sums
    np.testing.assert_allclose(served, predictions(opt_ml, X[:25]), rtol=1e-6)


def test_a_host_killed_mid_job_fails_it_naming_the_host_and_a_rerun_resumes_its_finished_units(
    network: list[str], tmp_path: Path,
) -> None:
    X, y = make_regression(n_rows=3000)
    slow = {**FAST_HYPERPARAMETERS, "num_round": "1500", "eta": "0.01", "max_depth": "6",
            "early_stopping_rounds": "0"}
    hosts = start_hosts(network, tmp_path, ["algo-1", "algo-2"], X, y, slow, checkpoints=True)
    leader, worker = hosts["algo-1"], hosts["algo-2"]
    try:
        wait_for(leader, "unit 1 of 9")
        worker.process.send_signal(signal.SIGKILL)
        assert leader.wait(timeout=180) == 1, leader.log()
    finally:
        stop_all(hosts)
    reason = leader.tree.failure_file.read_text()
    assert reason.startswith("PlatformError: Host algo-2 left the Dask cluster"), reason
    assert "rerun with the same checkpoints to resume" in reason
    kept = sorted(p.name for p in (leader.tree.base / "checkpoints" / "units").iterdir())
    assert kept, leader.log()
    leader.tree.write_config("resourceconfig.json", {"current_host": "algo-1", "hosts": ["algo-1"]})
    rerun = run_train(leader.tree, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stderr.count("resumed from checkpoint") == len(kept)


def test_a_host_that_freezes_mid_job_is_dropped_after_the_worker_ttl_and_the_job_fails_naming_it(
    network: list[str], tmp_path: Path
) -> None:
    X, y = make_regression(n_rows=3000)
    slow = {**FAST_HYPERPARAMETERS, "num_round": "1500", "eta": "0.01", "max_depth": "6",
            "early_stopping_rounds": "0"}
    hosts = start_hosts(network, tmp_path, ["algo-1", "algo-2"], X, y, slow, worker_ttl=5)
    leader, worker = hosts["algo-1"], hosts["algo-2"]
    try:
        wait_for(leader, "unit 1 of 9")
        worker.process.send_signal(signal.SIGSTOP)  # alive but silent, as a host cut off from the network
        assert leader.wait(timeout=120) == 1, leader.log()
    finally:
        worker.process.send_signal(signal.SIGCONT)
        stop_all(hosts)
    reason = leader.tree.failure_file.read_text()
    assert reason.startswith("PlatformError: Host algo-2 left the Dask cluster during training"), reason
    assert "no checkpoint folder, so a rerun starts over" in reason
    assert leader.tree.model_files() == []


def test_sigterm_to_every_host_stops_a_multi_host_job_promptly_and_every_host_exits(
    network: list[str], tmp_path: Path
) -> None:
    X, y = make_regression(n_rows=3000)
    slow = {**FAST_HYPERPARAMETERS, "num_round": "1500", "eta": "0.01", "max_depth": "6",
            "early_stopping_rounds": "0"}
    hosts = start_hosts(network, tmp_path, ["algo-1", "algo-2"], X, y, slow, checkpoints=True)
    leader, worker = hosts["algo-1"], hosts["algo-2"]
    try:
        wait_for(leader, "unit 1 of 9")
        for host in (worker, leader):  # StopTrainingJob signals every instance
            host.process.send_signal(signal.SIGTERM)
        assert leader.wait(timeout=180) == 1, leader.log()
        assert worker.wait(timeout=180) == 0, worker.log()
    finally:
        stop_all(hosts)
    reason = leader.tree.failure_file.read_text()
    assert reason.startswith("TrainingStopped: Training stopped by SIGTERM after"), reason
    assert "rerun with the same checkpoints to resume" in reason
    assert leader.tree.model_files() == []


def test_a_host_that_never_joins_fails_the_job_naming_it(network: list[str], tmp_path: Path) -> None:
    X, y = make_regression()
    hosts = start_hosts(network, tmp_path, ["algo-1", "algo-2"], X, y, FAST_HYPERPARAMETERS, start=["algo-1"],
                        join_timeout=5)
    try:
        assert hosts["algo-1"].wait(timeout=120) == 1, hosts["algo-1"].log()
    finally:
        stop_all(hosts)
    reason = hosts["algo-1"].tree.failure_file.read_text()
    assert reason.startswith(
        "PlatformError: Host(s) algo-2 did not join the Dask cluster on algo-1 within 5 s"
    ), reason
    assert hosts["algo-1"].tree.model_files() == []


def test_a_second_host_whose_scheduler_never_answers_fails_naming_the_first_host(
    network: list[str], tmp_path: Path
) -> None:
    X, y = make_regression()
    hosts = start_hosts(network, tmp_path, ["algo-1", "algo-2"], X, y, FAST_HYPERPARAMETERS, start=["algo-2"],
                        join_timeout=5)
    try:
        assert hosts["algo-2"].wait(timeout=120) == 1, hosts["algo-2"].log()
    finally:
        stop_all(hosts)
    reason = hosts["algo-2"].tree.failure_file.read_text()
    assert reason.startswith("PlatformError: Host algo-2 could not join the Dask scheduler on algo-1"), reason
    assert hosts["algo-2"].tree.model_files() == []


PROBE = """
import json, sys
from distributed import Client
from distributed.core import rpc
from distributed.security import Security
from ensemble_byoc.training.multihost.tls import cluster_security

scheduler, worker, secret = sys.argv[1:4]
outcome = {}

def attempt(name, call):
    try:
        call()
        outcome[name] = "connected"
    except (OSError, TimeoutError, ValueError) as exc:  # CommClosedError is an OSError; others: a bug here
        outcome[name] = "refused: " + type(exc).__name__

def client(scheme, security):
    with Client(f"{scheme}://{scheduler}", security=security, timeout=5, set_as_default=False) as c:
        c.scheduler_info()

async def worker_identity():
    async with rpc(f"tcp://{worker}", timeout=5) as peer:
        await peer.identity()

attempt("plain client", lambda: client("tcp", None))
attempt("client with its own TLS certificate", lambda: client("tls", Security.temporary()))
with cluster_security(secret[::-1], "probe") as wrong:
    attempt("client of another secret", lambda: client("tls", wrong))
import asyncio
attempt("plain call to a worker", lambda: asyncio.run(worker_identity()))
with cluster_security(secret, "probe") as right:
    attempt("client of the job's secret", lambda: client("tls", right))
print(json.dumps(outcome))
"""


def test_a_job_with_its_secret_refuses_clients_without_it_and_still_succeeds(
    network: list[str], tmp_path: Path
) -> None:
    X, y = make_regression(n_rows=2000)
    slow = {**FAST_HYPERPARAMETERS, "num_round": "400", "eta": "0.01", "early_stopping_rounds": "0"}
    secret = secrets.token_urlsafe(32)
    hosts = start_hosts(network, tmp_path, ["algo-1", "algo-2"], X, y, slow, secret=secret)
    leader = hosts["algo-1"]
    try:
        wait_for(leader, "All 2 hosts joined the Dask cluster")
        scheduler = f"{ADDRESSES['algo-1']}:{leader.env['ENSEMBLE_BYOC_SCHEDULER_PORT']}"
        worker = f"{ADDRESSES['algo-2']}:{leader.env['ENSEMBLE_BYOC_WORKER_PORT']}"
        probe = subprocess.run([*network, sys.executable, "-c", PROBE, scheduler, worker, secret],
                               capture_output=True, text=True, timeout=120, check=False)
        assert probe.returncode == 0, probe.stderr
        assert leader.process.poll() is None, leader.log()  # the job was still running
        wait_all(hosts)
    finally:
        stop_all(hosts)
    outcome = json.loads(probe.stdout.strip().splitlines()[-1])
    assert outcome.pop("client of the job's secret") == "connected", outcome  # the scheduler was there
    assert sorted(outcome) == ["client of another secret", "client with its own TLS certificate",
                               "plain call to a worker", "plain client"], outcome
    assert all(result.startswith("refused") for result in outcome.values()), outcome
    assert "CLUSTER_SECRET is not set" not in leader.log()
    assert leader.tree.model_files()


def test_a_job_without_a_secret_runs_and_every_host_warns_that_its_cluster_is_open(
    network: list[str], tmp_path: Path
) -> None:
    X, y = make_regression()
    hosts = start_hosts(network, tmp_path, ["algo-1", "algo-2"], X, y, FAST_HYPERPARAMETERS, secret=None)
    wait_all(hosts)
    for name, host in hosts.items():
        assert (f"WARNING ensemble_byoc.training.multihost.tls: Host {name}: "
                f"ENSEMBLE_BYOC_CLUSTER_SECRET is not set, "
                "so this job's Dask cluster is not authenticated") in host.log(), host.log()
    assert hosts["algo-1"].tree.model_files()


def test_a_single_host_job_starts_no_cluster_and_never_imports_dask(opt_ml: OptMl) -> None:
    X, y = make_regression()
    opt_ml.add_training_csv(X, y)
    code = ("import sys\nfrom ensemble_byoc.training.cli import train_main\ncode = train_main([])\n"
            "assert code == 0\nassert 'distributed' not in sys.modules and 'dask' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], env=opt_ml.env(), capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "Dask" not in done.stderr
    assert metric_lines(done.stdout, "validation-rmse")



def needs_own_addresses(network: list[str]) -> None:
    if not network:
        pytest.skip("no network namespace here: LightGBM's distributed training needs each host's address on "
                    "an interface")


def labelled_rows(X: np.ndarray, y: np.ndarray) -> list[list[Any]]:
    """CSV rows as a channel holds them: the label first, then the features."""
    return [[label, *features] for label, features in zip(y.tolist(), X.tolist(), strict=True)]


def shard_rows(X: np.ndarray, y: np.ndarray, names: list[str]) -> dict[str, list[list[Any]]]:
    """Uneven shards, as S3 keys of different sizes give: host i gets a share proportional to i + 1."""
    bounds = np.cumsum([0, *range(1, len(names) + 1)]) * len(y) // sum(range(1, len(names) + 1))
    rows = labelled_rows(X, y)
    return {name: rows[bounds[i]:bounds[i + 1]] for i, name in enumerate(names)}


@pytest.mark.parametrize("names", [["algo-1", "algo-2"], ["algo-1", "algo-2", "algo-3"]],
                         ids=["2-hosts", "3-hosts"])
def test_a_sharded_job_trains_on_each_hosts_own_rows_and_the_first_hosts_model_serves_them(
    network: list[str], tmp_path: Path, names: list[str]
) -> None:
    needs_own_addresses(network)
    X, y = make_regression(n_rows=600)
    shards = shard_rows(X, y, names)
    hosts = start_hosts(network, tmp_path, names, X, y, FAST_HYPERPARAMETERS, shards=shards)
    wait_all(hosts)
    leader = hosts["algo-1"]
    log = leader.log()
    sizes = ", ".join(f"{name} {len(shards[name])}" for name in names)
    assert f"Sharded data: 600 rows in all ({sizes}), 5 features." in log
    largest = names[-1]
    assert (f"catboost (no distributed Python path) trains on the largest shard, {largest}'s "
            f"{len(shards[largest])} rows") in log
    assert re.search(r"unit \d+ of 9: xgboost fold 0: .* on all hosts$", log, flags=re.M), log
    assert re.search(r"unit \d+ of 9: lightgbm fold 0: .* on all hosts$", log, flags=re.M), log
    assert re.search(rf"unit \d+ of 9: catboost fold 0: .* on {largest}$", log, flags=re.M), log
    rmse = metric_lines(log, "validation-rmse")
    assert len(rmse) == 3 and rmse[-1] < 0.5 * float(np.std(y)), rmse  # every row held out once, well fitted
    for library in ("catboost", "lightgbm", "xgboost"):  # each member's held-out rows are its own
        assert metric_lines(log, f"validation-rmse-{library}")[-1] < 0.6 * float(np.std(y)), library
    report = json.loads((leader.tree.output_data / "cv_results.json").read_text())
    assert report["rows_scored"] == 600
    for name in names[1:]:
        assert hosts[name].tree.model_files() == [] and not hosts[name].tree.output_data.exists()
    expected = predictions(leader.tree, X[:25])
    with serving(leader.tree) as server:
        response = server.post(csv_body(X[:25]))
    assert response.status == 200, response.body
    served = np.array([float(v) for v in response.body.decode().split()])
    np.testing.assert_allclose(served, expected, rtol=1e-6)  # the server merges fold trees, summed in float32


def test_a_sharded_best_preset_job_trains_both_plans_on_the_hosts_and_serves_one(
    network: list[str], tmp_path: Path
) -> None:
    needs_own_addresses(network)
    names = ["algo-1", "algo-2"]
    X, y = make_regression(n_rows=600)
    hosts = start_hosts(network, tmp_path, names, X, y, {**FAST_HYPERPARAMETERS, "presets": "best"},
                        shards=shard_rows(X, y, names))
    wait_all(hosts)
    leader = hosts["algo-1"]
    choice = json.loads((leader.tree.output_data / "cv_results.json").read_text())["presets_best"]
    assert [(p["plan"], p["complete"]) for p in choice["plans"]] == [("default", True), ("best", True)]
    assert f"presets=best: serving the {choice['served']} plan" in leader.log()
    assert np.isfinite(predictions(leader.tree, X[:25])).all()


def test_a_sharded_job_rerun_resumes_the_units_kept_and_retrains_the_rest_to_the_same_model(
    network: list[str], tmp_path: Path
) -> None:
    needs_own_addresses(network)
    X, y = make_regression(n_rows=400)
    names = ["algo-1", "algo-2"]
    hosts = start_hosts(network, tmp_path, names, X, y, FAST_HYPERPARAMETERS, checkpoints=True,
                        shards=shard_rows(X, y, names))
    units = hosts["algo-1"].tree.base / "checkpoints" / "units"
    try:
        for host in hosts.values():
            assert host.wait() == 0, host.log()
        first = predictions(hosts["algo-1"].tree, X)
        for dropped in units.glob("*gb*-fold-*"):  # XGBoost and LightGBM train again, across both hosts
            shutil.rmtree(dropped)
        for host in hosts.values():
            host.start()
        for host in hosts.values():
            assert host.wait() == 0, host.log()
    finally:
        stop_all(hosts)
    log = hosts["algo-1"].log()
    assert log.count("resumed from checkpoint") == 3, log  # the CatBoost units
    assert len(re.findall(r"unit \d+ of 9: (xgboost|lightgbm) fold \d: .* on all hosts$", log,
                          flags=re.M)) == 6
    np.testing.assert_array_equal(predictions(hosts["algo-1"].tree, X), first)


def test_a_sharded_classifier_with_text_labels_and_a_text_feature_shares_levels_across_hosts(
    network: list[str], tmp_path: Path
) -> None:
    needs_own_addresses(network)
    rng = np.random.default_rng(5)
    colours = np.array(["red", "green", "blue"])
    rows = []
    for i in range(400):
        colour = colours[rng.integers(0, 2 if i < 200 else 3)]  # only the second host has "blue" rows
        a, b = rng.normal(size=2).round(3)
        rows.append(["yes" if (colour == "blue") ^ (a > 0.3) else "no", colour, float(a), float(b)])
    hosts = start_hosts(network, tmp_path, ["algo-1", "algo-2"], np.empty((0, 0)), np.empty(0),
                        {**FAST_HYPERPARAMETERS, "eval_metric": "auc"},
                        shards={"algo-1": rows[:200], "algo-2": rows[200:]})
    wait_all(hosts)
    leader = hosts["algo-1"]
    log = leader.log()
    assert "problem_type inferred as binary: the label holds text (2 distinct values)" in log
    auc = metric_lines(log, "validation-auc")
    assert len(auc) == 3 and auc[-1] > 0.9, auc
    manifest = json.loads((leader.tree.model_dir / "manifest.json").read_text())
    assert manifest["categories"] == {"f0": ["blue", "green", "red"]}
    ensemble, _ = load_bundle(leader.tree.model_dir, n_threads=1)
    levels = ["blue", "green", "red"]
    X = np.array([[float(levels.index(r[1])), r[2], r[3]] for r in rows[195:205]])
    p_yes = np.asarray(ensemble.predict(X))
    with serving(leader.tree) as server:
        response = server.post("".join(f"{r[1]},{r[2]},{r[3]}\n" for r in rows[195:205]).encode(),
                               accept="application/json")
    assert response.status == 200, response.body
    answers = response.json()["predictions"]
    assert [a["predicted_label"] for a in answers] == ["yes" if p > 0.5 else "no" for p in p_yes]
    np.testing.assert_allclose([a["probability"] for a in answers], np.maximum(p_yes, 1 - p_yes), atol=1e-6)


def test_a_sharded_validation_channel_joins_on_the_hosts_that_received_its_files(
    network: list[str], tmp_path: Path
) -> None:
    needs_own_addresses(network)
    X, y = make_regression(n_rows=500)
    rows = labelled_rows(X, y)
    names = ["algo-1", "algo-2"]
    hosts = start_hosts(network, tmp_path, names, X, y, FAST_HYPERPARAMETERS,
                        shards={"algo-1": rows[:200], "algo-2": rows[200:400]},
                        validation={"algo-2": rows[400:]})
    wait_all(hosts)
    log = hosts["algo-1"].log()
    assert "Sharded data: 500 rows in all (algo-1 200, algo-2 300), 5 features." in log
    assert len(metric_lines(log, "validation-rmse")) == 3


def test_a_sharded_holdout_job_trains_on_the_shards_and_scores_the_replicated_validation_rows(
    network: list[str], tmp_path: Path
) -> None:
    needs_own_addresses(network)
    X, y = make_regression(n_rows=500)
    rows = labelled_rows(X, y)
    names = ["algo-1", "algo-2"]
    holdout = {**FAST_HYPERPARAMETERS, "validation_mode": "holdout"}
    hosts = start_hosts(network, tmp_path, names, X, y, holdout,
                        shards={"algo-1": rows[:200], "algo-2": rows[200:400]},
                        validation={name: rows[400:] for name in names})
    wait_all(hosts)
    leader = hosts["algo-1"]
    log = leader.log()
    assert "Sharded data: 400 rows in all (algo-1 200, algo-2 200), 5 features." in log
    assert len(metric_lines(log, "cv-rmse")) == 3
    ensemble, _ = load_bundle(leader.tree.model_dir, n_threads=1)
    assert metric_lines(log, "validation-rmse") == pytest.approx(
        [get_metric("regression", "rmse").score(y[400:], ensemble.predict(X[400:]))], abs=2e-6)


def test_a_sharded_classifier_trains_catboost_on_the_largest_shard_that_holds_every_class(
    network: list[str], tmp_path: Path
) -> None:
    needs_own_addresses(network)
    rng = np.random.default_rng(11)
    X = rng.normal(size=(450, 3)).round(3)
    label = np.digitize(X[:, 0], [-0.4, 0.4])  # classes 0, 1, 2
    rows = [[int(c), *features] for c, features in zip(label.tolist(), X.tolist(), strict=True)]
    without_2 = [row for row in rows if row[0] != 2]
    with_2 = [row for row in rows if row[0] == 2]
    shards = {"algo-1": without_2[:60] + with_2, "algo-2": without_2[60:]}  # algo-2 is larger, lacks class 2
    hosts = start_hosts(network, tmp_path, ["algo-1", "algo-2"], X, label, FAST_HYPERPARAMETERS,
                        shards=shards)
    wait_all(hosts)
    log = hosts["algo-1"].log()
    assert "problem_type inferred as multiclass" in log
    assert len(re.findall(r"unit \d+ of 9: catboost fold \d: .* on algo-1$", log, flags=re.M)) == 3, log
    assert len(metric_lines(log, "validation-mlogloss")) == 3


def test_a_sharded_classifier_whose_classes_no_host_holds_all_of_fails_saying_what_to_do(
    network: list[str], tmp_path: Path
) -> None:
    needs_own_addresses(network)
    rows = [[i % 2, 0.1 * i, 0.3 * (i % 7)] for i in range(120)]
    shards = {"algo-1": [row for row in rows if row[0] == 0], "algo-2": [row for row in rows if row[0] == 1]}
    hosts = start_hosts(network, tmp_path, ["algo-1", "algo-2"], np.empty((0, 0)), np.empty(0),
                        FAST_HYPERPARAMETERS, shards=shards)
    try:
        assert hosts["algo-1"].wait() == 1, hosts["algo-1"].log()
        assert hosts["algo-2"].wait() == 0, hosts["algo-2"].log()
    finally:
        stop_all(hosts)
    reason = hosts["algo-1"].tree.failure_file.read_text()
    assert reason.startswith(
        "UserError: No host's rows hold every class (0, 1) in the training part of fold 0; "
        "in a sharded job catboost trains on one host's rows."
    ), reason
    assert hosts["algo-1"].tree.model_files() == []


def test_a_sharded_job_with_a_host_that_received_no_file_trains_on_the_others(
    network: list[str], tmp_path: Path
) -> None:
    needs_own_addresses(network)
    X, y = make_regression(n_rows=400)
    names = ["algo-1", "algo-2", "algo-3"]
    both = shard_rows(X, y, ["algo-1", "algo-3"])
    shards = {"algo-1": both["algo-1"], "algo-3": both["algo-3"]}
    hosts = start_hosts(network, tmp_path, names, X, y, FAST_HYPERPARAMETERS, shards=shards)
    wait_all(hosts)
    log = hosts["algo-1"].log()
    assert "Host algo-2 received no files of channel 'train'" in log
    assert "Sharded data: 400 rows in all (algo-1 133, algo-3 267), 5 features." in log
    assert len(metric_lines(log, "validation-rmse")) == 3


def start_long_sharded_job(network: list[str], tmp_path: Path, library: str,
                           checkpoints: bool = False, worker_ttl: int = 60) -> dict[str, Host]:
    """Two hosts on one long ``library`` job of 3,000 rows, returned once both are inside its first unit
    (the library's collective training)."""
    needs_own_addresses(network)
    X, y = make_regression(n_rows=3000)
    slow = {**FAST_HYPERPARAMETERS, "num_round": "3000", "eta": "0.005", "max_depth": "6",
            "early_stopping_rounds": "0", "models": library}
    names = ["algo-1", "algo-2"]
    hosts = start_hosts(network, tmp_path, names, X, y, slow, checkpoints=checkpoints,
                        shards=shard_rows(X, y, names), worker_ttl=worker_ttl)
    try:
        wait_for(hosts["algo-1"], "Sharded training on 2 hosts")
    except BaseException:
        stop_all(hosts)
        raise
    time.sleep(2)  # into the first unit
    return hosts


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_a_host_killed_during_a_distributed_unit_fails_the_sharded_job_naming_the_host(
    network: list[str], tmp_path: Path, library: str
) -> None:
    hosts = start_long_sharded_job(network, tmp_path, library)
    leader, worker = hosts["algo-1"], hosts["algo-2"]
    try:
        worker.process.send_signal(signal.SIGKILL)
        assert leader.wait(timeout=180) == 1, leader.log()
    finally:
        stop_all(hosts)
    reason = leader.tree.failure_file.read_text()
    assert reason.startswith("PlatformError: Host algo-2 left the Dask cluster"), reason
    assert "unit 1 of 3" not in leader.log()
    assert leader.tree.model_files() == []


def test_a_host_that_freezes_inside_a_lightgbm_unit_is_dropped_after_the_worker_ttl_naming_it(
    network: list[str], tmp_path: Path
) -> None:
    hosts = start_long_sharded_job(network, tmp_path, "lightgbm", worker_ttl=5)
    leader, worker = hosts["algo-1"], hosts["algo-2"]
    try:
        worker.process.send_signal(signal.SIGSTOP)  # alive but silent: its LightGBM peers wait on it
        assert leader.wait(timeout=180) == 1, leader.log()
    finally:
        worker.process.send_signal(signal.SIGCONT)
        stop_all(hosts)
    reason = leader.tree.failure_file.read_text()
    assert reason.startswith("PlatformError: Host algo-2 left the Dask cluster during training"), reason
    assert leader.tree.model_files() == []


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_sigterm_to_every_host_stops_a_sharded_job_and_every_host_exits(
    network: list[str], tmp_path: Path, library: str
) -> None:
    hosts = start_long_sharded_job(network, tmp_path, library, checkpoints=True)
    leader, worker = hosts["algo-1"], hosts["algo-2"]
    try:  # the unit under way is trained on both hosts (LightGBM's cannot be cut short)
        for host in (worker, leader):  # StopTrainingJob signals every instance
            host.process.send_signal(signal.SIGTERM)
        assert leader.wait(timeout=120) == 1, leader.log()
        assert worker.wait(timeout=120) == 0, worker.log()
    finally:
        stop_all(hosts)
    reason = leader.tree.failure_file.read_text()
    assert reason.startswith("TrainingStopped: Training stopped by SIGTERM after 0 of 3 units"), reason
    assert leader.tree.model_files() == []


def test_a_sharded_job_under_time_limit_cuts_its_units_short_on_every_host_and_still_writes_a_model(
    network: list[str], tmp_path: Path
) -> None:
    needs_own_addresses(network)
    X, y = make_regression(n_rows=2000)
    endless = {**FAST_HYPERPARAMETERS, "num_round": "100000", "eta": "0.0001", "early_stopping_rounds": "0",
               "models": "xgboost,catboost", "time_limit": "30"}
    names = ["algo-1", "algo-2"]
    hosts = start_hosts(network, tmp_path, names, X, y, endless, shards=shard_rows(X, y, names))
    wait_all(hosts, timeout=240)
    log = hosts["algo-1"].log()
    units = re.findall(r"unit \d+ of 6: (\w+) fold \d: .*\(cut short by time_limit\) on (.+)$", log,
                       flags=re.M)
    assert ("xgboost", "all hosts") in units and ("catboost", "algo-2") in units, log
    assert "time_limit 30 s: the job took" in log
    assert hosts["algo-1"].tree.model_files()
    report = json.loads((hosts["algo-1"].tree.output_data / "cv_results.json").read_text())
    assert all(unit["best_iteration"] < 100000 for unit in report["units"]), report["units"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("lightgbm__min_data_in_lef",
         "UserError: lightgbm does not know the parameter(s) lightgbm__min_data_in_lef"),
        ("xgboost__max_bins", "UserError: xgboost does not know the parameter(s) xgboost__max_bins"),
    ],
    ids=["lightgbm", "xgboost"],
)
def test_a_misspelt_library_parameter_fails_a_sharded_job_before_any_unit_trains(
    network: list[str], tmp_path: Path, override: str, message: str
) -> None:
    needs_own_addresses(network)
    X, y = make_regression(n_rows=200)
    names = ["algo-1", "algo-2"]
    hosts = start_hosts(network, tmp_path, names, X, y, {**FAST_HYPERPARAMETERS, override: "3"},
                        shards=shard_rows(X, y, names))
    try:
        assert hosts["algo-1"].wait() == 1, hosts["algo-1"].log()
        reason = hosts["algo-1"].tree.failure_file.read_text()
        assert reason.startswith(message), hosts["algo-1"].log()
        assert hosts["algo-2"].wait() == 0, hosts["algo-2"].log()
    finally:
        stop_all(hosts)
    assert "unit 1 of" not in hosts["algo-1"].log()


@pytest.mark.parametrize(
    ("second_shard", "message"),
    [
        ([[1.0, 0.5, 0.5], [2.0, "abc", 0.1]],
         "UserError: Host algo-2: part-0.csv, line 2: column 'f0' holds 'abc', which is not a number."),
        ([[1.0, 0.5], [2.0, 0.1]],
         "UserError: The shards have different columns: host algo-1 has ['label', 'f0', 'f1'], "
         "host algo-2 has ['label', 'f0']."),
        ([[1.0, "red", 0.5], [2.0, "blue", 0.1], [3.0, "red", 0.2]],
         "UserError: Host algo-1: Feature 'f0' holds text in one part of the data and numbers in another. "
         "It holds text on host algo-2."),
    ],
    ids=["bad-cell", "other-columns", "text-here-numbers-there"],
)
def test_a_bad_shard_fails_the_job_naming_its_host(
    network: list[str], tmp_path: Path, second_shard: list[list[Any]], message: str
) -> None:
    first_shard = [[0.5 * i, 0.1 * i, 0.2 * i] for i in range(30)]  # a label, not a row id
    hosts = start_hosts(network, tmp_path, ["algo-1", "algo-2"], np.empty((0, 0)), np.empty(0),
                        FAST_HYPERPARAMETERS, shards={"algo-1": first_shard, "algo-2": second_shard})
    try:
        assert hosts["algo-1"].wait(timeout=120) == 1, hosts["algo-1"].log()
        assert hosts["algo-2"].wait(timeout=120) == 0, hosts["algo-2"].log()
    finally:
        stop_all(hosts)
    reason = hosts["algo-1"].tree.failure_file.read_text()
    assert reason.startswith(message), reason
    assert hosts["algo-1"].tree.model_files() == []


@pytest.mark.parametrize(
    ("channels", "hyperparameters", "message"),
    [
        ({"train": "ShardedByS3Key", "validation": "FullyReplicated"}, {},
         "UserError: Channels 'train' (ShardedByS3Key), 'validation' (FullyReplicated) "
         "mix S3DistributionType"),
        ({"train": "ShardedByS3Key"}, {"refit_full": "true"},
         "UserError: refit_full is not available with ShardedByS3Key channels"),
        ({"train": "ShardedByS3Key", "validation": "ShardedByS3Key"}, {"validation_mode": "holdout"},
         "UserError: Sharded multi-host jobs accept holdout only with a FullyReplicated validation channel"),
    ],
    ids=["mixed-distribution", "refit-full", "holdout-sharded-validation"],
)
def test_a_sharded_job_that_cannot_be_run_as_asked_fails_at_once_saying_why(
    tmp_path: Path, channels: dict[str, str], hyperparameters: dict[str, str], message: str
) -> None:
    X, y = make_regression()
    tree = make_tree(tmp_path / "algo-1" / "opt_ml", X, y, {**FAST_HYPERPARAMETERS, **hyperparameters})
    tree.write_config("resourceconfig.json", {"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]})
    tree.write_config("inputdataconfig.json", {name: {"TrainingInputMode": "File", "ContentType": "text/csv",
                                                      "S3DistributionType": kind}
                                               for name, kind in channels.items()})
    done = subprocess.run([sys.executable, str(TRAIN_SCRIPT), "train"], env=tree.env(
        ENSEMBLE_BYOC_TEST_HOST_ADDRESSES=json.dumps(ADDRESSES)), capture_output=True, text=True, timeout=120,
        check=False)
    assert done.returncode == 1, done.stderr
    reason = tree.failure_file.read_text()
    assert reason.startswith(message), reason
    assert tree.model_files() == []


@pytest.mark.soak
@pytest.mark.parametrize("run", range(10))
def test_soak_a_three_host_sharded_job_of_20000_rows_passes_run_after_run(
    network: list[str], tmp_path: Path, run: int
) -> None:
    """Not run by default (``-m soak``): a race in how the first host saw the cluster once failed this job
    1.5 s into its first LightGBM unit, naming every (live) host as gone, and passed in another run."""
    needs_own_addresses(network)
    X, y = make_regression(n_rows=20_000, seed=run)
    names = ["algo-1", "algo-2", "algo-3"]
    hosts = start_hosts(network, tmp_path, names, X, y, FAST_HYPERPARAMETERS, shards=shard_rows(X, y, names))
    wait_all(hosts, timeout=1200)
    log = hosts["algo-1"].log()
    assert "left the Dask cluster" not in log
    assert len(metric_lines(log, "validation-rmse")) == 3, log


def test_busy_hosts_whose_collective_units_outlast_the_worker_ttl_stay_in_the_cluster(
    network: list[str], tmp_path: Path
) -> None:
    """Three hosts on this machine's cores (two hosts share one), each LightGBM unit of 20,000 rows longer
    than the shortest worker TTL Dask allows (5 s, ten heartbeat intervals): the fit leaves the workers'
    heartbeats alone (the libraries release the GIL), so no host is taken for a silent one."""
    needs_own_addresses(network)
    X, y = make_regression(n_rows=20_000)
    slow = {**FAST_HYPERPARAMETERS, "k_fold": "2", "num_round": "1000", "eta": "0.02", "max_depth": "8",
            "early_stopping_rounds": "0", "models": "lightgbm"}
    names = ["algo-1", "algo-2", "algo-3"]
    hosts = start_hosts(network, tmp_path, names, X, y, slow, worker_ttl=5, shards=shard_rows(X, y, names))
    wait_all(hosts, timeout=600)
    log = hosts["algo-1"].log()
    assert "left the Dask cluster" not in log and "failed to heartbeat" not in log, log
    assert len(re.findall(r"unit \d+ of 2: lightgbm fold \d: .* on all hosts$", log, flags=re.M)) == 2, log
