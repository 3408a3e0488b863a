#!/usr/bin/env bash
# Train with the real image, as SageMaker would (docker run IMAGE train), on a copy of local_test/test_dir
# in local_test/runs/<time>/ (ignored by git: files written there by the container may belong to root).
# Usage: local_test/train_local.sh IMAGE        (local_test/runs/latest points to the run)
set -euo pipefail
image="${1:?usage: $0 IMAGE}"
here="$(cd "$(dirname "$0")" && pwd)"
run="$here/runs/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$here/runs"
cp -r "$here/test_dir" "$run"
ln -sfn "$run" "$here/runs/latest"
docker run --rm -v "$run:/opt/ml" "$image" train
echo "== model in $run/model (local_test/runs/latest)"
