"""Identities end to end on real pixels: ours and the peers on the same frames and detector.

Cases (videos with ground truth; several videos in one case are cameras of one scene):
`pets09` (`videos/pets09-s2l1.mp4`, `mot/PETS09-S2L1-video`), `people-detection` and `lab`
(`lab-cam0.mp4` + `lab-cam1.mp4`, run in step into one gallery; ground truth in
`benchmarks/ground_truth/`, one id per person across both cameras).

- `ours`: `StreamPipeline` (detector, tracker, re-ID gate, embedder, identities), scored by
  track ids and by global identities (`tracker_service.evaluation.video`), as a file run
  writes its tracks (`output.hindsight`); `ours (live)`: as a camera shows them;
- `ultralytics-bytetrack`, `ultralytics-botsort`: `model.track(frame, persist=True)` on the
  same weights (YOLOv8n INT8 OpenVINO, conf 0.1 as model.track uses, NMS IoU 0.7, imgsz 640);
- `boxmot-botsort`, `boxmot-deepocsort`, `boxmot-strongsort`: BoxMOT 25.0.0 (its own venv,
  `setup_boxmot.sh`) fed our detector's boxes of the same run, re-ID with OSNet x0.25 MSMT17.

Peers have no global identity: their track id is what users see, so it is scored as both;
on two cameras their ids are per camera (nothing links them), so each person counts as split.
Transfers and splits: `tracker_service/evaluation/identity_figures.py` (IoU >= 0.5 Hungarian
per frame; a pair counts from half a second of matched frames). The self-check's doubtful
tracks are ours only.

    uv run python benchmarks/identity_video.py                 # all cases, rewrites RESULTS.md
    uv run python benchmarks/identity_video.py --cases pets09 --no-boxmot --no-write
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    BENCHMARKS_DIR,
    PEER_IMGSZ,
    PEER_NMS_IOU,
    RESULTS_FILE,
    assets_root,
    command_line,
    iter_frames,
    machine_lines,
    markdown_table,
    side_by_side_overrides,
    write_section,
)

SECTION = "identity_video"
BOXMOT_PYTHON = BENCHMARKS_DIR / ".venv-boxmot" / "bin" / "python"
BOXMOT = ("botsort", "deepocsort", "strongsort")
ULTRALYTICS = ("bytetrack", "botsort")
GT_DIR = BENCHMARKS_DIR / "ground_truth"
# Ground truth that gives a person who comes back a new id, with the map of its ids that are
# one person (`tracker_service.evaluation.people`): such cases are scored both ways.
PEOPLE = {"PETS09-S2L1-video": GT_DIR / "pets09-s2l1-people.csv"}


def cases(assets: Path) -> dict[str, list[tuple[Path, Path]]]:
    videos = assets / "videos"
    return {
        "pets09": [(videos / "pets09-s2l1.mp4", assets / "mot" / "PETS09-S2L1-video")],
        "people-detection": [(videos / "people-detection.mp4", GT_DIR / "people-detection")],
        "lab": [
            (videos / "lab-cam0.mp4", GT_DIR / "lab-cam0"),
            (videos / "lab-cam1.mp4", GT_DIR / "lab-cam1"),
        ],
    }


def truth_sets(pairs: Sequence[tuple[Path, Path]]) -> dict[str, list[Any]]:
    """The ground truth to score a case against: as given (`scores`) and, where a people map
    exists, person by person (`scores_by_person`)."""
    from tracker_service.evaluation.people import read_people
    from tracker_service.evaluation.video import GroundTruth

    truths = [GroundTruth.read(gt) for _, gt in pairs]
    sets: dict[str, list[Any]] = {"scores": truths}
    maps = [PEOPLE.get(gt.name) for _, gt in pairs]
    if all(maps):
        sets["scores_by_person"] = [
            truth.by_person(read_people(path))
            for truth, path in zip(truths, maps, strict=True)
            if path is not None
        ]
    return sets


class RecordingDetector:
    """Our detector, keeping every frame's boxes (x1, y1, x2, y2, score) for BoxMOT."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.frames: list[np.ndarray] = []

    def detect(self, frame: Any) -> Any:
        detections = self.inner.detect(frame)
        self.frames.append(np.column_stack([detections.xyxy, detections.confidence]))
        return detections


