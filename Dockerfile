# One image for SageMaker training and serving:
#   docker run IMAGE train   (the default when no argument is given)
#   docker run IMAGE serve   (gunicorn on 0.0.0.0:${SAGEMAKER_BIND_TO_PORT:-8080})
# Any Debian-based image with python3 and its venv module works as the base: the Python path is not
# hard-coded, everything is installed into a virtual environment at /opt/venv.
#
# Two stages: the builder makes /opt/venv with pip, only from requirements/*.lock (every file pinned by
# SHA-256: pip install --require-hashes, wheels only) and slims it (no plotly, no test suites, sources or
# headers, stripped shared libraries); the final image gets that venv without pip or setuptools, and the
# base image's own pip and bundled wheels are removed. SageMaker runs containers as
# root, so the image stays root; what it needs to write is /tmp and the /opt/ml folders SageMaker mounts
# (scripts/image-test.sh runs train and serve on a read-only root file system).
#
# CPU image (default): XGBoost comes from the xgboost-cpu wheel (the full wheel adds ~700 MB of CUDA).
# GPU image: a CUDA base with python3 (3.11, the locks' Python) and python3-venv, and the full wheel:
#   docker build --build-arg BASE_IMAGE=<cuda runtime image> --build-arg XGBOOST_PACKAGE=xgboost .
# (XGBOOST_PACKAGE=xgboost installs requirements/image-gpu.lock), then train with xgboost__device=cuda
# and catboost__task_type=GPU (LightGBM stays on the CPU). The locks come from scripts/lock-image.sh.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder

ARG XGBOOST_PACKAGE=xgboost-cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# binutils: strip, for the venv's shared libraries below (the builder's only; the final image has none);
# libgomp1 (as in the final stage) for the import check after stripping.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils libgomp1 \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
COPY requirements/image.lock requirements/image-gpu.lock /build/requirements/
RUN case "$XGBOOST_PACKAGE" in \
        xgboost-cpu) lock=/build/requirements/image.lock ;; \
        xgboost) lock=/build/requirements/image-gpu.lock ;; \
        *) echo "XGBOOST_PACKAGE must be xgboost-cpu or xgboost, not $XGBOOST_PACKAGE" >&2; exit 1 ;; \
    esac \
    && /opt/venv/bin/python -m pip install --require-hashes --only-binary :all: -r "$lock"
COPY pyproject.toml README.md /build/project/
COPY src /build/project/src
# The project itself: built by the locked setuptools, no index, no dependency resolution (the lock has
# them all). Then plotly goes (64 MB): CatBoost requires it but imports it only inside its plotting
# methods (notebook widgets, plot_* and the plot= of fit), which the product never calls; and the venv
# loses its installers.
RUN /opt/venv/bin/python -m pip install --no-deps --no-index --no-build-isolation /build/project \
    && /opt/venv/bin/python -m pip uninstall --yes plotly \
    && /opt/venv/bin/python -m pip uninstall --yes setuptools pip \
    && rm -f /opt/venv/bin/pip*
# What no code path of the image runs goes here, in the builder, so that no layer of the final image holds
# it: the wheels' test suites, C, C++ and Cython sources and headers, static libraries, type stubs, and the
# symbol tables of the shared libraries (strip --strip-unneeded; not the auditwheel-vendored ones in
# *.libs/, which patchelf rewrote and which strip would leave unloadable). The .pyc files pip compiled
# stay: a read-only root cannot write them, and without them importing the server takes 1.9 s, not 0.7 s.
# The imports at the end load the stripped libraries the product uses.
RUN site="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && find "$site" -type d \( -name tests -o -name test \) -prune -exec rm -rf {} + \
    && rm -rf "$site/pyarrow/include" \
    && find "$site" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.c' -o -name '*.cc' \
        -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' -o -name '*.a' -o -name '*.pyi' \) -delete \
    && find "$site" -path "$site/*.libs" -prune -o -type f \( -name '*.so' -o -name '*.so.*' \) \
        -exec strip --strip-unneeded {} + \
    && /opt/venv/bin/python -c 'import ensemble_byoc.serving.app, ensemble_byoc.training.cli, catboost, \
        xgboost, lightgbm, sklearn.metrics, scipy.stats, pandas, pyarrow.parquet, pyarrow.compute, \
        matplotlib.pyplot, dask, distributed'

FROM ${BASE_IMAGE}

LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true \
      com.amazonaws.sagemaker.capabilities.multi-models=true

# libgomp1: the OpenMP runtime LightGBM links against (not in slim or minbase images). Unpinned on
# purpose: the base image chooses the Debian release, and its libgomp1 is the one that matches it.
# apt-get clean: a base without Docker's apt settings (debootstrap's) keeps 77 MB of apt caches otherwise.
# Then the base image's pip, setuptools and wheel go, with the wheels ensurepip would reinstall them from;
# /var/tmp becomes /tmp, and nothing else stays world-writable.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && { python3 -m pip uninstall --yes pip setuptools wheel > /dev/null 2>&1 || true; } \
    && rm -rf /usr/local/bin/pip* /usr/share/python-wheels \
        "$(python3 -c 'import ensurepip, os; print(os.path.dirname(ensurepip.__file__))' 2>/dev/null)/_bundled" \
    && mkdir -p /opt/ml \
    && rm -rf /var/tmp && ln -s /tmp /var/tmp \
    && find / \( -path /proc -o -path /sys -o -path /dev \) -prune \
        -o \( -type f -o -type d \) -perm -0002 ! -path /tmp -exec chmod o-w {} +

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/opt/program:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib

COPY --from=builder /opt/venv /opt/venv
COPY container/train container/serve /opt/program/
WORKDIR /opt/program

# Serving and training write nothing outside /tmp and /opt/ml (serverless endpoints have a read-only
# file system).
CMD ["train"]
