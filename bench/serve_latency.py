"""Serving cost of the real server, next to the in-process floor of the three libraries' own predict calls.

Trains the diabetes model (``local_test/test_dir`` data, product default hyperparameters) with
``container/train``, then, in one run:

- the in-process floor: one row through the served ensemble's library calls plus blending, with the fold
  models merged (what the server runs) and unmerged (k calls per library), and each library's call alone;
- cold start of ``container/serve`` (process start to the first ``/ping`` 200), with the model loaded once
  before the workers fork (``preload_app``, the product) and once per worker, with memory after load;
- single-row ``/invocations`` latency over HTTP (p50, p99) with ``wrk``, one connection;
- throughput at 1, 8 and 32 connections (2 workers), and rows per second for a 10,000-row CSV body;
- peak RSS per process and in total, and failed requests under 60 s of load.

It rewrites only its own section of ``bench/RESULTS.md`` (``<!-- serve_latency:start -->`` to
``<!-- serve_latency:end -->``). Needs ``wrk`` (Debian: ``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import results_file  # noqa: E402 (bench/ is the script's own folder on sys.path)

REPO = Path(__file__).resolve().parents[1]
SECTION = "serve_latency"
START_MARKER = f"<!-- {SECTION}:start -->"
END_MARKER = f"<!-- {SECTION}:end -->"
RESULTS = REPO / "bench" / "RESULTS.md"
WORKERS = 2
ROW = "59.0,2.0,32.1,101.0,157.0,93.2,38.0,4.0,4.8598,87.0"  # local_test/payload.csv, first line
BIG_ROWS = 10_000


# -- model ------------------------------------------------------------------------------------------------


def train(base: Path, hyperparameters: dict[str, str]) -> float:
    """``container/train`` on the diabetes tree (product defaults plus ``hyperparameters``); its wall time."""
    shutil.copytree(REPO / "local_test" / "test_dir", base)
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    started = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "container" / "train"), "train"], check=True,
                   env={**os.environ, "SAGEMAKER_BASE_DIR": str(base)}, capture_output=True)
    return time.perf_counter() - started


def three_library_model(base: Path) -> float:
    """The model the latency target names: 5 folds of CatBoost, XGBoost and LightGBM, mean blend.

    The product's learned blend never serves a blend worse than its best single library, so on the
    diabetes data it serves fewer libraries; this model is built with the product's own adapters, folds
    and model directory (``save_bundle``), with the default hyperparameters (eta 0.1, depth 6, up to 1000
    rounds, early stopping after 50 on the held-out fold, seed 0). Returns the fit time.
    """
    from ensemble_byoc.bundle.artifacts import save_bundle
    from ensemble_byoc.bundle.ensemble import Ensemble
    from ensemble_byoc.models import available_libraries, load_spec
    from ensemble_byoc.models.base import BoosterParams
    from ensemble_byoc.training.units import make_folds

    shutil.copytree(REPO / "local_test" / "test_dir", base)
    data = np.loadtxt(base / "input" / "data" / "train" / "diabetes.csv", delimiter=",")
    X, y = data[:, 1:], data[:, 0]
    names = tuple(f"f{i}" for i in range(X.shape[1]))
    params = BoosterParams(learning_rate=0.1, max_depth=6, num_round=1000, early_stopping_rounds=50, seed=0)
    started = time.perf_counter()
    members = {}
    for library in available_libraries():
        spec = load_spec(library)
        members[library] = [
            spec.create(params, {}, 2).fit(X[f.train_rows], y[f.train_rows], X_valid=X[f.valid_rows],
                                           y_valid=y[f.valid_rows], feature_names=names)
            for f in make_folds(len(y), 5, 0)
        ]
    weights = {library: 1 / len(members) for library in members}
    ensemble = Ensemble(feature_names=names, members=members, weights=weights)
    save_bundle(base / "model", ensemble, blend_method="mean", extra={})
    return time.perf_counter() - started


def median_us(call: Any, rounds: int = 5, repeat: int = 1000) -> float:
    """Median of ``rounds`` medians of ``repeat`` timed calls, in microseconds."""
    medians = []
    for _ in range(rounds):
        for _ in range(100):
            call()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times))
    return statistics.median(medians) * 1e6


def in_process_floor(model_dir: Path) -> dict[str, Any]:
    os.environ["OMP_NUM_THREADS"] = "1"
    from ensemble_byoc.serving.handlers import model_fn

    model_fn(model_dir, merge=False)  # imports the libraries, so that the timings below are loads only
    started = time.perf_counter()
    unmerged = model_fn(model_dir, merge=False)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    merged = model_fn(model_dir)
    merged_load_s = time.perf_counter() - started
    X = np.array([[float(v) for v in ROW.split(",")]])
    result: dict[str, Any] = {
        "libraries": {lib: round(w, 4) for lib, w in merged.weights.items()},
        "folds": {lib: len(models) for lib, models in unmerged.members.items()},
        "calls_merged": sum(len(m) for m in merged.members.values()),
        "calls_unmerged": sum(len(m) for m in unmerged.members.values()),
        "load_s": load_s, "load_and_merge_s": merged_load_s,
        "merged_us": median_us(lambda: merged.predict(X)),
        "unmerged_us": median_us(lambda: unmerged.predict(X)),
        "per_library_merged_us": {lib: median_us(lambda m=models[0]: m.predict(X))
                                  for lib, models in merged.members.items()},
        "per_library_unmerged_us": {lib: median_us(lambda ms=models: [m.predict(X) for m in ms], rounds=3)
                                    for lib, models in unmerged.members.items()},
    }
    return result


# -- server -----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    cold_start_s: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def workers(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return sorted(pids)


def start_server(base: Path, work: Path, *, preload: bool = True, workers: int = WORKERS,
                 extra_env: dict[str, str] | None = None) -> Server:
    """``container/serve`` (or, for ``preload=False``, the same gunicorn command with the model loaded in
    each worker), timed from process start to the first /ping 200. ``extra_env`` replaces the default
    ``OMP_NUM_THREADS=1`` (one library thread per worker)."""
    port = free_port()
    log = work / f"serve-{port}.log"
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base), "SAGEMAKER_BIND_TO_PORT": str(port),
           "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
           **(extra_env if extra_env is not None else {"OMP_NUM_THREADS": "1"})}
    if preload:
        command = [sys.executable, str(REPO / "container" / "serve"), "serve"]
    else:
        (work / "bench_per_worker_conf.py").write_text(
            "from ensemble_byoc.serving.gunicorn_conf import *  # noqa: F403\npreload_app = False\n")
        env["PYTHONPATH"] = str(work)
        command = [sys.executable, "-m", "gunicorn", "--config", "python:bench_per_worker_conf",
                   "--no-control-socket", "ensemble_byoc.serving.wsgi:app"]
    with log.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as answer:
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.005)
    server = Server(process, port, log, time.perf_counter() - started)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        log.read_text().count("Model loaded from") < (1 if preload else workers)
        or len(server.workers()) < workers
    ):
        time.sleep(0.01)
    return server


def memory(server: Server) -> dict[str, Any]:
    """Per process (master, then workers): peak RSS (VmHWM), RSS and PSS (shared pages split), in MiB."""
    def fields(pid: int) -> dict[str, float]:
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        pss = float(re.search(r"^Pss:\s+(\d+)", rollup, re.MULTILINE).group(1))  # type: ignore[union-attr]
        return {"peak_rss": float(status["VmHWM"].split()[0]) / 1024,
                "rss": float(status["VmRSS"].split()[0]) / 1024,
                "pss": pss / 1024}

    master = fields(server.process.pid)
    workers = [fields(pid) for pid in server.workers()]
    return {"master": master, "workers": workers,
            "total_peak_rss": master["peak_rss"] + sum(w["peak_rss"] for w in workers),
            "total_pss": master["pss"] + sum(w["pss"] for w in workers)}


# -- load generator ---------------------------------------------------------------------------------------


@dataclass
class Load:
    p50_ms: float
    p99_ms: float
    requests_per_s: float
    requests: int
    errors: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(url: str, script: Path, *, connections: int, seconds: int) -> Load:
    threads = max(1, min(connections, 2))
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", str(script), f"{url}/invocations"],
                         check=True, capture_output=True, text=True).stdout
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return Load(p50, p99, rps, requests, errors)


def lua_script(path: Path, body_file: Path, content_type: str = "text/csv") -> Path:
    path.write_text(
        'wrk.method = "POST"\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
        f'local f = assert(io.open("{body_file}", "rb"))\n'
        "wrk.body = f:read(\"*all\")\n"
        "f:close()\n"
    )
    return path


def big_body(base: Path, path: Path) -> Path:
    rows = np.loadtxt(base / "input" / "data" / "train" / "diabetes.csv", delimiter=",")[:, 1:]
    rng = np.random.default_rng(0)
    sample = (rows[rng.integers(0, len(rows), BIG_ROWS)]
              * rng.normal(1.0, 0.01, size=(BIG_ROWS, rows.shape[1])))
    path.write_text("".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in sample))
    return path


# -- report -----------------------------------------------------------------------------------------------


def versions() -> str:
    import catboost
    import flask
    import gunicorn
    import lightgbm
    import xgboost

    return ", ".join(f"{name} {module.__version__}" for name, module in (
        ("catboost", catboost), ("xgboost", xgboost), ("lightgbm", lightgbm), ("numpy", np), ("flask", flask),
        ("gunicorn", gunicorn)))


def machine_facts(started_at: dt.datetime, load_start: float, pressure: str) -> list[str]:
    """The lines every serving benchmark's section opens with: when, the load, the machine, the code."""
    return [
        f"Date: {started_at:%Y-%m-%d %H:%M} UTC; load average (1 min) {load_start:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end; {pressure}",
        f"nproc {os.cpu_count()}; CPU: {cpu_model()}; Python {platform.python_version()}",
        f"Libraries: {versions()}",
        f"Code: commit {git_state()}",
    ]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def git_state() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (with uncommitted changes under src/)" if dirty else "")


