"""The real `container/serve` under its limits: workers recycled after a number of requests answer exactly
as before, and requests built to cost far more than their size are refused with little memory."""

from __future__ import annotations

import time

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
