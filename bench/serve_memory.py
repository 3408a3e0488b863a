"""Memory one request costs the real server: the worst body of each format at the payload limit.

Trains a small model (200 rows x 5 numeric features, fast settings) with the checkout's own
``container/train``, starts its ``container/serve`` with one worker and worker recycling off, then sends
each body once and reads the worker's peak resident memory (``VmHWM``, reset through
``/proc/<pid>/clear_refs`` before each request) and its resident memory afterwards (``VmRSS``):

- CSV of ``0`` lines (the narrowest rows: one value each) and CSV of full-width zero rows;
- JSON rows, JSON records and JSON Lines of zero rows;
- a float64 ``.npy`` matrix;
- the Parquet dictionary bomb: 5,000 rows of one 200 KB string (1 GB decoded) in a few hundred bytes;
- gzip: full-width CSV rows that inflate to the limit, and a gzip bomb that inflates far past it.

``--root`` points at another checkout (its ``src`` goes first on ``PYTHONPATH`` and its ``container/``
scripts run), so the same bodies can be sent to older code. The section ``<!-- serve_memory:start -->``
... ``<!-- serve_memory:end -->`` of ``--results`` (default ``bench/RESULTS.md``) is rewritten.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import io
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_file  # noqa: E402 (bench/ is the script's own folder on sys.path)
from serve_latency import cpu_model, cpu_pressure, free_port, versions  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SECTION = "serve_memory"
START_MARKER, END_MARKER = f"<!-- {SECTION}:start -->", f"<!-- {SECTION}:end -->"
FEATURES = [f"f{i}" for i in range(5)]
HYPERPARAMETERS = {"k_fold": "3", "num_round": "60", "eta": "0.3", "max_depth": "3",
                   "early_stopping_rounds": "10"}


# -- bodies -----------------------------------------------------------------------------------------------


def bodies(limit: int) -> list[tuple[str, bytes, str, dict[str, str]]]:
    """(name, body, Content-Type, extra headers) for the worst body of each format at ``limit`` bytes."""
    row = ",".join(["0"] * len(FEATURES))
    csv_rows = (row + "\n").encode() * (limit // (len(row) + 1))
    json_rows = _json_list(("[" + row + "]").encode(), limit)
    record = json.dumps(dict.fromkeys(FEATURES, 0), separators=(",", ":")).encode()
    npy = io.BytesIO()
    np.save(npy, np.zeros(((limit - 128) // (8 * len(FEATURES)), len(FEATURES))))
    return [
        ("CSV, `0` lines", b"0\n" * (limit // 2), "text/csv", {}),
        ("CSV, full-width zero rows", csv_rows, "text/csv", {}),
        ("JSON rows", json_rows, "application/json", {}),
        ("JSON records", _json_list(record, limit), "application/json", {}),
        ("JSON Lines rows", ("[" + row + "]\n").encode() * (limit // (len(row) + 3)),
         "application/jsonlines", {}),
        ("npy float64 matrix", npy.getvalue(), "application/x-npy", {}),
        ("Parquet dictionary bomb", parquet_bomb(), "application/x-parquet", {}),
        ("gzip of full-width CSV", gzip.compress(csv_rows), "text/csv", {"Content-Encoding": "gzip"}),
        ("gzip bomb (64x the limit)", gzip.compress(b"0,0,0,0,0\n" * (limit * 64 // 10)), "text/csv",
         {"Content-Encoding": "gzip"}),
    ]


def _json_list(item: bytes, limit: int) -> bytes:
    return b"[" + b",".join([item] * ((limit - 2) // (len(item) + 1))) + b"]"


def parquet_bomb(rows: int = 5000, length: int = 200_000) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    bomb = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["x" * length]))
    columns = {FEATURES[0]: bomb, **{name: np.zeros(rows) for name in FEATURES[1:]}}
    buffer = io.BytesIO()
    # Without the Arrow schema the column reads back as plain strings (as from any other Parquet writer):
    # the reported case, about 1 GB once decoded.
    pq.write_table(pa.table(columns), buffer, compression="zstd", store_schema=False)
    return buffer.getvalue()


# -- server -----------------------------------------------------------------------------------------------


def train(root: Path, base: Path, env: dict[str, str]) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, len(FEATURES))).round(4)
    y = (3 * X[:, 0] - 2 * X[:, 1] * X[:, 2] + rng.normal(scale=0.3, size=200)).round(4)
    for sub in ("input/config", "input/data/train", "model", "output"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    np.savetxt(base / "input/data/train/data.csv", np.column_stack([y, X]), delimiter=",", fmt="%.10g")
    config = base / "input" / "config"
    (config / "hyperparameters.json").write_text(json.dumps(HYPERPARAMETERS))
    (config / "inputdataconfig.json").write_text(json.dumps({"train": {"ContentType": "text/csv"}}))
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    subprocess.run([sys.executable, str(root / "container" / "train"), "train"], env=env, check=True,
                   capture_output=True, timeout=600)


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} for process {pid}")


def worker_of(master: int) -> int:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == master and fields[0] != "Z":
            return int(stat.parent.name)
    raise SystemExit("the server has no worker")


def post(url: str, body: bytes, content_type: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url + "/invocations", data=body, method="POST",
                                     headers={"Content-Type": content_type, **headers})
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            answer.read()
            return answer.status, ""
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"{}").get("message", "")[:80]


def measure(root: Path, work: Path, payload_mb: int) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "SAGEMAKER_BASE_DIR": str(work / "opt_ml"),
           "SAGEMAKER_MODEL_SERVER_WORKERS": "1", "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(payload_mb),
           "SAGEMAKER_MODEL_SERVER_TIMEOUT": "300", "ENSEMBLE_BYOC_MAX_REQUESTS": "0", "LOG_LEVEL": "WARNING"}
    train(root, work / "opt_ml", env)
    port = free_port()
    env["SAGEMAKER_BIND_TO_PORT"] = str(port)
    url = f"http://127.0.0.1:{port}"
    with (work / "serve.log").open("wb") as log:
        server = subprocess.Popen([sys.executable, str(root / "container" / "serve"), "serve"], env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(url, server)
        rows = []
        for name, body, content_type, headers in bodies(payload_mb << 20):
            worker = worker_of(server.pid)
            Path(f"/proc/{worker}/clear_refs").write_text("5")  # VmHWM starts afresh from VmRSS
            before = status_kib(worker, "VmHWM")
            started = time.perf_counter()
            status, message = post(url, body, content_type, headers)
            seconds = time.perf_counter() - started
            alive = worker_of(server.pid) == worker
            rows.append({"body": name, "bytes": len(body), "status": status, "message": message,
                         "seconds": seconds, "rss_before_mib": before / 1024,
                         "peak_delta_mib": (status_kib(worker, "VmHWM") - before) / 1024 if alive else None,
                         "rss_after_mib": status_kib(worker, "VmRSS") / 1024 if alive else None})
        return rows
    finally:
        server.terminate()
        server.wait(timeout=60)


def _wait_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url + "/ping", timeout=5) as answer:
                if answer.status == 200:
                    time.sleep(1)  # the worker has forked and settled
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not answer /ping within 120 s")


# -- report -----------------------------------------------------------------------------------------------


def git_state(root: Path) -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + (" (with uncommitted changes under src/)" if dirty else "")


def section(rows: list[dict[str, Any]], facts: list[str], payload_mb: int) -> str:
    def mib(value: float | None) -> str:
        return "worker died" if value is None else f"{value:.0f}"

    table = [f"| {r['body']} | {r['bytes']:,} | {r['status']} | {mib(r['peak_delta_mib'])} | "
             f"{mib(r['rss_after_mib'])} | {r['seconds']:.2f} | {r['message']} |" for r in rows]
    return "\n".join([
        START_MARKER,
        "## Serving memory: the worst body of each format at the payload limit",
        "",
        *(f"- {fact}" for fact in facts),
        "",
        f"One gunicorn worker, recycling off, payload limit {payload_mb} MiB; model: 200 rows x 5 numeric "
        "features, trained by the checkout's `container/train`. Peak = the worker's VmHWM after the request "
        "minus its VmRSS just before (VmHWM reset through /proc/<pid>/clear_refs); RSS after = what the "
        "worker keeps. Seconds are one request's wall time, on a shared machine.",
        "",
        "| body | bytes | status | peak RSS growth, MiB | worker RSS after, MiB | seconds | message |",
        "|---|---:|---:|---:|---:|---:|---|",
        *table,
        END_MARKER,
    ]) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO, help="checkout whose src/ and container/ to run")
    parser.add_argument("--payload-mb", type=int, default=6,
                        help="SAGEMAKER_MAX_PAYLOAD_IN_MB; the bodies fill it")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md",
                        help="file whose section is rewritten")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    started_at, load_start = dt.datetime.now(dt.timezone.utc), os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="serve_memory_"))
    try:
        rows = measure(root, work, args.payload_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = " ".join([os.path.relpath(sys.executable, REPO), "bench/serve_memory.py",
                        *(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))])
    facts = [
        f"Command: `{command}` (from the repository root)",
        f"Date: {started_at:%Y-%m-%d %H:%M} UTC; load average (1 min) {load_start:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end; CPU pressure at end {cpu_pressure()}",
        f"nproc {os.cpu_count()}; CPU: {cpu_model()}; Python {platform.python_version()}",
        f"Libraries: {versions()}",
        f"Code served: {root} at commit {git_state(root)}",
    ]
    text = section(rows, facts, args.payload_mb)
    results_file.replace_section(args.results, text, SECTION)
    print(text.replace(START_MARKER + "\n", "").replace(END_MARKER + "\n", ""), end="")


if __name__ == "__main__":
    main()
