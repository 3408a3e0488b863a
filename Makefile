# The two commands of the README:  make demo  (set up, train, serve, predict)  and  make test.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test setup bench clean image-test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# The SageMaker Python SDK 3.x ModelTrainer (sagemaker-train), for the documented example that uses it: a
# venv that sees .venv's packages and adds sagemaker-train without its mlflow dependency (which pins
# gunicorn<27 against the server's gunicorn 27, and which launching a training job does not use).
SDK3 := .venv-sdk3
SDK3_STAMP := $(SDK3)/.installed
$(SDK3_STAMP): $(STAMP)
	$(VENV)/bin/python -m venv $(SDK3)
	echo "import site; site.addsitedir('$$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')')" \
		> "$$($(SDK3)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/ensemble_byoc_venv.pth"
	$(SDK3)/bin/python -m pip install --quiet --no-deps sagemaker-train==1.27.0 sagemaker-mlflow==0.5.0
	$(SDK3)/bin/python -m pip install --quiet graphene==3.4.3 graphql-core==3.2.14 graphql-relay==3.2.0 \
		tblib==3.2.2 paramiko==5.1.0 bcrypt==5.0.0 PyNaCl==1.6.2 invoke==3.0.3 nest_asyncio==1.6.0
	touch $(SDK3_STAMP)

demo: $(STAMP)
	local_test/run_local.sh $(VENV)/bin/python

# The multi-host tests run their hosts in a network namespace (iproute2's `ip netns`, as root). The suite
# runs in PYTEST_WORKERS processes, a test file to one process (its module fixtures trained once): most
# tests wait on servers, subprocesses and timeouts, so two processes on two cores take half the time.
PYTEST_WORKERS ?= 2
test: $(STAMP) $(SDK3_STAMP)
	@command -v ip >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null) || true
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/python -m mypy src/ensemble_byoc
	$(VENV)/bin/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --durations=15

# The real Dockerfile built with buildah from a debootstrap base (no Docker, no registry), then train and
# serve run inside the image; as root; installs its own tools; cleans up after itself.
image-test:
	scripts/image-test.sh

bench: $(STAMP)
	$(VENV)/bin/python bench/train_accuracy.py

clean:
	rm -rf $(VENV) $(SDK3) build *.egg-info src/*.egg-info .pytest_cache