def run_ours(pairs: Sequence[tuple[Path, Path]], models: Any, config: Any) -> dict[str, Any]:
    from tracker_service.cli.eval_video import camera_results
    from tracker_service.evaluation.video import run_in_step, score_outputs
    from tracker_service.runtime import open_gallery

    gallery = open_gallery(config, models, None)
    recorders: list[RecordingDetector] = []
    pipelines: list[Any] = []

    def stream(video: Path) -> Any:
        recorder = RecordingDetector(models.detector)
        recorders.append(recorder)
        return camera_results(
            video, config, models, gallery, pipelines=pipelines, detector=recorder
        )

    started = time.perf_counter()
    outputs = run_in_step([stream(video) for video, _ in pairs])
    wall = time.perf_counter() - started
    fps = pipelines[0].tracker.fps
    scores = {
        key: score_outputs(truths, outputs, fps, gallery.canonical, config.output.hindsight)
        for key, truths in truth_sets(pairs).items()
    }
    gallery.close()
    return {
        **{key: value.to_dict() for key, value in scores.items()},
        "doubtful": sum(p.self_check.doubtful_count() for p in pipelines),
        "guard_splits": sum(p.guard_splits for p in pipelines),
        "embedded": sum(p.stats.embedded for p in pipelines),
        "detections": sum(p.stats.detections for p in pipelines),
        "wall_s": wall,
        "_detections": [r.frames for r in recorders],
    }


def score_peer(pairs: Sequence[tuple[Path, Path]], lines: Sequence[list[str]]) -> dict[str, Any]:
    from tracker_service.evaluation.video import CameraOutput, score_outputs
    from tracker_service.video_file import probe_video

    outputs = []
    for camera, rows in enumerate(lines):
        output = CameraOutput(camera)
        for row in rows:
            fields = row.split(",")
            # Ids are per camera: nothing links a peer's tracks across cameras.
            fields[1] = str(int(fields[1]) + camera * 100_000)
            output.track_lines.append(",".join(fields))
            output.identity_lines.append(",".join(fields))
            output.frames = max(output.frames, int(fields[0]))
        outputs.append(output)
    fps = probe_video(pairs[0][0]).fps
    return {
        key: score_outputs(truths, outputs, fps).to_dict()
        for key, truths in truth_sets(pairs).items()
    }


def run_ultralytics(pairs: Sequence[tuple[Path, Path]], detector: Path, tracker: str) -> Any:
    from ultralytics.models.yolo import YOLO

    lines: list[list[str]] = []
    for video, _ in pairs:
        model: Any = YOLO(str(detector), task="detect")
        rows: list[str] = []
        for index, frame in iter_frames(video):
            results = model.track(
                frame,
                persist=index > 0,
                tracker=f"{tracker}.yaml",
                classes=[0],
                imgsz=PEER_IMGSZ,
                iou=PEER_NMS_IOU,
                device="cpu",
                verbose=False,
            )  # conf left unset: model.track() makes it 0.1
            boxes = results[0].boxes
            if boxes is None or boxes.id is None:
                continue
            for (x1, y1, x2, y2), track_id, conf in zip(
                boxes.xyxy.tolist(), boxes.id.tolist(), boxes.conf.tolist(), strict=True
            ):
                rows.append(
                    f"{index + 1},{int(track_id)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                    f"{conf:.4f},-1,-1,-1"
                )
        lines.append(rows)
    return score_peer(pairs, lines)


def run_boxmot(
    *,
    pairs: Sequence[tuple[Path, Path]],
    detections: Sequence[list[np.ndarray]],
    tracker: str,
    reid: Path,
    folder: Path,
    threads: int,
) -> Any:
    lines: list[list[str]] = []
    for camera, ((video, _), frames) in enumerate(zip(pairs, detections, strict=True)):
        dets = folder / f"{video.stem}.npz"
        np.savez(
            dets,
            counts=np.array([len(f) for f in frames]),
            boxes=np.concatenate(frames).astype(np.float32),
        )
        spec = {
            "video": str(video),
            "detections": str(dets),
            "tracker": tracker,
            "reid_weights": str(reid),
            "frames": len(frames),
            "runs": 1,
            "threads": threads,
            "out": str(folder / f"{tracker}-{camera}.json"),
            "mot_out": str(folder / f"{tracker}-{camera}.txt"),
        }
        spec_path = folder / f"{tracker}-{camera}-spec.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        subprocess.run(
            [str(BOXMOT_PYTHON), str(BENCHMARKS_DIR / "boxmot_runner.py"), str(spec_path)],
            check=True,
            cwd=BENCHMARKS_DIR,
            timeout=3600,
        )
        text = Path(str(spec["mot_out"])).read_text(encoding="utf-8")
        lines.append([line for line in text.splitlines() if line.strip()])
    return score_peer(pairs, lines)


def _row(case: str, name: str, result: dict[str, Any], key: str = "scores") -> list[object]:
    scores = result[key]
    track, ident = scores["by_track"], scores["by_identity"]
    figures = scores["identity_figures"]
    return [
        case,
        name,
        f"{100 * track['hota']:.1f}",
        f"{100 * track['idf1']:.1f}",
        track["id_switches"],
        f"{100 * ident['hota']:.1f}",
        f"{100 * ident['idf1']:.1f}",
        ident["id_switches"],
        scores["identities"],
        figures["gt_ids"],
        figures["transfers"],
        figures["splits"],
        _after_merges(scores),
        result.get("doubtful", "-"),
    ]


def _after_merges(scores: dict[str, Any]) -> str:
    figures = scores.get("identity_figures_after_merges")
    if not figures:
        return "-"
    return f"{scores['identities_after_merges']} / {figures['transfers']} / {figures['splits']}"


