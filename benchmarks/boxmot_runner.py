"""One BoxMOT appearance tracker over the benchmark video, fed precomputed detections.

Runs in BoxMOT's own environment (`benchmarks/.venv-boxmot`, see `setup_boxmot.sh`), as a
subprocess of `video_e2e.py`, which passes a JSON spec:

    .venv-boxmot/bin/python benchmarks/boxmot_runner.py SPEC.json

The spec names the video, the detections (`.npz` written by the main environment's
detector: `counts` per frame and the stacked `boxes` as x1, y1, x2, y2, score), the tracker
(`botsort`, `deepocsort` or `strongsort`), the re-ID weights (the torchreid OSNet `.pth`;
BoxMOT picks its architecture from the file name, so a temporary `osnet_x0_25_msmt17.pt`
symlink points at it), the frame limit, the number of timed runs, the thread count and where
to write the result JSON.

Each tracker gets BoxMOT's YAML defaults (`boxmot/configs/trackers/<name>.yaml`, what
`create_tracker` and BoxMOT's CLI use), not its constructor defaults, and a re-ID backend
built once from the weights, wrapped to count and time every crop it embeds. Tracker state is
new for each run; the model is shared by the runs.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import PeakMemory, iter_frames, pin_threads, write_json
from numpy.typing import NDArray

# The three appearance trackers compared; BoxMOT's registry names.
TRACKERS = ("botsort", "deepocsort", "strongsort")
REID_FILE_NAME = "osnet_x0_25_msmt17.pt"  # the name BoxMOT derives OSNet x0.25 from


class CountingReID:
    """BoxMOT's re-ID backend, counting the crops it embeds and the time it takes."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.crops = 0
        self.calls = 0
        self.seconds = 0.0

    def get_features(self, boxes: NDArray[np.float32], image: NDArray[np.uint8]) -> Any:
        started = time.perf_counter()
        features = self._backend.get_features(boxes, image)
        self.seconds += time.perf_counter() - started
        self.crops += len(boxes)
        self.calls += 1
        return features

    def take(self) -> tuple[int, float]:
        """Crops and seconds since the last call."""
        crops, seconds = self.crops, self.seconds
        self.crops, self.seconds = 0, 0.0
        return crops, seconds


def load_detections(path: Path) -> list[NDArray[np.float32]]:
    data = np.load(path)
    counts = data["counts"]
    boxes = data["boxes"].astype(np.float32)
    return list(np.split(boxes, np.cumsum(counts)[:-1])) if len(counts) else []


def build_reid(weights: Path, folder: Path) -> CountingReID:
    from boxmot.reid.core import ReID

    link = folder / REID_FILE_NAME
    link.symlink_to(weights.resolve())
    return CountingReID(ReID(weights=link, device="cpu", half=False).model)


def build_tracker(name: str, reid: CountingReID) -> tuple[Any, dict[str, Any]]:
    from boxmot.trackers.config import load_tracker_config
    from boxmot.trackers.registry import _load_tracker_class, get_tracker_definition

    definition = get_tracker_definition(name)
    settings = load_tracker_config(definition.config_name or definition.name, None)
    tracker = _load_tracker_class(definition)(**settings, reid_model=reid)
    return tracker, settings


def run(spec: dict[str, Any]) -> dict[str, Any]:
    threads = int(spec["threads"])
    pin_threads(threads)
    import torch

    torch.set_num_threads(threads)
    memory = PeakMemory()
    name = spec["tracker"]
    if name not in TRACKERS:
        raise SystemExit(f"unknown BoxMOT tracker {name!r}; expected one of {TRACKERS}")
    detections = load_detections(Path(spec["detections"]))
    video = Path(spec["video"])
    limit = min(int(spec["frames"]), len(detections))
    runs: list[dict[str, list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="boxmot-reid-") as folder:
        reid = build_reid(Path(spec["reid_weights"]), Path(folder))
        # Warm-up outside the timings: the first forward pass allocates.
        first = next(iter_frames(video, 1))[1]
        reid.get_features(np.array([[0, 0, 64, 128], [64, 0, 128, 128]], np.float32), first)
        reid.take()
        track_ids: set[int] = set()
        fed = embedded = 0
        mot_rows: list[str] = []  # the first run's tracks (MOTChallenge), when asked for
        settings: dict[str, Any] = {}
        for run_index in range(int(spec["runs"])):
            tracker, settings = build_tracker(name, reid)
            latency: list[float] = []
            embedder: list[float] = []
            for index, frame in iter_frames(video, limit):
                dets = detections[index]
                rows = np.column_stack([dets[:, :5], np.zeros(len(dets), np.float32)])
                started = time.perf_counter()
                tracks = tracker.update(rows.astype(np.float32), frame)
                latency.append(time.perf_counter() - started)
                crops, seconds = reid.take()
                embedder.append(seconds)
                memory.sample()
                if run_index == 0:
                    for row in np.asarray(tracks).reshape(-1, 8):
                        x1, y1, x2, y2, track_id, conf = (float(v) for v in row[:6])
                        mot_rows.append(
                            f"{index + 1},{int(track_id)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},"
                            f"{y2 - y1:.2f},{conf:.4f},-1,-1,-1"
                        )
                    fed += len(dets)
                    embedded += crops
                    track_ids.update(int(i) for i in np.asarray(tracks)[:, 4])
            runs.append({"latency_s": latency, "embedder_s": embedder})
        if spec.get("mot_out"):
            Path(spec["mot_out"]).write_text("\n".join(mot_rows) + "\n", encoding="utf-8")
    return {
        "pipeline": f"boxmot-{name}",
        "frames": limit,
        "runs": runs,
        "detections": fed,
        "embedded": embedded,
        "ids": len(track_ids),
        **memory.report(),
        "settings": {
            "defaults": "BoxMOT YAML (configs/trackers/" + name + ".yaml), as create_tracker",
            **{key: value for key, value in settings.items() if not key.startswith("kf_")},
        },
        "versions": {"boxmot": importlib.metadata.version("boxmot"), "torch": torch.__version__},
        "threads": {"torch": torch.get_num_threads()},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    write_json(Path(spec["out"]), run(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
