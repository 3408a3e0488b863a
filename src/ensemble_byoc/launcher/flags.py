"""Request fields back to the command-line flags that set them, with what to write instead.

The service model names a refused field by its path in the request (``ResourceConfig.InstanceType``);
a user of ``ensemble-byoc`` typed ``--instance-type``. :func:`explain` turns a
:class:`~ensemble_byoc.launcher.service_rules.Violation` into one line that names the flag, the value
and the fix.
"""

from __future__ import annotations

import difflib
import re

from ensemble_byoc.launcher.service_rules import Violation

_S3_HINT = "an S3 URI such as s3://my-bucket/prefix/; upload local files first (aws s3 cp --recursive DIR s3://...)"
_NAME_HINT = "letters, digits and hyphens, starting and ending with a letter or digit"

# (path regex, flag, what to write). The first match wins; paths inside a tuning job's training
# definition are matched like a training job's.
_FIELDS: tuple[tuple[str, str, str], ...] = (
    (r"(TrainingJobName|TransformJobName)", "--job-name", f"1-63 {_NAME_HINT}"),
    (r"HyperParameterTuningJobName", "--job-name", f"1-32 {_NAME_HINT}"),
    (r"(EndpointName|EndpointConfigName|ModelName)", "--endpoint-name", f"1-63 {_NAME_HINT}"),
    (r"(RoleArn|ExecutionRoleArn)", "--role",
     "the ARN of an IAM role, e.g. arn:aws:iam::123456789012:role/SageMakerExecutionRole"),
    (r"(AlgorithmSpecification\.TrainingImage|PrimaryContainer\.Image)", "--image",
     "an image URI, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/ensemble-byoc:latest"),
    (r"InputDataConfig\[0\]\..*S3Uri", "--train", _S3_HINT),
    (r"InputDataConfig\[1\]\..*S3Uri", "--validation", _S3_HINT),
    (r"OutputDataConfig\.S3OutputPath", "--output", _S3_HINT),
    (r"CheckpointConfig\.S3Uri", "--checkpoint-s3", _S3_HINT),
    (r"PrimaryContainer\.ModelDataUrl", "--model-data", "the S3 URI of a training job's model.tar.gz"),
    (r"TransformInput\..*S3Uri", "--input", _S3_HINT),
    (r"TransformOutput\.S3OutputPath", "--output", _S3_HINT),
    (r"InputDataConfig\[\d+\]\.ContentType", "--content-type", "a media type such as text/csv"),
    (r"InstanceType", "--instance-type", "an ml.* instance type, e.g. ml.m5.xlarge"),
    (r"(InstanceCount|InitialInstanceCount)", "--instance-count", "a whole number of instances, 1 or more"),
    (r"VolumeSizeInGB", "--volume-size", "a size in GB"),
    (r"MaxRuntimeInSeconds", "--max-runtime", "seconds"),
    (r"MaxWaitTimeInSeconds", "--max-wait", "seconds, at least --max-runtime"),
    (r"MaxNumberOfTrainingJobs", "--max-jobs", "a number of training jobs"),
    (r"MaxParallelTrainingJobs", "--max-parallel-jobs", "a number of training jobs"),
    (r"ParameterRanges\.", "-r/--range", "NAME=MIN:MAX[:Auto|Linear|Logarithmic|ReverseLogarithmic]"),
    (r"MemorySizeInMB", "--memory-size", "MB"),
    (r"MaxConcurrency", "--max-concurrency", "a number of concurrent invocations"),
    (r"\.Strategy$", "--strategy", "Bayesian, Random, Hyperband or Grid"),
)


def flag_for(path: str) -> tuple[str, str] | None:
    """The flag that sets the request field at ``path``, and what it takes; None for a field no flag sets."""
    for pattern, flag, hint in _FIELDS:
        if re.search(pattern, path):
            return flag, hint
    return None


def explain(violation: Violation, operation: str = "") -> str:
    """One line naming the flag, the value, and what to write instead."""
    found = flag_for(violation.path)
    if operation == "CreateTransformJob" and violation.path == "ModelName":
        found = ("--model-name", f"1-63 {_NAME_HINT}")
    if found is None:
        return str(violation)
    flag, hint = found
    shown = violation.value if isinstance(violation.value, (int, float)) else repr(violation.value)
    if violation.allowed:
        return f"{flag} {shown} is not valid here; {_closest(str(violation.value), violation.allowed)}"
    return f"{flag} {shown} is not valid ({violation.rule}); write {hint}."


def _closest(value: str, allowed: tuple[str, ...]) -> str:
    if f"ml.{value}" in allowed:
        return f"did you mean ml.{value}?"
    candidates = difflib.get_close_matches(value, allowed, n=1, cutoff=0.6)
    if candidates:
        return f"did you mean {candidates[0]}?"
    shown = ", ".join(allowed[:8]) + (", ..." if len(allowed) > 8 else "")
    return f"write one of {shown}."
