"""Peer trackers behind one interface, fed MOT15's public detections (motion only).

Each peer takes one frame's detections as an (N, 5) float32 array `x1, y1, x2, y2, score`
and returns the tracks it reports for that frame as `(track_id, x1, y1, x2, y2, score)`:

- Ultralytics `BYTETracker` and `BOTSORT` (ultralytics.trackers), their arguments read from
  the package's own `bytetrack.yaml` / `botsort.yaml`, fed an `ultralytics.engine.results.Boxes`
  as `model.track()` feeds them. No frames exist here, so BoT-SORT runs without its camera
  motion compensation (it is skipped when `img` is None) and without re-ID (`with_reid:
  False`, the yaml default). This Ultralytics version has no frame-rate argument: its
  `track_buffer` counts frames whatever the frame rate. Reported boxes are the Kalman state.
- Roboflow `trackers` 2.6.1: `SORTTracker`, `ByteTrackTracker`, `OCSORTTracker`, fed
  `supervision.Detections`, with the sequence's frame rate (their `lost_track_buffer` is in
  30 fps frames and is scaled by it). They report the matched detection boxes of confirmed
  tracks (tracker_id -1 = not yet confirmed, left out).

"defaults" means each constructor's / yaml's own defaults; `overrides` changes named
parameters (for the tuned mode). Run this file for a smoke check:
`uv run python benchmarks/peers.py --out runs/peers` tracks the six MOT15 sequences with
every peer, writes `<out>/<peer>/<seq>.txt` and prints the combined HOTA, MOTA and IDF1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from common import assets_root
from numpy.typing import NDArray

from tracker_service.evaluation import evaluate_folders, read_mot_file, read_seqinfo

FloatArray = NDArray[np.float32]
TrackRow = tuple[int, float, float, float, float, float]  # track_id, x1, y1, x2, y2, score
MOT15_SEQUENCES = (
    "ADL-Rundle-6",
    "ETH-Sunnyday",
    "KITTI-17",
    "PETS09-S2L1",
    "TUD-Campus",
    "TUD-Stadtmitte",
)


class PeerTracker(Protocol):
    name: str

    def update(self, dets: FloatArray, frame_index: int) -> list[TrackRow]: ...

    def reset(self) -> None: ...


# --- MOT15 input ------------------------------------------------------------------------


@dataclass(frozen=True)
class MotSequence:
    """A MOTChallenge sequence's public detections, one (N, 5) xyxy+score array a frame."""

    name: str
    frame_rate: float
    image_size: tuple[int, int]  # (height, width)
    detections: tuple[FloatArray, ...]  # detections[i] belongs to frame i + 1

    @property
    def length(self) -> int:
        return len(self.detections)


def load_sequence(sequence_dir: Path) -> MotSequence:
    """`det/det.txt` grouped per frame (empty frames included) and `seqinfo.ini`'s rate."""
    info = read_seqinfo(sequence_dir / "seqinfo.ini")
    if info.length is None or info.frame_rate is None:
        raise ValueError(f"{sequence_dir}/seqinfo.ini lacks seqLength or frameRate")
    rows = read_mot_file(sequence_dir / "det" / "det.txt", min_columns=7, unique_ids=False)
    x, y, w, h = rows.tlwh.T
    table = np.column_stack([x, y, x + w, y + h, rows.confidence]).astype(np.float32)
    per_frame = tuple(table[rows.frames == frame] for frame in range(1, info.length + 1))
    return MotSequence(info.name, info.frame_rate, (info.height or 0, info.width or 0), per_frame)


# --- Ultralytics ------------------------------------------------------------------------


