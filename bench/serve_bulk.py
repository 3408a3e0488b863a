"""Bulk serving (issue #14): large bodies over HTTP to one worker, beside the in-process floor.

Trains the diabetes model (``local_test/test_dir`` data, product default hyperparameters) with
``container/train``, then, in one run:

- the in-process floor: ``Ensemble.predict`` on the parsed 10,000-row matrix with the threads one worker
  gets (``ServeSettings.library_threads``: every usable core when there is one worker), and the handler
  chain's parts (decode, predict, encode) on the same body;
- ``container/serve`` with one worker: a 10,000-row CSV body and the same rows as Parquet, sent by ``wrk``
  over one connection (rows per second end to end, and the ratio to the floor);
- batch transform (``SAGEMAKER_BATCH=true``): one CSV mini-batch just under the default 6 MB payload
  limit, timed against the model server's 60 s timeout.

It rewrites only its own section of ``bench/RESULTS.md`` (``<!-- serve_bulk:start -->`` to
``<!-- serve_bulk:end -->``). Needs ``wrk`` (Debian: ``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import results_file  # noqa: E402 (bench/ is the script's own folder on sys.path)
from serve_latency import (
    REPO,
    cpu_pressure,
    lua_script,
    machine_facts,
    parse_with_common_options,
    settle,
    start_server,
    train,
    wrk,
)

SECTION = "serve_bulk"
ROWS = 10_000
BATCH_BYTES = 6 * 1024 * 1024 - 4096  # one mini-batch just under SageMaker's default MaxPayloadInMB (6)
CSV, PARQUET = "text/csv", "application/x-parquet"
TARGET_ROWS_PER_S, TARGET_SHARE_OF_FLOOR, SERVER_TIMEOUT_S = 200_000, 0.5, 60


def sample_rows(base: Path, n_rows: int) -> np.ndarray:
    """``n_rows`` rows drawn from the diabetes features with 1% noise, rounded to 4 decimals (seeded)."""
    rows = np.loadtxt(base / "input" / "data" / "train" / "diabetes.csv", delimiter=",")[:, 1:]
    rng = np.random.default_rng(0)
    sample = rows[rng.integers(0, len(rows), n_rows)] * rng.normal(1.0, 0.01, size=(n_rows, rows.shape[1]))
    return np.round(sample, 4)


def csv_bytes(rows: np.ndarray) -> bytes:
    return "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in rows).encode()


def parquet_bytes(rows: np.ndarray) -> bytes:
    sink = pa.BufferOutputStream()
    table = pa.table({f"f{i}": rows[:, i] for i in range(rows.shape[1])})
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def median_ms(call: Any, repeat: int) -> float:
    call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def in_process(model_dir: Path, body: bytes, parquet: bytes, threads: int, repeat: int) -> dict[str, Any]:
    """The floor (``Ensemble.predict`` on the parsed matrix) and the handler chain's parts."""
    from ensemble_byoc.serving.handlers import decode_options, input_fn, model_fn, output_fn, predict_fn

    model = model_fn(model_dir, n_threads=threads)
    options = decode_options(model)
    batch = input_fn(body, CSV, options)
    X = batch.values
    prediction = predict_fn(batch, model)
    return {
        "threads": threads,
        "libraries": {lib: round(w, 4) for lib, w in model.weights.items()},
        "floor_ms": median_ms(lambda: model.predict(X), repeat),
        "per_library_ms": {lib: median_ms(lambda m=models[0]: m.predict(X), repeat)
                           for lib, models in model.members.items()},
        "decode_csv_ms": median_ms(lambda: input_fn(body, CSV, options), repeat),
        "decode_parquet_ms": median_ms(lambda: input_fn(parquet, PARQUET, options), repeat),
        "predict_ms": median_ms(lambda: predict_fn(batch, model), repeat),
        "encode_ms": median_ms(lambda: output_fn(prediction, CSV), repeat),
    }


def one_request_s(url: str, body: bytes, content_type: str) -> float:
    request = urllib.request.Request(url + "/invocations", data=body, method="POST",
                                     headers={"Content-Type": content_type, "Accept": CSV})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=SERVER_TIMEOUT_S * 2) as answer:
        answer.read()
        if answer.status != 200:
            raise SystemExit(f"the batch request answered {answer.status}")
    return time.perf_counter() - started


def over_http(base: Path, work: Path, args: argparse.Namespace, report: dict[str, Any]) -> None:
    """One worker, every usable core for its libraries: CSV and Parquet bodies with wrk, one connection."""
    server = start_server(base, work, workers=1, extra_env={})
    try:
        for name, path, content_type in (("csv", work / "big.csv", CSV), ("parquet", work / "big.parquet",
                                                                          PARQUET)):
            script = lua_script(work / f"{name}.lua", path, content_type)
            settle(args, report, f"{ROWS:,}-row {name} body over HTTP, one worker")
            load = wrk(server.url, script, connections=1, seconds=args.seconds)
            report[name] = {**load.__dict__, "rows_per_s": load.requests_per_s * ROWS}
    finally:
        server.stop()


def batch_transform(base: Path, work: Path, args: argparse.Namespace, report: dict[str, Any]) -> None:
    """One mini-batch just under 6 MB, in batch-transform mode (one worker, like the HTTP phase)."""
    rows = sample_rows(base, 90_000)
    body = csv_bytes(rows)
    body = body[:body.rindex(b"\n", 0, BATCH_BYTES) + 1]
    server = start_server(base, work, workers=1, extra_env={"SAGEMAKER_BATCH": "true"})
    try:
        times = []
        for _ in range(args.rounds):
            settle(args, report, "6 MB batch transform mini-batch, one worker")
            times.append(one_request_s(server.url, body, CSV))
    finally:
        server.stop()
    n_rows = body.count(b"\n")
    report["batch"] = {"bytes": len(body), "rows": n_rows, "seconds": times,
                       "rows_per_s": n_rows / statistics.median(times)}