def cpu_pressure() -> str:
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "n/a"
    return dict(item.split("=", 1) for item in first.split()[1:]).get("avg60", "?") + "% (avg60)"


def verdict(value: float, target: float, unit: str) -> str:
    if value <= target:
        return f"met ({value:.2f} {unit} <= {target:g} {unit})"
    return f"**missed by {value - target:.2f} {unit}** ({value:.2f} {unit} > {target:g} {unit})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each latency/throughput run")
    parser.add_argument("--soak", type=int, default=60, help="length of the error-count run under load")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of cold starts and single-row runs")
    args = parse_with_common_options(parser, argv)
    started_at = dt.datetime.now(dt.timezone.utc)
    load_start = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="serve_latency_"))
    try:
        report = run(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["quiet_timeout"], report["quiet_pressure"] = args.quiet_timeout, args.quiet_pressure
    report["command"] = " ".join([os.path.relpath(sys.executable, REPO), "bench/serve_latency.py",
                                  *(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))])
    report["facts"] = machine_facts(started_at, load_start, f"CPU pressure at end {cpu_pressure()}")
    text = section(report)
    results_file.replace_section(args.results, text, SECTION)
    print(text.replace(START_MARKER + "\n", "").replace(END_MARKER + "\n", ""), end="")
    print(json.dumps({k: v for k, v in report.items() if k != "facts"}, indent=1, default=str),
          file=sys.stderr)


