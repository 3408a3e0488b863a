"""Launch the image on SageMaker: training, tuning, real-time, serverless and multi-model endpoints, batch
transform.

Installed with the ``launcher`` extra (``pip install 'ensemble-byoc[launcher]'``), over the SageMaker
Python SDK 3.x (``sagemaker-core``). The container never imports this package.

    from ensemble_byoc.launcher import Channels, Compute, Launcher
    launcher = Launcher(image_uri=..., role_arn=...)
    launcher.train(Channels("s3://bucket/train/"), "s3://bucket/output/", {"k_fold": 5})
"""

from __future__ import annotations

from ensemble_byoc.launcher.api_calls import ApiCall, Submission
from ensemble_byoc.launcher.explanations import explanation_table
from ensemble_byoc.launcher.hosting import BatchTransform, MultiModel, RealTime, Serverless
from ensemble_byoc.launcher.launcher import Launcher
from ensemble_byoc.launcher.predictions import predict
from ensemble_byoc.launcher.security import Security
from ensemble_byoc.launcher.training_jobs import Channels, Compute
from ensemble_byoc.launcher.tuning import TuningSettings, default_ranges

__all__ = [
    "ApiCall",
    "BatchTransform",
    "Channels",
    "Compute",
    "Launcher",
    "MultiModel",
    "RealTime",
    "Security",
    "Serverless",
    "Submission",
    "TuningSettings",
    "default_ranges",
    "explanation_table",
    "predict",
]
