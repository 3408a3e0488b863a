#!/usr/bin/env bash
# Train with the real image on local_test/test_dir, as SageMaker would: docker run IMAGE train
# Usage: local_test/train_local.sh IMAGE
set -euo pipefail
image="${1:?usage: $0 IMAGE}"
here="$(cd "$(dirname "$0")" && pwd)"
rm -rf "$here/test_dir/model/"* "$here/test_dir/output/"*
docker run --rm -v "$here/test_dir:/opt/ml" "$image" train
