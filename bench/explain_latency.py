"""What explanations cost: /invocations latency with and without ``explain=shap``, for one row and 1,000.

Builds the diabetes model (``local_test/test_dir``, 442 rows x 10 features): by default the model the
latency target names (5 folds of each of CatBoost, XGBoost and LightGBM, mean blend, built as
``serve_latency.py`` builds it), or with ``--model default`` what ``container/train`` makes of it with the
product's default hyperparameters, or with ``--model fast`` a small quick one (for a smoke run). Starts the
real ``container/serve`` (2 workers) and sends, over one kept-alive connection, ``--repeat`` one-row and
``--repeat-big`` 1,000-row CSV bodies, each with and without ``X-Amzn-SageMaker-Custom-Attributes:
explain=shap``, answered as JSON; reports p50 and p99 and the answer's size.

It rewrites only its own section of ``bench/RESULTS.md`` (``<!-- explain_latency:start -->`` to
``<!-- explain_latency:end -->``), with the load average and CPU pressure at start and end. Run it alone on
a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_file  # noqa: E402 (bench/ is the script's own folder on sys.path)
from serve_latency import (  # noqa: E402
    ROW,
    cpu_pressure,
    machine_facts,
    start_server,
    three_library_model,
    train,
)

REPO = Path(__file__).resolve().parents[1]
SECTION = "explain_latency"
START_MARKER, END_MARKER = f"<!-- {SECTION}:start -->", f"<!-- {SECTION}:end -->"
RESULTS = REPO / "bench" / "RESULTS.md"
BIG_ROWS = 1_000
FAST = {"k_fold": "3", "num_round": "60", "eta": "0.3", "max_depth": "3", "early_stopping_rounds": "10"}
EXPLAIN = {"X-Amzn-SageMaker-Custom-Attributes": "explain=shap"}


def build_model(base: Path, kind: str) -> float:
    """The model directory under ``base``; returns its build time in seconds."""
    if kind == "three":
        return three_library_model(base)
    return train(base, {} if kind == "default" else FAST)


def thousand_rows(base: Path) -> bytes:
    """1,000 diabetes rows drawn with replacement (seed 0), each value jittered by 1%, as headerless CSV."""
    data = np.loadtxt(base / "input" / "data" / "train" / "diabetes.csv", delimiter=",")[:, 1:]
    rng = np.random.default_rng(0)
    rows = data[rng.integers(0, len(data), BIG_ROWS)] * rng.normal(1.0, 0.01, size=(BIG_ROWS, data.shape[1]))
    return "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in rows).encode()


def timed_requests(port: int, body: bytes, headers: dict[str, str], repeat: int) -> dict[str, Any]:
    """``repeat`` POSTs (after ``max(2, repeat // 10)`` unrecorded ones) on one connection: p50/p99 in ms."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    sent = {"Content-Type": "text/csv", "Accept": "application/json", **headers}
    times, size = [], 0
    try:
        for i in range(max(2, repeat // 10) + repeat):
            started = time.perf_counter()
            connection.request("POST", "/invocations", body, sent)
            answer = connection.getresponse()
            data = answer.read()
            elapsed = time.perf_counter() - started
            if answer.status != 200:
                raise SystemExit(f"/invocations answered {answer.status}: {data[:300]!r}")
            if i >= max(2, repeat // 10):
                times.append(elapsed * 1e3)
            size = len(data)
    finally:
        connection.close()
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)),
            "answer_bytes": size, "n": len(times)}


def measure(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    base = work / "opt_ml"
    report: dict[str, Any] = {"build_s": build_model(base, args.model), "cases": []}
    bodies = {1: (ROW + "\n").encode(), BIG_ROWS: thousand_rows(base)}
    server = start_server(base, work)
    try:
        for rows, body in bodies.items():
            repeat = args.repeat if rows == 1 else args.repeat_big
            for explained in (False, True):
                result = timed_requests(server.port, body, EXPLAIN if explained else {}, repeat)
                report["cases"].append({"rows": rows, "explain": explained, **result})
    finally:
        server.stop()
    return report


def section(report: dict[str, Any]) -> str:
    plain = {case["rows"]: case for case in report["cases"] if not case["explain"]}
    rows = [
        f"| {c['rows']:,} | {'explain=shap' if c['explain'] else 'none'} | {c['p50_ms']:.2f} | "
        f"{c['p99_ms']:.2f} | {c['p50_ms'] / plain[c['rows']]['p50_ms']:.1f}x | {c['answer_bytes']:,} | "
        f"{c['n']} |"
        for c in report["cases"]
    ]
    lines = [
        START_MARKER,
        "## Explanations: /invocations latency with and without `explain=shap`",
        "",
        f"- Command: `{report['command']}` (from the repository root)",
        *(f"- {fact}" for fact in report["facts"]),
        "",
        f"Model: diabetes (`local_test/test_dir`, 442 rows x 10 features), `--model {report['model']}`, "
        f"built in {report['build_s']:.0f} s; `container/serve` with 2 workers, one kept-alive connection, "
        "CSV bodies answered as JSON.",
        "",
        "| rows | attribute | p50 ms | p99 ms | p50 vs none | answer bytes | requests |",
        "|---|---|---|---|---|---|---|",
        *rows,
        END_MARKER,
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("three", "default", "fast"), default="three",
                        help="which diabetes model to serve (see above)")
    parser.add_argument("--repeat", type=int, default=500, help="timed one-row requests per case")
    parser.add_argument("--repeat-big", type=int, default=50, help="timed 1,000-row requests per case")
    parser.add_argument("--results", type=Path, default=RESULTS, help="file whose section is rewritten")
    args = parser.parse_args(argv)
    started_at = dt.datetime.now(dt.timezone.utc)
    load_start, pressure_start = os.getloadavg()[0], cpu_pressure()
    work = Path(tempfile.mkdtemp(prefix="explain_latency_"))
    try:
        report = measure(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["model"] = args.model
    report["command"] = " ".join([os.path.relpath(sys.executable, REPO), "bench/explain_latency.py",
                                  *(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))])
    report["facts"] = machine_facts(started_at, load_start,
                                    f"CPU pressure {pressure_start} at start, {cpu_pressure()} at end")
    text = section(report)
    results_file.replace_section(args.results, text, SECTION)
    print(text.replace(START_MARKER + "\n", "").replace(END_MARKER + "\n", ""), end="")
    print(json.dumps({k: v for k, v in report.items() if k != "facts"}, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
