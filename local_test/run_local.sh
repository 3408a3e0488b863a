#!/usr/bin/env bash
# The whole SageMaker flow as plain processes, without Docker: train on the diabetes tree in
# local_test/test_dir, serve the model with gunicorn, send local_test/payload.csv, print the answer.
# Usage: local_test/run_local.sh [python]   (default: .venv/bin/python of the repository)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
python="${1:-$root/.venv/bin/python}"

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid"
        wait "$server_pid" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

cp -r "$here/test_dir" "$work/opt_ml"
export SAGEMAKER_BASE_DIR="$work/opt_ml"

echo "== train: container/train (SAGEMAKER_BASE_DIR=$SAGEMAKER_BASE_DIR)"
"$python" "$root/container/train" train 2> "$work/train.log" | tee "$work/metrics.log"
grep -E "unit [0-9]+ of|Cross-validated|Reporting" "$work/train.log" | sed 's/^[0-9-]* [0-9:,]* //'

port="$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "== serve: container/serve on port $port"
SAGEMAKER_BIND_TO_PORT="$port" "$python" "$root/container/serve" serve > "$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
    if curl -fs "http://127.0.0.1:$port/ping" > /dev/null; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/serve.log"; exit 1; fi
    sleep 0.1
done

echo "== predict: POST /invocations with local_test/payload.csv (text/csv)"
curl -fsS -H "Content-Type: text/csv" --data-binary "@$here/payload.csv" "http://127.0.0.1:$port/invocations"

echo "== predictions above; CV RMSE of the ensemble (last validation-rmse line): $(grep '^validation-rmse:' "$work/metrics.log" | tail -1 | cut -d: -f2 | tr -d ';')"
kill -TERM "$server_pid"
wait "$server_pid" && echo "== server stopped cleanly (SIGTERM, exit 0)"
server_pid=""
