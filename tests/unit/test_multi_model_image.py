"""The image tells SageMaker it can host multi-model endpoints (the server itself: test_multi_model.py)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_image_carries_the_multi_model_capability_label() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "com.amazonaws.sagemaker.capabilities.multi-models=true" in dockerfile
    assert "com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true" in dockerfile

