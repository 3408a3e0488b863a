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

demo: $(STAMP)
	local_test/run_local.sh $(VENV)/bin/python

# The multi-host tests run their hosts in a network namespace (iproute2's `ip netns`, as root).
test: $(STAMP)
	@command -v ip >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null) || true
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/python -m pytest -q

# The real Dockerfile built with buildah from a debootstrap base (no Docker, no registry), then train and
# serve run inside the image; as root; installs its own tools; cleans up after itself.
image-test:
	scripts/image-test.sh

bench: $(STAMP)
	$(VENV)/bin/python bench/train_accuracy.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
