# One image for SageMaker training and serving:
#   docker run IMAGE train   (the default when no argument is given)
#   docker run IMAGE serve   (gunicorn on 0.0.0.0:${SAGEMAKER_BIND_TO_PORT:-8080})
# Any Debian-based image with python3 and its venv module works as the base: the Python path is not
# hard-coded, everything is installed into a virtual environment at /opt/venv.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true

# libgomp1: the OpenMP runtime LightGBM links against (not in slim or minbase images).
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
RUN python3 -m pip install . && rm -rf /opt/program/src /opt/program/build
COPY container/train container/serve /opt/program/

# Serving writes nothing outside /tmp (serverless endpoints have a read-only file system).
CMD ["train"]
