#!/usr/bin/env bash
# The README's first-run path as a new user meets it, on this machine: a fresh clone, an
# empty HOME and caches, no ../shared next to the clone, and a local HTTP server on
# 127.0.0.1 standing in for the download hosts (TRACKER_MODELS_BASE_URL).
#
#   scripts/clean-room-check.sh [VIDEO]      # default: $TRACKER_ASSETS/videos/people-detection.mp4
#
# 1. `tracker-service track VIDEO` with the built-in defaults downloads the re-ID weights
#    (checksum-verified), exports them once to ONNX and tracks the video end to end.
#    The default detector, yolo11n.pt, is not on this machine (nothing here can download
#    it), so the mirror serves the shared YOLOv8n OpenVINO export instead and
#    TRACKER_DETECTOR names it: the same download path (manifest entry, mirror, checksums).
# 2. A second run reuses the cached models (no download, no export).
# 3. Offline (the mirror's port closed), a fresh models dir fails at once with one line.
#
# Python packages come from uv's cache (UV_CACHE_DIR is kept: reinstalling PyTorch from
# PyPI only costs time); everything the product itself downloads or caches starts empty.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
ASSETS="${TRACKER_ASSETS:-$REPO/../shared/assets}"
VIDEO="${1:-$ASSETS/videos/people-detection.mp4}"
UV="$(command -v uv || echo "$HOME/.local/bin/uv")"
UV_CACHE="$("$UV" cache dir)"
WORK="$(mktemp -d /tmp/clean-room.XXXXXX)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
trap 'kill "$SERVER" 2>/dev/null || true' EXIT

echo "== work dir $WORK"
git clone -q "$REPO" "$WORK/repo"
git -C "$WORK/repo" checkout -q "$(git -C "$REPO" rev-parse HEAD)"
mkdir -p "$WORK/home" "$WORK/mirror"
cp "$VIDEO" "$WORK/my-video.mp4"
cp "$ASSETS/models/osnet_x0_25_msmt17.pth" "$WORK/mirror/"
cp -r "$ASSETS/models/yolov8n_int8_openvino_model" "$WORK/mirror/"
python3 -m http.server --bind 127.0.0.1 "$PORT" --directory "$WORK/mirror" \
    >"$WORK/mirror.log" 2>&1 &
SERVER=$!

# The network settings of this machine (certificates, package index) are the user's own and
# stay; nothing of ours (TRACKER_*), no HOME, no caches.
KEEP=()
for name in SSL_CERT_FILE SSL_CERT_DIR UV_INDEX_URL UV_DEFAULT_INDEX PIP_INDEX_URL HTTPS_PROXY; do
    [[ -n "${!name:-}" ]] && KEEP+=("$name=${!name}")
done
clean() {
    env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$WORK/home" LANG=C.UTF-8 \
        UV_CACHE_DIR="$UV_CACHE" "${KEEP[@]}" "$@"
}
test ! -e "$WORK/shared" && echo "no ../shared next to the clone"

cd "$WORK/repo"
start=$(date +%s.%N)
clean "$UV" sync --locked -q
echo "== uv sync: $(echo "$(date +%s.%N) - $start" | bc) s"

run_track() {
    clean TRACKER_MODELS_BASE_URL="http://127.0.0.1:$1" TRACKER_DETECTOR=yolov8n_int8_openvino \
        .venv/bin/tracker-service track ../my-video.mp4 --out "runs/$2" 2>&1 | cat
}
for round in first second; do
    start=$(date +%s.%N)
    run_track "$PORT" "$round" | tee "$WORK/$round.log"
    echo "== $round run: $(echo "$(date +%s.%N) - $start" | bc) s, $(wc -l <"$WORK/$round.log") lines"
done
echo "== files written under HOME (caches, settings):"
find "$WORK/home" -type f | sed "s|$WORK/home|HOME|" | head -20
echo "== models dir:"; ls -la models
echo "== requests the mirror served:"; grep -c '"GET' "$WORK/mirror.log" || true

kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
git clean -qfdX models  # the downloaded weights (ignored files), not the manifest
start=$(date +%s.%N)
set +e
clean TRACKER_MODELS_BASE_URL="http://127.0.0.1:$PORT" .venv/bin/tracker-service \
    track ../my-video.mp4 --out runs/offline >"$WORK/offline.out" 2>"$WORK/offline.err"
code=$?
set -e
echo "== offline: exit $code after $(echo "$(date +%s.%N) - $start" | bc) s;" \
    "$(wc -l <"$WORK/offline.err") stderr line(s), $(wc -l <"$WORK/offline.out") stdout line(s):"
cat "$WORK/offline.err"