def run(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from ensemble_byoc.serving.settings import ServeSettings

    base = work / "opt_ml"
    report: dict[str, Any] = {"train_s": train(base, {})}
    rows = sample_rows(base, ROWS)
    (work / "big.csv").write_bytes(body := csv_bytes(rows))
    (work / "big.parquet").write_bytes(parquet := parquet_bytes(rows))
    report["bytes"] = {"csv": len(body), "parquet": len(parquet)}
    threads = ServeSettings.from_env({"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}).library_threads
    settle(args, report, "in-process floor and handler chain")
    report["in_process"] = in_process(base / "model", body, parquet, threads, args.repeat)
    over_http(base, work, args, report)
    batch_transform(base, work, args, report)
    return report


def section(r: dict[str, Any]) -> str:
    p = r["in_process"]
    floor_rows_per_s = ROWS / (p["floor_ms"] / 1000)
    libraries = ", ".join(f"{lib} {w:g}" for lib, w in p["libraries"].items())
    per_library = ", ".join(f"{lib} {ms:.1f} ms" for lib, ms in p["per_library_ms"].items())
    start, end = results_file.markers(SECTION)
    lines = [
        start,
        "## Serving in bulk: large bodies over HTTP to one worker, next to the in-process floor",
        "",
        f"- Command: `{r['command']}` (from the repository root; needs `wrk`)",
        *(f"- {fact}" for fact in r["facts"]),
        "- CPU pressure (PSI some avg10, %) / load average when each timed phase started (the script waits "
        "for pressure under the threshold first): "
        + "; ".join(f"{phase} {psi:g}% / {load}" for phase, psi, load in r["pressure"]),
        "",
        f"Model: diabetes (`local_test/test_dir`), product default hyperparameters, trained by "
        f"`container/train` in {r['train_s']:.0f} s; served: {libraries} (folds merged). Server: "
        f"`container/serve` with one gunicorn worker, whose libraries predict on {p['threads']} thread(s) "
        "(every usable core: `ServeSettings.library_threads`). Bodies: "
        f"{ROWS:,} rows x 10 features, CSV {r['bytes']['csv'] / 1024:.0f} KiB and Parquet "
        f"{r['bytes']['parquet'] / 1024:.0f} KiB; answers as CSV. `wrk` runs on the same cores, one "
        "connection. In-process numbers are medians of repeated calls on the same thread count.",
        "",
        "| path | ms per 10,000 rows | rows/s | share of the floor |",
        "|---|---:|---:|---:|",
        f"| in-process floor: `Ensemble.predict` on the parsed matrix ({per_library}) | {p['floor_ms']:.1f} "
        f"| {floor_rows_per_s:,.0f} | 1.00 |",
        f"| in process: decode CSV | {p['decode_csv_ms']:.1f} | | |",
        f"| in process: decode Parquet | {p['decode_parquet_ms']:.1f} | | |",
        f"| in process: predict_fn (blend, checks) | {p['predict_ms']:.1f} | | |",
        f"| in process: encode CSV answer | {p['encode_ms']:.1f} | | |",
    ]
    verdicts = []
    for name in ("csv", "parquet"):
        h = r[name]
        share = h["rows_per_s"] / floor_rows_per_s
        lines.append(f"| HTTP, {name} body (p50 {h['p50_ms']:.1f} ms, p99 {h['p99_ms']:.1f} ms, "
                     f"{h['errors']} failed) | {1000 / h['requests_per_s']:.1f} | {h['rows_per_s']:,.0f} "
                     f"| {share:.2f} |")
        verdicts.append(f"{name}: {h['rows_per_s']:,.0f} rows/s against >= {TARGET_ROWS_PER_S:,} "
                        f"({'met' if h['rows_per_s'] >= TARGET_ROWS_PER_S else '**missed**'}), "
                        f"{share:.2f} of the floor against >= {TARGET_SHARE_OF_FLOOR} "
                        f"({'met' if share >= TARGET_SHARE_OF_FLOOR else '**missed**'})")
    b = r["batch"]
    worst = max(b["seconds"])
    lines += [
        "",
        "Targets: " + "; ".join(verdicts) + ".",
        "",
        f"Batch transform (`SAGEMAKER_BATCH=true`, one worker): one CSV mini-batch of {b['bytes']:,} bytes "
        f"({b['rows']:,} rows, just under the default 6 MB `MaxPayloadInMB`) took "
        + ", ".join(f"{s:.2f}" for s in b["seconds"])
        + f" s ({b['rows_per_s']:,.0f} rows/s at the median); the slowest is {worst / SERVER_TIMEOUT_S:.1%} "
        f"of the model server's default {SERVER_TIMEOUT_S} s timeout.",
        end,
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of the batch-transform request")
    parser.add_argument("--repeat", type=int, default=20, help="repeats of each in-process timing")
    args = parse_with_common_options(parser, argv)
    started_at = dt.datetime.now(dt.timezone.utc)
    load_start = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="serve_bulk_"))
    try:
        report = run(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["command"] = " ".join([os.path.relpath(sys.executable, REPO), "bench/serve_bulk.py",
                                  *(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))])
    report["facts"] = machine_facts(started_at, load_start, f"CPU pressure at end {cpu_pressure()}")
    text = section(report)
    results_file.replace_section(args.results, text, SECTION)
    print(text, end="")


if __name__ == "__main__":
    main()
