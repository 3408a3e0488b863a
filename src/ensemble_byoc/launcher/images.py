"""From a laptop to ECR: build the image with whichever tool is here, create the repository, log in, push.

The ECR and STS requests go through boto3 (the same credentials as every other command); the image is
built and pushed by Docker, Podman or Buildah, whichever is found first. On Apple silicon the image is
built for ``linux/amd64``, the platform of SageMaker's CPU instances.
"""

from __future__ import annotations

import base64
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ensemble_byoc.errors import UserError
from ensemble_byoc.launcher.aws_errors import NO_REGION

TOOLS = ("docker", "podman", "buildah")
_STDERR = 2
"""The process's own standard error (a file descriptor), where the tools' output goes."""
SAGEMAKER_PLATFORM = "linux/amd64"


@dataclass(frozen=True)
class ImagePush:
    """What to build and where to push it."""

    repository: str = "ensemble-byoc"
    tag: str = "latest"
    context: Path = Path(".")
    tool: str | None = None
    """``docker``, ``podman`` or ``buildah``; None picks the first one on the PATH."""
    build_args: tuple[str, ...] = ()
    """``NAME=VALUE`` pairs, e.g. ``XGBOOST_PACKAGE=xgboost`` for the GPU build."""

    def chosen_tool(self, *, installed: bool = True) -> str:
        """The build tool; ``installed=False`` (a dry run) names one even where none is installed."""
        if self.tool is not None:
            if installed and shutil.which(self.tool) is None:
                msg = f"--tool {self.tool} is not on the PATH; install it or use one of {', '.join(TOOLS)}."
                raise UserError(msg)
            return self.tool
        for tool in TOOLS:
            if shutil.which(tool):
                return tool
        if not installed:
            return TOOLS[0]
        msg = f"None of {', '.join(TOOLS)} is installed; install one to build the image."
        raise UserError(msg)

    def commands(self, tool: str, registry: str) -> list[list[str]]:
        """Build, log in (the password comes on standard input, never in the arguments) and push."""
        uri = image_uri(registry, self.repository, self.tag)
        build = [tool, "bud" if tool == "buildah" else "build"]
        if platform.machine().lower() in ("arm64", "aarch64"):
            build += ["--platform", SAGEMAKER_PLATFORM]
        for value in self.build_args:
            build += ["--build-arg", value]
        build += ["-t", uri, str(self.context)]
        login = [tool, "login", "--username", "AWS", "--password-stdin", registry]
        return [build, login, [tool, "push", uri]]


def image_uri(registry: str, repository: str, tag: str) -> str:
    return f"{registry}/{repository}:{tag}"


def registry_of(account: str, region: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com"


def push_image(push: ImagePush, *, session: Any, dry_run: bool, account: str | None = None) -> dict[str, Any]:
    """Build and push the image; returns the image URI and what was done (or, on a dry run, would be).

    Raises:
        UserError: no container tool, no region, or a tool command that failed (its output is shown).
    """
    region = session.region_name
    if not region:
        raise UserError(NO_REGION)
    tool = push.chosen_tool(installed=not dry_run)
    if dry_run:
        registry = registry_of(account or "<account>", region)
        return {"image_uri": image_uri(registry, push.repository, push.tag), "created_repository": None,
                "commands": push.commands(tool, registry)}
    account = account or session.client("sts").get_caller_identity()["Account"]
    registry = registry_of(account, region)
    ecr = session.client("ecr")
    created = _ensure_repository(ecr, push.repository)
    token = ecr.get_authorization_token(registryIds=[account])["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode("utf-8").split(":", 1)[1]
    commands = push.commands(tool, registry)
    for command in commands:
        _run(command, password if "--password-stdin" in command else None)
    return {"image_uri": image_uri(registry, push.repository, push.tag), "created_repository": created,
            "commands": commands}


def _ensure_repository(ecr: Any, name: str) -> bool:
    """Create the repository unless it exists (scanned on push); True when it was created."""
    try:
        ecr.describe_repositories(repositoryNames=[name])
    except ecr.exceptions.RepositoryNotFoundException:
        ecr.create_repository(repositoryName=name, imageScanningConfiguration={"scanOnPush": True})
        return True
    return False


def _run(command: list[str], stdin: str | None) -> None:
    """Run one tool command, its output going to stderr as it comes (a build takes minutes; stdout keeps
    the command's JSON answer)."""
    result = subprocess.run(command, input=stdin, text=True, stdout=_STDERR, check=False)
    if result.returncode != 0:
        msg = f"`{' '.join(command[:2])}` failed (exit {result.returncode}); its output is above."
        raise UserError(msg)
