"""Fixtures: moto in server mode on 127.0.0.1, as a recorder of the AWS requests the launcher sends.

moto runs no containers and fakes statuses and metrics: the tests use it for the requests only.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ensemble-byoc:latest"


@dataclass
class MotoServer:
    url: str
    process: subprocess.Popen[bytes]

    def _post(self, path: str, data: bytes = b"") -> bytes:
        request = urllib.request.Request(self.url + path, data=data, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())

    def answer_invocations(self, *bodies: str, content_type: str = "application/json") -> None:
        """Queue moto's answers to the next InvokeEndpoint requests, one each in order (moto's own
        ``/moto-api/static/sagemaker/endpoint-results``); without them moto answers ``body``. moto gives
        a request with the same body and headers the same answer again, whatever the endpoint, so each
        test that queues an answer sends rows of its own."""
        results = [{"Body": body, "ContentType": content_type} for body in bodies]
        self._post("/moto-api/static/sagemaker/endpoint-results",
                   json.dumps({"region": REGION, "results": results}).encode())

    def start_recording(self) -> None:
        self._post("/moto-api/recorder/reset-recording")
        self._post("/moto-api/recorder/start-recording")

    def _recording(self) -> list[tuple[dict[str, Any], dict[str, str], bytes | str]]:
        """``[(entry, lower-case headers, body), ...]`` for every request received since recording started."""
        with urllib.request.urlopen(
            self.url + "/moto-api/recorder/download-recording", timeout=30
        ) as response:
            lines = response.read().decode().splitlines()
        recorded = []
        for line in lines:
            entry = json.loads(line)
            body = base64.b64decode(entry["body"]) if entry["body_encoded"] else entry["body"]
            recorded.append((entry, {k.lower(): v for k, v in entry["headers"].items()}, body))
        return recorded

    def requests(self) -> list[tuple[str, dict[str, Any]]]:
        """``[(operation, request), ...]`` for every SageMaker request received since recording started."""
        return [
            (headers["x-amz-target"].removeprefix("SageMaker."), json.loads(body))
            for _, headers, body in self._recording()
            if headers.get("x-amz-target", "").startswith("SageMaker.")
        ]

    def runtime_requests(self) -> list[dict[str, Any]]:
        """Every SageMaker runtime InvokeEndpoint received: its path, body and SageMaker headers."""
        return [
            {
                "path": urllib.parse.urlsplit(entry["url"]).path,
                "body": body if isinstance(body, str) else body.decode(),
                "headers": {name: value for name, value in headers.items()
                            if name.startswith("x-amzn-sagemaker") or name in ("content-type", "accept")},
            }
            for entry, headers, body in self._recording()
            if urllib.parse.urlsplit(entry["url"]).path.endswith("/invocations")
        ]


@pytest.fixture(scope="session", name="moto_server")
def moto_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    workdir = tmp_path_factory.mktemp("moto")
    with moto_server(workdir, MOTO_RECORDER_FILEPATH=str(workdir / "recording.jsonl")) as server:
        yield server


@contextlib.contextmanager
def moto_server(workdir: Path, **env: str) -> Iterator[MotoServer]:
    """moto in server mode on a free port of 127.0.0.1 (with ``env`` added to its environment), once it
    answers; stopped on exit."""
    port = free_port()
    with (workdir / "moto.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            cwd=workdir,
            env=dict(os.environ, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = MotoServer(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                msg = f"moto server exited:\n{(workdir / 'moto.log').read_text()}"
                raise AssertionError(msg)
            with contextlib.suppress(OSError):
                urllib.request.urlopen(server.url + "/moto-api/", timeout=5).close()
                break
            if time.monotonic() > deadline:
                msg = "moto server did not answer within 60 s"
                raise AssertionError(msg)
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(name="aws")
def aws_fixture(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoServer:
    """Point SageMaker API calls at moto with fake credentials, and start a fresh recording."""
    without_aws_configuration(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", moto_server.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", moto_server.url)
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    # One attempt per call: moto answers 500 for an operation it lacks (UpdateEndpoint), which botocore
    # would retry with back-off for about 25 s before the command reports it.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    moto_server.start_recording()
    return moto_server


def without_aws_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS_* variable and no AWS configuration or credentials file: a machine where nothing is set."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
