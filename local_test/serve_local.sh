#!/usr/bin/env bash
# Serve the model trained by train_local.sh with the real image on port 8080: docker run IMAGE serve
# Usage: local_test/serve_local.sh IMAGE
set -euo pipefail
image="${1:?usage: $0 IMAGE}"
here="$(cd "$(dirname "$0")" && pwd)"
docker run --rm -p 8080:8080 -v "$here/test_dir:/opt/ml" --read-only --tmpfs /tmp "$image" serve