def parse_with_common_options(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """The serving benchmarks' shared options (results file, quiet thresholds), parsed; stops without wrk."""
    parser.add_argument("--results", type=Path, default=RESULTS, help="file whose section is rewritten")
    parser.add_argument("--quiet-pressure", type=float, default=20.0,
                        help="wait before each timed phase until CPU pressure (PSI some avg10, %%) "
                             "is below this")
    parser.add_argument("--quiet-timeout", type=float, default=300.0, help="longest wait per phase, s")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk).")
    return args


def cpu_waiting() -> float:
    """The share of the last 10 s in which some runnable task waited for a CPU (PSI ``some avg10``), in %."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return 0.0
    return float(dict(item.split("=", 1) for item in first.split()[1:]).get("avg10", 0.0))


def settle(args: argparse.Namespace, report: dict[str, Any], phase: str) -> None:
    """Before a timed phase, wait (up to ``--quiet-timeout`` s) for the shared machine's CPU pressure to drop
    under ``--quiet-pressure`` %; record what it was when the phase started."""
    deadline = time.monotonic() + args.quiet_timeout
    time.sleep(2)
    while cpu_waiting() > args.quiet_pressure and time.monotonic() < deadline:
        time.sleep(2)
    report.setdefault("pressure", []).append((phase, cpu_waiting(), round(os.getloadavg()[0], 2)))


def run(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    base = work / "opt_ml"
    report: dict[str, Any] = {"train_s": train(base, {})}
    settle(args, report, "in-process floor, default model")
    report["floor"] = in_process_floor(base / "model")
    single = lua_script(work / "single.lua", work / "single.csv")
    (work / "single.csv").write_text(ROW + "\n")

    # The shape the latency target names: 5 folds of all three libraries (a mean blend keeps all three).
    three = work / "opt_ml_three"
    report["three"] = {"train_s": three_library_model(three)}
    settle(args, report, "in-process floor, three-library model")
    report["three"]["floor"] = in_process_floor(three / "model")
    settle(args, report, "cold start, three-library model")
    server = start_server(three, work)
    try:
        runs = []
        for _ in range(args.rounds):
            settle(args, report, "one row over HTTP, three-library model")
            runs.append(wrk(server.url, single, connections=1, seconds=args.seconds))
        report["three"]["single"] = {"p50_ms": statistics.median(r.p50_ms for r in runs),
                                     "p99_ms": statistics.median(r.p99_ms for r in runs),
                                     "runs": [(r.p50_ms, r.p99_ms) for r in runs],
                                     "cold_start_s": server.cold_start_s}
    finally:
        server.stop()
    big = lua_script(work / "big.lua", big_body(base, work / "big.csv"))
    report["big_body_bytes"] = (work / "big.csv").stat().st_size

    for preload in (True, False):  # cold start and memory, model loaded once vs per worker
        key = "preload" if preload else "per_worker"
        starts, mems = [], []
        for _ in range(args.rounds):
            settle(args, report, f"cold start, {key}")
            server = start_server(base, work, preload=preload)
            starts.append(server.cold_start_s)
            wrk(server.url, single, connections=WORKERS, seconds=2)
            mems.append(memory(server))
            server.stop()
        report[key] = {"cold_start_s": statistics.median(starts), "cold_starts_s": starts,
                       "memory": min(mems, key=lambda m: m["total_pss"])}

    server = start_server(base, work)
    workers_before = server.workers()
    try:
        singles = []
        for _ in range(args.rounds):
            settle(args, report, "one row over HTTP, default model")
            singles.append(wrk(server.url, single, connections=1, seconds=args.seconds))
        settle(args, report, "throughput")
        report["single"] = {"p50_ms": statistics.median(s.p50_ms for s in singles),
                            "p99_ms": statistics.median(s.p99_ms for s in singles),
                            "runs": [(s.p50_ms, s.p99_ms) for s in singles]}
        report["throughput"] = {c: wrk(server.url, single, connections=c, seconds=args.seconds).__dict__
                                for c in (1, 8, 32)}
        big_runs = [wrk(server.url, big, connections=c, seconds=args.seconds) for c in (1, 2)]
        report["big"] = [{"connections": c, **run.__dict__, "rows_per_s": run.requests_per_s * BIG_ROWS}
                         for c, run in zip((1, 2), big_runs, strict=True)]
        soak = wrk(server.url, single, connections=8, seconds=args.soak)
        report["soak"] = {**soak.__dict__, "seconds": args.soak}
        report["memory_after_load"] = memory(server)
        report["workers_replaced"] = server.workers() != workers_before
        log = server.log.read_text()
        # A worker recycled after ENSEMBLE_BYOC_MAX_REQUESTS logs "Autorestarting" then "Worker exiting":
        # planned, and counted apart from a timeout or a crash.
        report["worker_recycled"] = log.count("Autorestarting worker")
        report["worker_timeouts"] = (log.count("WORKER TIMEOUT")
                                     + log.count("Worker exiting") - report["worker_recycled"])
    finally:
        report["exit_code"] = server.stop()
    return report


def section(r: dict[str, Any]) -> str:
    floor, single = r["floor"], r["single"]
    libraries = ", ".join(f"{lib} {w:g}" for lib, w in floor["libraries"].items())
    folds = ", ".join(f"{lib} {n}" for lib, n in floor["folds"].items())
    over_floor = single["p50_ms"] - floor["merged_us"] / 1000
    pre, per = r["preload"], r["per_worker"]
    three = r["three"]
    three_over = three["single"]["p50_ms"] - three["floor"]["merged_us"] / 1000

    def one_row(name: str, f: dict[str, Any], h: dict[str, Any]) -> str:
        runs = ", ".join(f"{a:.2f}" for a, _ in h["runs"])
        return (f"| {name} | {f['calls_merged']} / {f['calls_unmerged']} | {f['merged_us']:.0f} µs | "
                f"{f['unmerged_us']:.0f} µs | {h['p50_ms']:.2f} ms ({runs}) | {h['p99_ms']:.2f} ms | "
                f"{h['p50_ms'] - f['merged_us'] / 1000:.2f} ms |")
    peak_workers = " / ".join(f"{w['peak_rss']:.0f}" for w in r["memory_after_load"]["workers"])

    def mem_row(name: str, m: dict[str, Any], cold: float, starts: list[float]) -> str:
        workers = " / ".join(f"{w['rss']:.0f}" for w in m["memory"]["workers"])
        return (f"| {name} | {cold:.2f} ({', '.join(f'{s:.2f}' for s in starts)}) | "
                f"{m['memory']['master']['rss']:.0f} "
                f"| {workers} | {m['memory']['total_pss']:.0f} |")

    lines = [
        START_MARKER,
        "## Serving latency: the real server next to the libraries' own predict calls",
        "",
        f"- Command: `{r['command']}` (from the repository root; needs `wrk`)",
        *(f"- {fact}" for fact in r["facts"]),
        "- CPU pressure (PSI some avg10, %) / load average when each timed phase started "
        "(the script waits up to "
        f"{r['quiet_timeout']:.0f} s for pressure under {r['quiet_pressure']:g}% before each): "
        + "; ".join(f"{phase} {psi:.0f}% / {load:.1f}" for phase, psi, load in r["pressure"]),
        "",
        f"Model: diabetes (`local_test/test_dir`, 442 rows x 10 features), product default hyperparameters "
        f"(`{{}}`), trained by `container/train` in {r['train_s']:.0f} s; and the model the latency target "
        "names, 5 folds of each of the three libraries blended by their mean, built with the product's "
        "adapters and `save_bundle` (the learned blend never serves a blend worse than its best library, so "
        f"on diabetes the default serves fewer; fit in {r['three']['train_s']:.0f} s). Default model's "
        f"libraries and blend weights: {libraries}; fold models per library: {folds}. Library calls per "
        f"prediction: **{floor['calls_merged']} with the folds merged** (load time), "
        f"{floor['calls_unmerged']} unmerged. "
        f"Server: `container/serve`, {WORKERS} gunicorn sync workers, one library thread each; `wrk` runs "
        "on the same 2 cores, so every HTTP number includes the load generator's own CPU use. In-process "
        "numbers are medians of 5 x 1,000 calls; HTTP numbers are wrk's percentiles, medians over the "
        "repeated runs.",
        "",
        "### One row",
        "",
        "Both models are served with their folds merged (what `container/serve` does). "
        "The in-process floor is "
        "`Ensemble.predict` on the row: the library calls plus blending, no HTTP and no parsing.",
        "",
        "| model | library calls per row: merged / unmerged | in-process floor, merged | floor, unmerged "
        "| HTTP p50 (runs) | HTTP p99 | HTTP p50 minus merged floor |",
        "|---|---:|---:|---:|---:|---:|---:|",
        one_row("product default (" + libraries + ")", floor, single),
        one_row("**three libraries, 5 folds, mean blend** (the target's model)", three["floor"],
                three["single"]),
        "",
        "Targets, on the three-library model: "
        f"HTTP p50 < 1.5 ms: {verdict(three['single']['p50_ms'], 1.5, 'ms')}; "
        f"within 1 ms of the in-process floor: {verdict(three_over, 1.0, 'ms')}. "
        "On the product default model: "
        f"{verdict(single['p50_ms'], 1.5, 'ms')} and {verdict(over_floor, 1.0, 'ms')}.",
        "",
        "| library (three-library model) | one call, folds merged (µs) | k calls, unmerged (µs) |",
        "|---|---:|---:|",
        *(f"| {lib} | {us:.0f} | {three['floor']['per_library_unmerged_us'][lib]:.0f} |"
          for lib, us in three["floor"]["per_library_merged_us"].items()),
        "",
        "### Cold start and memory: model loaded once before the workers fork, or once per worker",
        "",
        f"Loading and verifying the model takes {floor['load_s']:.2f} s in process; with the fold merge, "
        f"{floor['load_and_merge_s']:.2f} s. "
        "Memory after a short load on both workers (MiB; PSS splits shared pages "
        "between the processes that share them).",
        "",
        "| mode | cold start, s: median (runs) | master RSS | worker RSS | total PSS |",
        "|---|---:|---:|---:|---:|",
        mem_row("load once, then fork (`preload_app`, the product)", pre, pre["cold_start_s"],
                pre["cold_starts_s"]),
        mem_row("load in each worker", per, per["cold_start_s"], per["cold_starts_s"]),
        "",
        f"Cold start target < 3 s on 2 cores: {verdict(pre['cold_start_s'], 3.0, 's')}. "
        "The three-library model's "
        f"server (one start) reached its first /ping 200 in {three['single']['cold_start_s']:.2f} s.",
        "",
        f"### Throughput ({WORKERS} workers)",
        "",
        "| body | connections | requests/s | rows/s | p50 | p99 | failed requests |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(f"| 1 row | {c} | {t['requests_per_s']:.0f} | {t['requests_per_s']:.0f} | {t['p50_ms']:.2f} ms | "
          f"{t['p99_ms']:.2f} ms | {t['errors']} |" for c, t in r["throughput"].items()),
        *(f"| {BIG_ROWS:,} rows ({r['big_body_bytes'] / 1024:.0f} KiB CSV) | {b['connections']} | "
          f"{b['requests_per_s']:.1f} | {b['rows_per_s']:,.0f} | {b['p50_ms']:.0f} ms | "
          f"{b['p99_ms']:.0f} ms | "
          f"{b['errors']} |" for b in r["big"]),
        "",
        f"Under load: {r['soak']['requests']:,} single-row requests at 8 connections "
        f"for {r['soak']['seconds']} s, "
        f"**{r['soak']['errors']} failed** (socket errors + non-2xx); workers replaced: "
        f"{'yes' if r['workers_replaced'] else 'no'} ({r.get('worker_recycled', 0)} recycled as planned "
        f"after ENSEMBLE_BYOC_MAX_REQUESTS requests); "
        f"worker timeouts or other exits in the log: {r['worker_timeouts']}; "
        f"exit code after SIGTERM: {r['exit_code']}.",
        "",
        "Peak RSS after all the load (VmHWM, MiB): master "
        f"{r['memory_after_load']['master']['peak_rss']:.0f}, workers "
        f"{peak_workers}, total "
        f"{r['memory_after_load']['total_peak_rss']:.0f} "
        f"(total PSS {r['memory_after_load']['total_pss']:.0f}).",
        END_MARKER,
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
