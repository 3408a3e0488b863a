#!/usr/bin/env bash
# Send rows (features only, no label) to a running server.
# Usage: [PORT=8081] local_test/predict.sh [payload-file] [content-type] [url]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
payload="${1:-$here/payload.csv}"
content_type="${2:-text/csv}"
url="${3:-http://localhost:${PORT:-8080}}"
curl -sS -H "Content-Type: $content_type" --data-binary "@$payload" "$url/invocations"
