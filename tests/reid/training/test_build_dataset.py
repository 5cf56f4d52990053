"""build-dataset: crops of the pipeline's tracks, in the folder layout, split by time."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracker_service.reid.training.build_dataset import (
    BuildError,
    BuildOptions,
    build_dataset,
    camera_label,
    read_tracks,
)
from tracker_service.reid.training.datasets import load_folder, read_image
from tracker_service.sinks.jsonl import frame_to_dict
from tracker_service.types import FrameResult, TrackRecord, TrackState

FPS = 10.0
SIZE = (320, 240)  # width, height
# track id -> (first frame, last frame, box, colour, identity id)
TRACKS = {
    1: (0, 39, (10, 20, 50, 120), (0, 0, 255), 7),  # the whole clip
    2: (0, 9, (120, 30, 160, 130), (0, 255, 0), 7),  # same identity as 1 in the gallery
    3: (30, 39, (200, 40, 240, 140), (255, 0, 0), 9),  # starts late: held out for testing
    4: (0, 39, (270, 10, 300, 50), (255, 255, 0), 10),  # 40 px tall: below min height
    5: (5, 6, (60, 130, 100, 230), (0, 255, 255), 11),  # 2 frames: below min crops
}


def write_clip(path: Path) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for frame_index in range(40):
        frame = np.full((SIZE[1], SIZE[0], 3), 90, dtype=np.uint8)
        for first, last, (x1, y1, x2, y2), colour, _ in TRACKS.values():
            if first <= frame_index <= last:
                cv2.rectangle(frame, (x1, y1), (x2 - 1, y2 - 1), colour, thickness=-1)
        writer.write(frame)
    writer.release()


def write_tracks(path: Path) -> None:
    """The pipeline's own JSON lines, through its own sink's serialiser."""
    with path.open("w", encoding="utf-8") as handle:
        for frame_index in range(40):
            records = [
                TrackRecord(
                    frame_index=frame_index,
                    timestamp_s=frame_index / FPS,
                    track_id=track_id,
                    identity_id=identity if frame_index > first + 1 else None,
                    xyxy=tuple(float(v) for v in box),  # type: ignore[arg-type]
                    score=0.9,
                    state=TrackState.CONFIRMED,
                )
                for track_id, (first, last, box, _, identity) in TRACKS.items()
                if first <= frame_index <= last
            ]
            result = FrameResult(frame_index, frame_index / FPS, tuple(records), len(records), 0)
            handle.write(json.dumps(frame_to_dict(result)) + "\n")


@pytest.fixture
def clip(tmp_path: Path) -> tuple[Path, Path]:
    video, tracks = tmp_path / "clip.mp4", tmp_path / "tracks.jsonl"
    write_clip(video)
    write_tracks(tracks)
    return video, tracks


def files(root: Path, split: str) -> dict[str, list[str]]:
    return {
        folder.name: sorted(path.name for path in folder.iterdir())
        for folder in sorted((root / split).iterdir())
    }


def test_track_labels_and_time_split(clip: tuple[Path, Path], tmp_path: Path) -> None:
    video, tracks = clip
    out = tmp_path / "dataset"
    options = BuildOptions(camera="door_1", max_crops=8, min_height=64, min_crops=4)
    summary = build_dataset(tracks, video, out, options)

    train = files(out, "train")
    assert sorted(train) == ["door-1-t00001", "door-1-t00002"]
    # Track 1: 40 sightings, 8 kept, evenly spaced from the first frame to the last.
    assert train["door-1-t00001"][0] == "door-1_f000000_t00001.jpg"
    assert train["door-1-t00001"][-1] == "door-1_f000039_t00001.jpg"
    assert len(train["door-1-t00001"]) == 8 and len(train["door-1-t00002"]) == 8
    # Track 3 starts in the last 30 % of the clip: of its 8 crops (frames 30 31 33 34 |
    # 35 36 38 39) the middle one of the earlier half is the query, the later half the
    # gallery, under two pseudo-cameras.
    assert files(out, "query") == {"door-1-t00003": ["door-1-early_f000033_t00003.jpg"]}
    gallery = files(out, "gallery")["door-1-t00003"]
    assert gallery == [f"door-1-late_f{frame:06d}_t00003.jpg" for frame in (35, 36, 38, 39)]
    assert summary.labels == {"train": 2, "query": 1, "gallery": 1}
    assert summary.crops == {"train": 16, "query": 1, "gallery": 4}
    assert summary.tracks_read == 5

    # The crops are the boxes, cut from the right frames.
    crop = read_image(out / "train" / "door-1-t00002" / "door-1_f000005_t00002.jpg")
    assert crop.shape == (100, 40, 3)
    assert np.abs(crop.reshape(-1, 3).mean(axis=0) - (0, 255, 0)).max() < 25

    # The result is a folder-layout dataset that can be evaluated.
    splits = load_folder(out)
    assert splits.can_evaluate
    assert splits.query[0].pid == splits.gallery[0].pid
    assert splits.query[0].camid != splits.gallery[0].camid
    record = json.loads((out / "build_door-1.json").read_text())
    assert record["options"]["camera"] == "door_1" and record["summary"]["crops"]["train"] == 16


def test_identity_labels_merge_tracks(clip: tuple[Path, Path], tmp_path: Path) -> None:
    video, tracks = clip
    out = tmp_path / "dataset"
    build_dataset(tracks, video, out, BuildOptions(split="none", label="identity", max_crops=8))
    train = files(out, "train")
    assert sorted(train) == ["id00007", "id00009"]
    assert len(train["id00007"]) == 16  # tracks 1 and 2
    assert not (out / "query").exists()


def test_read_tracks_skips_other_states_and_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "tracks.jsonl"
    box = {"box_xyxy": [0, 0, 10, 20], "score": 0.9, "identity_id": None}
    lines = [
        {"frame": 0, "timestamp_s": 0.0, "tracks": [{"track_id": 1, "state": "confirmed", **box}]},
        {"frame": 1, "timestamp_s": 0.1, "tracks": [{"track_id": 2, "state": "tentative", **box}]},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    sightings = read_tracks(path)
    assert [(s.frame, s.track_id, s.height) for s in sightings] == [(0, 1, 20.0)]
    path.write_text('{"frame": 0}\n')
    with pytest.raises(BuildError, match=r"tracks\.jsonl frame record"):
        read_tracks(path)


def test_nothing_usable_and_wrong_video(clip: tuple[Path, Path], tmp_path: Path) -> None:
    video, tracks = clip
    with pytest.raises(BuildError, match="passes the filters"):
        build_dataset(tracks, video, tmp_path / "a", BuildOptions(min_height=500))
    short = tmp_path / "short.mp4"
    writer = cv2.VideoWriter(str(short), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for _ in range(5):
        writer.write(np.zeros((SIZE[1], SIZE[0], 3), dtype=np.uint8))
    writer.release()
    with pytest.raises(BuildError, match="ended before frame"):
        build_dataset(tracks, short, tmp_path / "b", BuildOptions(split="none"))


def test_options_and_camera_names() -> None:
    assert camera_label("Lobby cam_2") == "Lobby-cam-2"
    with pytest.raises(ValueError, match="usable"):
        camera_label("__")
    with pytest.raises(ValueError, match="test_fraction"):
        BuildOptions(test_fraction=1.0)
    with pytest.raises(ValueError, match="min_crops"):
        BuildOptions(min_crops=1)
