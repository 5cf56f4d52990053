"""The hand-checked ground truth in benchmarks/ground_truth/: well formed and consistent.

Each sequence is `<name>/gt/gt.txt` (10-column MOT15 rows) and `<name>/seqinfo.ini`, whose
`video=` names the video under `../shared/assets/videos/` (relative to the repository root;
`TRACKER_ASSETS` moves that folder). How each was made: benchmarks/ground_truth/README.md.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import REPO_ROOT, require_asset
from tracker_service.evaluation import GT_MIN_COLUMNS, MotRows, read_mot_file, read_seqinfo

GT_ROOT = REPO_ROOT / "benchmarks" / "ground_truth"
ASSETS_PREFIX = "../shared/assets/"
SEQUENCES = ("people-detection", "lab-cam0", "lab-cam1")
# What the videos are (checked with OpenCV when the ground truth was made).
EXPECTED = {
    "people-detection": {"length": 594, "width": 768, "height": 432, "rate": 24.0},
    "lab-cam0": {"length": 268, "width": 1288, "height": 728, "rate": 10.0},
    "lab-cam1": {"length": 268, "width": 1288, "height": 728, "rate": 10.0},
}


def gt_rows(name: str) -> MotRows:
    return read_mot_file(GT_ROOT / name / "gt" / "gt.txt", GT_MIN_COLUMNS)


def video_entry(name: str) -> str:
    parser = configparser.ConfigParser()
    parser.read(GT_ROOT / name / "seqinfo.ini", encoding="utf-8")
    return parser["Sequence"]["video"]


def decoded_frames(video: Path) -> int:
    """Frames OpenCV actually decodes (the container's count can be larger)."""
    capture = cv2.VideoCapture(str(video))
    try:
        count = 0
        while capture.grab():
            count += 1
        return count
    finally:
        capture.release()


@pytest.mark.parametrize("name", SEQUENCES)
def test_seqinfo_describes_the_video(name: str) -> None:
    info = read_seqinfo(GT_ROOT / name / "seqinfo.ini")
    expected = EXPECTED[name]
    assert info.name == name
    assert (info.length, info.width, info.height) == (
        expected["length"],
        expected["width"],
        expected["height"],
    )
    assert info.frame_rate == expected["rate"]
    assert video_entry(name) == f"{ASSETS_PREFIX}videos/{name}.mp4"


@pytest.mark.parametrize("name", SEQUENCES)
def test_rows_are_mot15_ground_truth_inside_the_frame(name: str) -> None:
    info = read_seqinfo(GT_ROOT / name / "seqinfo.ini")
    assert info.length and info.width and info.height
    rows = gt_rows(name)  # parses, and rejects an id twice in one frame
    assert len(rows) > 0
    assert set(rows.columns.tolist()) == {10}
    assert np.all(rows.confidence == 1.0), "every box is to be scored"
    assert np.all(rows.extra == -1.0), "columns 8-10 are -1 as in MOT15"
    assert rows.frames.min() >= 1 and rows.frames.max() <= info.length
    left, top, width, height = rows.tlwh.T
    assert np.all(width > 0) and np.all(height > 0)
    assert np.all(left >= 0) and np.all(top >= 0), "boxes are clipped to the frame"
    assert np.all(left + width <= info.width + 1e-6)
    assert np.all(top + height <= info.height + 1e-6)


@pytest.mark.parametrize("name", SEQUENCES)
def test_ids_are_contiguous_from_one(name: str) -> None:
    ids = np.unique(gt_rows(name).ids)
    assert ids.tolist() == list(range(1, len(ids) + 1))


def test_people_detection_has_seven_people_who_never_return() -> None:
    rows = gt_rows("people-detection")
    assert np.unique(rows.ids).tolist() == [1, 2, 3, 4, 5, 6, 7]
    first_seen = []
    for person in range(1, 8):
        frames = np.sort(rows.frames[rows.ids == person])
        assert np.all(np.diff(frames) == 1), f"person {person} leaves and comes back"
        first_seen.append(int(frames[0]))
    assert first_seen == sorted(first_seen), "ids follow the order of first appearance"


def test_lab_cameras_share_one_id_per_person() -> None:
    cam0, cam1 = gt_rows("lab-cam0"), gt_rows("lab-cam1")
    assert set(np.unique(cam0.ids).tolist()) == set(np.unique(cam1.ids).tolist()) == {1, 2, 3}


@pytest.mark.parametrize("name", SEQUENCES)
def test_seq_length_is_the_decoded_frame_count(name: str) -> None:
    video = require_asset(video_entry(name).removeprefix(ASSETS_PREFIX))
    info = read_seqinfo(GT_ROOT / name / "seqinfo.ini")
    assert decoded_frames(video) == info.length
