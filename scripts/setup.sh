#!/usr/bin/env bash
# Set everything up and run the main job once:
#   1. uv (from PyPI) if it is missing,
#   2. the system packages the tests use (scripts/install-system-deps.sh),
#   3. the locked Python environment (uv sync --locked),
#   4. the demo: track the shared sample video into runs/demo/ (annotated.mp4, mot.txt,
#      tracks.jsonl, summary.json).
#
#   scripts/setup.sh            # all of it
#   scripts/setup.sh --no-demo  # steps 1-3 (what CI runs before the tests)
#
# TRACKER_ASSETS points at the shared models and video (default: ../shared/assets).
set -euo pipefail
cd "$(dirname "$0")/.."

run_demo=1
for argument in "$@"; do
    case "$argument" in
        --no-demo) run_demo=0 ;;
        *) echo "usage: scripts/setup.sh [--no-demo]" >&2; exit 2 ;;
    esac
done

if ! command -v uv >/dev/null 2>&1; then
    echo "== installing uv from PyPI"
    python3 -m pip install --user --quiet uv
    export PATH="$HOME/.local/bin:$PATH"
fi

echo "== system packages"
scripts/install-system-deps.sh

echo "== Python environment (uv.lock)"
uv sync --locked

if [[ $run_demo -eq 1 ]]; then
    assets="${TRACKER_ASSETS:-../shared/assets}"
    video="$assets/videos/people-detection.mp4"
    if [[ ! -f "$video" ]]; then
        echo "no sample video at $video: run 'uv run tracker-service track YOUR_VIDEO --out runs/demo'" >&2
        exit 1
    fi
    echo "== demo: tracking $video into runs/demo"
    uv run tracker-service track "$video" --out runs/demo \
        --config configs/local-assets.yaml --models-dir "$assets/models"
fi
