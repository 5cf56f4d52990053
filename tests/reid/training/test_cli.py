"""`tracker-service reid ...` end to end on real assets."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tests.reid.training.conftest import tiny_config
from tracker_service import cli
from tracker_service.reid.training.datasets import load_folder, read_image
from tracker_service.reid.training.engine import FINAL_MODEL, checkpoint_path

# people-detection.mp4: two people cross the room around frames 180-230.
CLIP_FIRST, CLIP_FRAMES = 185, 40


def reid(*argv: str) -> int:
    return cli.main(["reid", *argv])


@pytest.fixture
def short_clip(video_path: Path, tmp_path: Path) -> Path:
    """CLIP_FRAMES real frames of the shared video, as their own file."""
    capture = cv2.VideoCapture(str(video_path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, CLIP_FIRST)
    fps = capture.get(cv2.CAP_PROP_FPS)
    out = tmp_path / "room.mp4"
    writer = None
    for _ in range(CLIP_FRAMES):
        ok, frame = capture.read()
        assert ok, "the shared video is shorter than expected"
        if writer is None:
            height, width = frame.shape[:2]
            writer = cv2.VideoWriter(
                str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height)
            )
        writer.write(frame)
    assert writer is not None
    writer.release()
    capture.release()
    return out


def test_build_dataset_from_a_real_pipeline_run(
    short_clip: Path, detector_path: Path, onnx_reid_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dataset"
    code = reid(
        "build-dataset", str(short_clip), "--out", str(out), "--camera", "room",
        "--detector", str(detector_path), "--embedder", str(onnx_reid_path),
        "--split", "none", "--min-crops", "4", "--max-crops", "10",
    )  # fmt: skip
    assert code == 0
    tracks_file = out / "runs" / "room" / "tracks.jsonl"
    frames = [json.loads(line) for line in tracks_file.read_text().splitlines()]
    assert len(frames) == CLIP_FRAMES

    splits = load_folder(out)
    assert len({sample.pid for sample in splits.train}) >= 1
    assert all(len(list(folder.iterdir())) >= 4 for folder in (out / "train").iterdir())
    # Every crop is its tracks.jsonl box, cut from its frame.
    boxes = {
        (frame["frame"], track["track_id"]): track["box_xyxy"]
        for frame in frames
        for track in frame["tracks"]
    }
    for sample in splits.train:
        frame_part, track_part = sample.path.stem.split("_")[1:]
        x1, y1, x2, y2 = boxes[int(frame_part[1:]), int(track_part[1:])]
        height, width = read_image(sample.path).shape[:2]
        assert abs(height - (y2 - y1)) <= 2 and abs(width - (x2 - x1)) <= 2

    # The same run's tracks again, without running the pipeline: the same crops.
    again = tmp_path / "again"
    code = reid(
        "build-dataset", str(short_clip), "--out", str(again), "--tracks", str(tracks_file),
        "--camera", "room", "--split", "none", "--min-crops", "4", "--max-crops", "10",
    )  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in (again / "train").rglob("*.jpg")) == sorted(
        p.name for p in (out / "train").rglob("*.jpg")
    )


def test_eval_cli_on_mot_people(
    mot_reid_root: Path, market1501_pth: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "metrics.json"
    code = reid(
        "eval", str(market1501_pth), "--data", str(mot_reid_root), "--format", "folder",
        "--device", "cpu", "--workers", "0", "--flip", "--rerank", "--json", str(report),
    )  # fmt: skip
    assert code == 0
    assert "Rank-1" in capsys.readouterr().out
    metrics = json.loads(report.read_text())
    assert metrics["queries"] == 7 and metrics["rerank"] and metrics["flip"]
    assert metrics["rank1"] >= 80.0 and 0 < metrics["mINP"] <= metrics["mAP"] <= 100


def test_eval_cli_rejects_a_dataset_without_queries(market1501_pth: Path, tmp_path: Path) -> None:
    (tmp_path / "train" / "a").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "train" / "a" / "c1_1.jpg"), np.zeros((8, 8, 3), np.uint8))
    assert reid("eval", str(market1501_pth), "--data", str(tmp_path), "--format", "folder") == 2


def test_train_and_resume_cli(
    mot_reid_root: Path, msmt17_pth: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config(mot_reid_root, msmt17_pth, run={"max_iters_per_epoch": 2})
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    run = tmp_path / "run"
    assert reid("train", "--config", str(config_file), "--output", str(run), "--no-progress") == 0
    assert "trained 1 epochs" in capsys.readouterr().out
    # Resume: the config comes from the checkpoint, the run folder from its location.
    first = checkpoint_path(run, 1)
    assert reid("train", "--resume", str(first), "--epochs", "2", "--no-progress") == 0
    assert checkpoint_path(run, 2).is_file() and (run / FINAL_MODEL).is_file()
    epochs = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in epochs if r["event"] == "epoch"] == [1, 2]
    assert reid("train", "--config", str(config_file)) == 2  # no --output


def test_export_cli_by_manifest_name(
    assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "market.onnx"
    code = reid(
        "export", "osnet_x0_25_market1501_torch", "--models-dir", str(assets / "models"),
        "--out", str(out), "--crops", str(assets / "reid"), "--exporter", "torchscript",
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert f"TRACKER_EMBEDDER={out}" in printed and "5 images" in printed
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["source_weights"]["path"].endswith("osnet_x0_25_market1501.pth")
    assert card["verification"]["min_cosine"] >= 0.999
