"""The real `container/serve` under its limits: workers recycled after a number of requests answer exactly
as before, and requests built to cost far more than their size are refused with little memory."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Server, TrainedTree, csv_body, serving_with, worker_pids


def wait_for_workers(server: Server, count: int, deadline_s: float = 30) -> list[int]:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        pids = worker_pids(server)
        if len(pids) == count:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"not {count} workers within {deadline_s} s:\n{server.log()[-3000:]}")


def test_a_recycled_worker_serves_byte_identical_answers(trained_tree_for_serving: TrainedTree) -> None:
    tt = trained_tree_for_serving
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "ENSEMBLE_BYOC_MAX_REQUESTS": "3",
           "ENSEMBLE_BYOC_MAX_REQUESTS_JITTER": "0"}
    body = csv_body(tt.X[:40])
    with serving_with(tt.tree, env) as server:
        first = wait_for_workers(server, 1)
        before = server.post(body, accept="application/json")
        assert before.status == 200, before.body
        answers = [server.post(body, accept="application/json") for _ in range(2)]  # the third request
        deadline = time.monotonic() + 30
        while wait_for_workers(server, 1) == first and time.monotonic() < deadline:
            time.sleep(0.05)
        second = wait_for_workers(server, 1)
        assert second != first, server.log()[-3000:]
        answers += [server.post(body, accept="application/json") for _ in range(2)]
        assert [a.status for a in answers] == [200] * 4
        assert all(a.body == before.body for a in answers)
        assert "Autorestarting worker after current request" in server.log()


# -- memory per request ----------------------------------------------------------------------------------


def reset_peak_rss(pid: int) -> float:
    """Start a process's peak resident memory (VmHWM) afresh from its resident memory now; returns it."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return peak_rss_mib(pid)


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident memory since it started or since ``reset_peak_rss`` (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


@pytest.fixture(scope="module")
def one_worker(trained_tree_for_serving: TrainedTree) -> Iterator[Server]:
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "ENSEMBLE_BYOC_MAX_REQUESTS": "0"}
    with serving_with(trained_tree_for_serving.tree, env) as server:
        wait_for_workers(server, 1)
        yield server


def parquet_bomb(feature: str, others: list[str]) -> bytes:
    """5,000 rows of one 200 KB string (1 GB once decoded), dictionary-encoded: a few hundred bytes."""
    bomb = pa.DictionaryArray.from_arrays(pa.array(np.zeros(5000, dtype=np.int32)),
                                          pa.array(["x" * 200_000]))
    buffer = io.BytesIO()
    pq.write_table(pa.table({feature: bomb, **{name: np.zeros(5000) for name in others}}), buffer,
                   compression="zstd")
    return buffer.getvalue()


def test_the_parquet_dictionary_bomb_is_a_400_and_the_worker_stays_small(one_worker: Server) -> None:
    # Before: read in full (about 2.5 GiB at peak), then refused; the worker kept about 1.9 GB.
    body = parquet_bomb("f0", ["f1", "f2", "f3", "f4"])
    assert len(body) < 2000
    (worker,) = wait_for_workers(one_worker, 1)
    before = reset_peak_rss(worker)
    response = one_worker.post(body, content_type="application/x-parquet")
    assert response.status == 400, response.body
    assert "f0 (string)" in response.json()["message"]
    assert peak_rss_mib(worker) - before < 200
    assert wait_for_workers(one_worker, 1) == [worker]


@pytest.mark.parametrize(("body", "content_type"), [
    (b"0\n" * (3 << 20), "text/csv"),
    (b"[0]\n" * (3 << 19), "application/jsonlines"),
    (b"[" + b"[0]," * ((3 << 19) - 2) + b"[0]]", "application/json"),
    (b"0,0,0,0,0\n" * 629_000, "text/csv"),
], ids=["csv-narrow", "jsonl-narrow", "json-narrow", "csv-full-width"])
def test_a_6_mib_text_body_costs_the_worker_a_small_multiple_of_its_size(
    one_worker: Server, body: bytes, content_type: str
) -> None:
    # Before: +980 MiB for the CSV of 0-lines, +490 MiB for JSON Lines, +280 MiB for JSON.
    assert len(body) <= 6 << 20
    (worker,) = wait_for_workers(one_worker, 1)
    before = reset_peak_rss(worker)
    response = one_worker.post(body, content_type=content_type)
    assert response.status in (200, 400), response.body
    assert peak_rss_mib(worker) - before < 250


@pytest.mark.parametrize(("mib", "content_type", "status", "error"), [
    (16, "text/csv", 413, "PayloadTooLargeError"),  # refused on its Content-Length: over 6 MiB
    (6, "application/x-unknown", 415, "UnsupportedMediaTypeError"),
], ids=["over-the-limit", "unsupported-type"])
def test_a_client_that_sends_a_refused_body_in_full_reads_its_answer(
    one_worker: Server, mib: int, content_type: str, status: int, error: str
) -> None:
    # Before: answered and closed with the body still arriving; the client, still sending more than the
    # sockets' buffers hold, got a broken pipe and never saw the answer.
    response = one_worker.post(b"1,2,3,4,5\n" * ((mib << 20) // 10), content_type=content_type)
    assert response.status == status
    assert response.json()["error"] == error
    assert one_worker.get("/ping").status == 200


@pytest.mark.parametrize(("declared", "status"), [(1 << 20, b"415"), (100 << 20, b"413")],
                         ids=["drained", "over-the-drain-limit"])
def test_a_client_that_stalls_after_its_headers_gets_its_refusal_at_once(
    one_worker: Server, declared: int, status: bytes
) -> None:
    # Before: the rest of the body was awaited before the answer, so a stalled client got nothing until
    # gunicorn's timeout killed the worker. Now the answer comes first, and the wait for the rest is bounded.
    host, port = one_worker.url.removeprefix("http://").split(":")
    head = (f"POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-unknown\r\n"
            f"Content-Length: {declared}\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head + b"1,2,3\n")
        answer = sock.recv(65536)  # the client sends nothing more
    assert answer.startswith(b"HTTP/1.1 " + status + b" "), answer[:200]
    assert one_worker.get("/ping").status == 200
