"""Serving settings checked before an endpoint exists, with the container's own rules.

On SageMaker a setting the server refuses shows up only as an endpoint whose health check never passes;
here it is one line before anything is created. The settings are parsed by the server's own parser, and
``SAGEMAKER_INFERENCE_OUTPUT`` is checked against the model's manifest, read from the head of its
``model.tar.gz`` in S3 (the archive is streamed and closed as soon as the manifest is found).
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Mapping
from typing import Any

from ensemble_byoc.bundle.artifacts import MANIFEST_NAME
from ensemble_byoc.errors import EnsembleError, UserError
from ensemble_byoc.serving.classification import check_outputs
from ensemble_byoc.serving.settings import ServeSettings

MAX_MANIFEST_BYTES = 16 * 1024 * 1024


def check_serving_environment(
    environment: Mapping[str, str], model_data: str | None, *, session: Any, dry_run: bool
) -> None:
    """Refuse serving settings the container would refuse at start.

    Raises:
        UserError: a malformed or out-of-range setting, or outputs the model does not answer with
            (checked against the manifest of ``model_data`` unless ``dry_run``, which reads nothing from
            S3, or ``model_data`` is None: a multi-model prefix, whose models each have their own).
    """
    try:
        settings = ServeSettings.from_env(environment)
    except EnsembleError as exc:
        msg = f"--env: {exc}"
        raise UserError(msg) from None
    if not settings.inference_output or dry_run or model_data is None:
        return
    problem_type = (model_manifest(model_data, session).get("task") or {}).get("problem_type", "regression")
    try:
        check_outputs(settings.inference_output, str(problem_type))
    except EnsembleError as exc:
        msg = f"--env: {exc} (from the manifest in {model_data})"
        raise UserError(msg) from None


def model_manifest(model_data: str, session: Any) -> dict[str, Any]:
    """``manifest.json`` of a ``model.tar.gz`` in S3, read by streaming the archive up to it."""
    bucket, _, key = model_data.removeprefix("s3://").partition("/")
    if not model_data.startswith("s3://") or not bucket or not key:
        msg = f"--model-data {model_data!r} is not an S3 URI of a model.tar.gz (s3://bucket/key)."
        raise UserError(msg)
    body = session.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    try:
        with tarfile.open(fileobj=body, mode="r|gz") as archive:
            for member in archive:
                if member.isfile() and member.name.lstrip("./") == MANIFEST_NAME:
                    if member.size > MAX_MANIFEST_BYTES:
                        break
                    handle = archive.extractfile(member)
                    manifest = json.loads(handle.read()) if handle else None
                    if not isinstance(manifest, dict):
                        break
                    return manifest
    except (tarfile.TarError, OSError, ValueError) as exc:
        msg = f"{model_data} is not a model.tar.gz this image can read ({exc})."
        raise UserError(msg) from None
    finally:
        body.close()
    msg = f"{model_data} holds no readable {MANIFEST_NAME}: it is not a model trained by this image."
    raise UserError(msg)

