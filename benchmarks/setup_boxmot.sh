#!/usr/bin/env bash
# Create benchmarks/.venv-boxmot: BoxMOT 25.0.0 in its own environment, beside the project's
# (BoxMOT pins versions that must not leak into the service's lock). Idempotent: an existing,
# working venv is left as it is. Used by benchmarks/video_e2e.py, which calls this script
# when the venv is missing.
#
#   bash benchmarks/setup_boxmot.sh            # create (or check) the venv
#   BOXMOT_VENV=/elsewhere bash benchmarks/setup_boxmot.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${BOXMOT_VENV:-$here/.venv-boxmot}"
python_version="${BOXMOT_PYTHON:-3.11}"

if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import boxmot" 2>/dev/null; then
    echo "BoxMOT venv ready: $venv"
    exit 0
fi

# --allow-existing: a venv left half-installed by an earlier failure is completed.
uv venv --quiet --allow-existing --python "$python_version" "$venv"
# torch/torchvision: the same versions as the project's lock, so uv's cache serves them.
# BoxMOT 25.0.0 needs filterpy < 2, OpenCV < 5 and lapx; psutil measures peak memory.
uv pip install --quiet --python "$venv/bin/python" \
    "boxmot==25.0.0" \
    "filterpy<2" \
    "opencv-python<5" \
    "lapx" \
    "torch==2.13.0" \
    "torchvision==0.28.0" \
    "psutil>=6.0"
"$venv/bin/python" -c "import boxmot, importlib.metadata as m; print('boxmot', m.version('boxmot'))"
echo "BoxMOT venv ready: $venv"
