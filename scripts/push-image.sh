#!/usr/bin/env bash
# Build the image and push it to ECR: `ensemble-byoc push-image` (creates the repository if missing, logs
# in, pushes, prints the image URI to pass to the launcher as --image).
# Usage: scripts/push-image.sh [--region R] [--repository NAME] [--tag TAG] [--tool docker|podman|buildah]
#                              [--build-arg XGBOOST_PACKAGE=xgboost] [--dry-run]
# Needs the launcher's extra: pip install '.[launcher]' (make setup installs it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
cd "$root"
exec "$python" -c 'import sys; from ensemble_byoc.launcher.command_line import main; sys.exit(main())' \
    push-image --context "$root" "$@"
