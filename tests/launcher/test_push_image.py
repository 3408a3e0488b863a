"""``ensemble-byoc push-image``: the ECR repository (created once), the login and the push.

STS and ECR are moto's (the request recorder). The container tool is a stand-in on the PATH that
records its arguments and standard input: no registry can run here, and the real build is what
scripts/image-test.sh checks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest
from moto_recorder import REGION, MotoServer, aws_fixture, moto_server_fixture  # noqa: F401 (fixtures)

from ensemble_byoc.launcher.command_line import main

RECORDING_TOOL = """#!/bin/sh
printf '%s\\n' "$*" >> "$TOOL_LOG"
if [ "$1" = login ]; then cat > "$TOOL_LOG.password"; fi
"""


@pytest.fixture(name="tool_log")
def tool_log_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws: MotoServer) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "podman"
    tool.write_text(RECORDING_TOOL)
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("TOOL_LOG", str(tmp_path / "tool.log"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", aws.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", aws.url)
    return tmp_path / "tool.log"


def test_push_image_creates_the_repository_once_logs_in_with_the_token_on_stdin_and_pushes(
    tool_log: Path, aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["push-image", "--tool", "podman", "--region", REGION, "--repository", "churn-model",
            "--build-arg", "XGBOOST_PACKAGE=xgboost"]

    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)

    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-model:latest"
    assert first["image_uri"] == second["image_uri"] == uri
    assert (first["created_repository"], second["created_repository"]) == (True, False)
    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=aws.url)
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == ["churn-model"]
    lines = tool_log.read_text().splitlines()[:3]
    assert lines == [f"build --build-arg XGBOOST_PACKAGE=xgboost -t {uri} .",
                     "login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com",
                     f"push {uri}"]
    password = Path(f"{tool_log}.password").read_text().strip()  # the password came on stdin ...
    assert len(password) > 8
    assert password not in json.dumps(first) + json.dumps(second) + tool_log.read_text()  # ... and only there


def test_push_image_dry_run_prints_the_commands_and_sends_nothing(
    tool_log: Path, aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["push-image", "--dry-run", "--tool", "podman", "--region", "eu-west-1",
                   "--account", "210987654321"])

    assert status == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["image_uri"] == "210987654321.dkr.ecr.eu-west-1.amazonaws.com/ensemble-byoc:latest"
    assert plan["commands"][2] == ["podman", "push", plan["image_uri"]]
    assert not tool_log.exists()


def test_push_image_without_the_tool_says_which_tools_work(
    aws: MotoServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    status = main(["push-image", "--tool", "podman", "--region", REGION])

    assert status == 2
    assert "--tool podman is not on the PATH; install it or use one of docker, podman, buildah" in \
        capsys.readouterr().err


def test_the_push_script_runs_the_command_from_any_folder(tmp_path: Path, tool_log: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHON=sys.executable)
    result = subprocess.run([str(root / "scripts" / "push-image.sh"), "--dry-run", "--region", "eu-west-1",
                             "--account", "210987654321", "--tool", "podman"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr
    build = json.loads(result.stdout)["commands"][0]
    assert build[:2] == ["podman", "build"]
    assert build[-1] == str(root)
