# One image for SageMaker training and serving:
#   docker run IMAGE train   (the default when no argument is given)
#   docker run IMAGE serve   (gunicorn on 0.0.0.0:${SAGEMAKER_BIND_TO_PORT:-8080})
# Any Debian-based image with python3 and its venv module works as the base: the Python path is not
# hard-coded, everything is installed into a virtual environment at /opt/venv.
#
# CPU image (default): XGBoost comes from the xgboost-cpu wheel (the full wheel adds ~700 MB of CUDA).
# GPU image: a CUDA base with python3 and python3-venv, and the full XGBoost wheel, e.g.
#   docker build --build-arg BASE_IMAGE=<cuda runtime image> --build-arg XGBOOST_PACKAGE=xgboost .
# then train with xgboost__device=cuda and catboost__task_type=GPU (LightGBM stays on the CPU).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG XGBOOST_PACKAGE=xgboost-cpu

LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true

# libgomp1: the OpenMP runtime LightGBM links against (not in slim or minbase images). Unpinned on
# purpose: the base image chooses the Debian release, and its libgomp1 is the one that matches it.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/opt/program:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib

RUN python3 -m venv /opt/venv

WORKDIR /opt/program
COPY pyproject.toml README.md ./
COPY src ./src
# The package pins xgboost-cpu; a GPU build swaps in the wheel named by XGBOOST_PACKAGE (same module).
RUN python3 -m pip install . \
    && if [ "$XGBOOST_PACKAGE" != "xgboost-cpu" ]; then \
        python3 -m pip uninstall -y xgboost-cpu \
        && python3 -m pip install "${XGBOOST_PACKAGE}>=3,<4"; \
    fi \
    && rm -rf /opt/program/src /opt/program/build
COPY container/train container/serve /opt/program/

# Serving writes nothing outside /tmp (serverless endpoints have a read-only file system).
CMD ["train"]