class UltralyticsPeer:
    """Ultralytics' BYTETracker or BOTSORT, as `model.track()` drives them, minus the model."""

    def __init__(
        self,
        tracker_type: str,
        image_size: tuple[int, int],
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        from ultralytics.trackers.track import TRACKER_MAP
        from ultralytics.utils import YAML, IterableSimpleNamespace
        from ultralytics.utils.checks import check_yaml

        yaml_path = check_yaml(f"{tracker_type}.yaml")  # type: ignore[no-untyped-call]
        cfg = IterableSimpleNamespace(**YAML.load(yaml_path))  # type: ignore[no-untyped-call]
        for key, value in (overrides or {}).items():
            if not hasattr(cfg, key):
                raise ValueError(f"{tracker_type}.yaml has no {key!r}")
            setattr(cfg, key, value)
        if getattr(cfg, "with_reid", False):
            raise ValueError("re-ID needs frames; this benchmark is motion only")
        self.name = f"ultralytics-{tracker_type}"
        self.config = dict(vars(cfg))
        self._image_size = image_size
        self._tracker: Any = TRACKER_MAP[cfg.tracker_type](args=cfg)

    def update(self, dets: FloatArray, frame_index: int) -> list[TrackRow]:
        from ultralytics.engine.results import Boxes

        classes = np.zeros((len(dets), 1), np.float32)
        boxes = Boxes(np.hstack([dets[:, :5], classes]), orig_shape=self._image_size)
        out = self._tracker.update(boxes, None)
        return [
            (int(r[4]), float(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[5]))
            for r in out
        ]

    def reset(self) -> None:
        self._tracker.reset()


# --- roboflow trackers ------------------------------------------------------------------


class RoboflowPeer:
    """A tracker of the `trackers` package (SORT, ByteTrack, OC-SORT) on sv.Detections."""

    def __init__(
        self, kind: str, frame_rate: float, overrides: Mapping[str, Any] | None = None
    ) -> None:
        import trackers

        classes: dict[str, Callable[..., Any]] = {
            "sort": trackers.SORTTracker,
            "bytetrack": trackers.ByteTrackTracker,
            "ocsort": trackers.OCSORTTracker,
        }
        self.name = f"trackers-{kind}"
        self.config = {"frame_rate": frame_rate, **(overrides or {})}
        self._tracker: Any = classes[kind](**self.config)

    def update(self, dets: FloatArray, frame_index: int) -> list[TrackRow]:
        import supervision as sv

        detections = sv.Detections(
            xyxy=dets[:, :4].astype(np.float32),
            confidence=dets[:, 4].astype(np.float32),
            class_id=np.zeros(len(dets), np.int64),
        )
        out = self._tracker.update(detections)
        rows: list[TrackRow] = []
        for (x1, y1, x2, y2), score, track_id in zip(
            out.xyxy, out.confidence, out.tracker_id, strict=True
        ):
            if track_id >= 0:
                rows.append(
                    (int(track_id), float(x1), float(y1), float(x2), float(y2), float(score))
                )
        return rows

    def reset(self) -> None:
        self._tracker.reset()


# --- running ----------------------------------------------------------------------------

PeerFactory = Callable[[MotSequence], PeerTracker]

PEERS: dict[str, PeerFactory] = {
    "ultralytics-bytetrack": lambda seq: UltralyticsPeer("bytetrack", seq.image_size),
    "ultralytics-botsort": lambda seq: UltralyticsPeer("botsort", seq.image_size),
    "trackers-sort": lambda seq: RoboflowPeer("sort", seq.frame_rate),
    "trackers-bytetrack": lambda seq: RoboflowPeer("bytetrack", seq.frame_rate),
    "trackers-ocsort": lambda seq: RoboflowPeer("ocsort", seq.frame_rate),
}


def track_sequence(peer: PeerTracker, sequence: MotSequence) -> tuple[list[str], list[float]]:
    """MOTChallenge rows for the whole sequence, and the seconds each frame's update took."""
    peer.reset()
    rows: list[str] = []
    seconds: list[float] = []
    for index, dets in enumerate(sequence.detections):
        start = time.perf_counter()
        tracks = peer.update(dets, index)
        seconds.append(time.perf_counter() - start)
        rows.extend(_mot_row(index + 1, track) for track in tracks)
    return rows, seconds


def _mot_row(frame: int, track: TrackRow) -> str:
    track_id, x1, y1, x2, y2, score = track
    return f"{frame},{track_id},{x1:.3f},{y1:.3f},{x2 - x1:.3f},{y2 - y1:.3f},{score:.4f},-1,-1,-1"


def write_mot(path: Path, rows: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{row}\n" for row in rows), encoding="utf-8")


def run_peer(name: str, sequences: Sequence[MotSequence], out_dir: Path) -> tuple[Path, float]:
    """Track every sequence with a fresh peer; returns its results folder and median ms/frame."""
    results_dir = out_dir / name
    seconds: list[float] = []
    for sequence in sequences:
        rows, timing = track_sequence(PEERS[name](sequence), sequence)
        write_mot(results_dir / f"{sequence.name}.txt", rows)
        seconds.extend(timing)
    return results_dir, 1000.0 * float(np.median(seconds))


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    assets = assets_root()
    parser = argparse.ArgumentParser(description="Smoke-run the peer trackers on MOT15.")
    parser.add_argument("--mot15", type=Path, default=assets / "mot" / "MOT15")
    parser.add_argument("--out", type=Path, required=True, help="results go to OUT/<peer>/")
    parser.add_argument("--sequences", nargs="+", default=list(MOT15_SEQUENCES))
    parser.add_argument("--peers", nargs="+", choices=list(PEERS), default=list(PEERS))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    sequences = [load_sequence(args.mot15 / name) for name in args.sequences]
    print(f"{'peer':<24}{'HOTA':>8}{'MOTA':>8}{'IDF1':>8}{'IDSW':>7}{'ms/frame':>10}")
    for name in args.peers:
        results_dir, median_ms = run_peer(name, sequences, args.out)
        # "skip": ground-truth sequences that were not tracked are left out of the score.
        combined = evaluate_folders(args.mot15, results_dir, missing="skip").combined
        print(
            f"{name:<24}{100 * combined.hota:>8.2f}{100 * combined.mota:>8.2f}"
            f"{100 * combined.idf1:>8.2f}{combined.id_switches:>7d}{median_ms:>10.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
