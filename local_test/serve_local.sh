#!/usr/bin/env bash
# Serve the model of the latest train_local.sh run with the real image (docker run IMAGE serve), read-only
# as SageMaker runs it. The port is $PORT (default 8080).
# Usage: [PORT=8081] local_test/serve_local.sh IMAGE
set -euo pipefail
image="${1:?usage: $0 IMAGE}"
here="$(cd "$(dirname "$0")" && pwd)"
port="${PORT:-8080}"
run="$(readlink -f "$here/runs/latest" || true)"
[ -d "$run/model" ] || { echo "no trained model: run local_test/train_local.sh IMAGE first" >&2; exit 1; }
docker run --rm -p "$port:8080" -v "$run:/opt/ml" --read-only --tmpfs /tmp "$image" serve