def render(results: dict[str, dict[str, Any]], argv: Sequence[str]) -> str:
    headers = [
        "case",
        "tracker",
        "HOTA (track)",
        "IDF1 (track)",
        "IDSW (track)",
        "HOTA (identity)",
        "IDF1 (identity)",
        "IDSW (identity)",
        "ids",
        "people",
        "transfers",
        "splits",
        "after merges: ids / transfers / splits",
        "doubtful",
    ]
    rows = [_row(case, name, result) for case, by in results.items() for name, result in by.items()]
    rows += [
        _row(f"{case} by person", name, result, "scores_by_person")
        for case, by in results.items()
        for name, result in by.items()
        if "scores_by_person" in result
    ]
    return "\n".join(
        [
            "## Identities end to end on video (ground truth, same frames and detector)",
            "",
            f"`{command_line('identity_video.py', argv)}`",
            "",
            *machine_lines(),
            "",
            "Same frames, same detector weights (YOLOv8n INT8 OpenVINO, conf 0.1, NMS 0.7, 640) "
            "for every tracker; BoxMOT is fed our detector's boxes of the same run. TrackEval "
            "(MOT15 mode for PETS09's 10-column gt). *pets09 by person*: the same runs scored "
            "with the PETS09 ids that are one person merged (its ground truth gives a person "
            "who walks out and comes back a new id: 19 ids, 10 people; "
            "`ground_truth/pets09-s2l1-people.csv`). *track*: scored by track ids; *identity*: "
            "by global identities (ours; a box shown before its identity is decided counts under "
            "a provisional id of its track). *ours*: as a file run writes its tracks (gaps of "
            "up to 0.67 s filled, tracks started at the detector's first weak box: "
            "`output.hindsight`); *ours (live)*: as a camera shows them, frame by frame. "
            "Peers have no global identity: their ids are scored "
            "as both, per camera on `lab`. `ids`: identities (ours) or track ids (peers); "
            "`transfers`: an id that covers 2+ people, `splits`: a person under 2+ ids, each pair "
            "counting from half a second of matched frames (IoU >= 0.5, Hungarian per frame); "
            "*after merges*: our identities as the gallery holds them once the run is over (a "
            "provisional identity later folded into a known one counts as that one: what the "
            "identities API, the history and search by photo answer with); "
            "`doubtful`: our self-check (no ground truth used). HOTA and IDF1 in %. The machine "
            "was shared with other work while this ran (no timings here).",
            "",
            markdown_table(headers, rows, text_columns=2),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=None)
    parser.add_argument("--no-boxmot", action="store_true")
    parser.add_argument(
        "--boxmot-cases", nargs="+", help="run BoxMOT on these cases only (default: all)"
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=BENCHMARKS_DIR / "identity_video.json")
    args = parser.parse_args(argv)
    from tracker_service.config import load_config
    from tracker_service.runtime import load_models

    assets = assets_root()
    detector = assets / "models" / "yolov8n_int8_openvino_model"
    embedder = {"model": "osnet_x0_25_msmt17", "backend": "onnx", "device": "cpu"}
    overrides = side_by_side_overrides(detector, embedder, assets / "models")
    config = load_config(None, overrides, environ={})
    live_overrides = {**overrides, "output": {**overrides.get("output", {}), "hindsight": False}}
    live_config = load_config(None, live_overrides, environ={})
    models = load_models(config)
    chosen = cases(assets)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="identity-video-") as tmp:
        for case in args.cases or list(chosen):
            pairs = chosen[case]
            ours = run_ours(pairs, models, config)
            detections = ours.pop("_detections")
            # What a camera shows as it goes, without the file run's hindsight: the peers'
            # tracks are online too.
            live = run_ours(pairs, models, live_config)
            live.pop("_detections")
            results[case] = {"ours": ours, "ours (live)": live}
            for name, result in results[case].items():
                print(case, name, _row(case, name, result), flush=True)
            for tracker in ULTRALYTICS:
                result = run_ultralytics(pairs, detector, tracker)
                results[case][f"ultralytics-{tracker}"] = result
                print(case, tracker, _row(case, tracker, result), flush=True)
            skip_boxmot = args.boxmot_cases is not None and case not in args.boxmot_cases
            if args.no_boxmot or skip_boxmot or not BOXMOT_PYTHON.exists():
                continue
            for tracker in BOXMOT:
                result = run_boxmot(
                    pairs=pairs,
                    detections=detections,
                    tracker=tracker,
                    reid=assets / "models" / "osnet_x0_25_msmt17.pth",
                    folder=Path(tmp),
                    threads=args.threads,
                )
                results[case][f"boxmot-{tracker}"] = result
                print(case, tracker, _row(case, tracker, result), flush=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    text = render(results, argv)
    print(text)
    if not args.no_write:
        write_section(RESULTS_FILE, SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
