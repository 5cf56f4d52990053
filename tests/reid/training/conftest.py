"""Tiny real re-ID datasets for the training toolkit's tests.

No Market-1501 here: crops are cut from the MOT17-mini frames by their ground-truth boxes
(people of MOT17-04 frames 1-8 and MOT17-02 frames 1-4, each gt id one identity), which
gives real pedestrians with several views each in seconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import require_asset
from tracker_service.reid.training.config import TrainConfig, parse_train_config

MIN_VISIBILITY = 0.6
MIN_HEIGHT_PX = 100
# The network input of the CPU tests: a quarter of the recipe's 256x128 pixels.
TEST_HEIGHT, TEST_WIDTH = 128, 64


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One thread: on the shared 2-core machines a second one costs far more than it gives
    (OSNet's depthwise convolutions ran 10x slower with two under load)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@dataclass(frozen=True)
class GtBox:
    sequence: str
    frame: int
    pid: int
    xyxy: tuple[int, int, int, int]


def _gt_boxes(sequence_dir: Path, frames: int) -> list[GtBox]:
    """Pedestrian gt boxes (class 1, considered, visible enough, tall enough)."""
    rows = np.loadtxt(sequence_dir / "gt" / "gt.txt", delimiter=",", ndmin=2)
    keep = (
        (rows[:, 0] <= frames)
        & (rows[:, 6] == 1)
        & (rows[:, 7] == 1)
        & (rows[:, 8] >= MIN_VISIBILITY)
        & (rows[:, 5] >= MIN_HEIGHT_PX)
    )
    boxes = []
    for frame, pid, left, top, width, height in rows[keep][:, :6]:
        x1, y1 = max(0, int(left)), max(0, int(top))
        boxes.append(
            GtBox(
                sequence_dir.name,
                int(frame),
                int(pid),
                (x1, y1, int(left + width), int(top + height)),
            )
        )
    return boxes


def _write_crops(
    sequence_dir: Path, boxes: list[GtBox], folder_of: dict[tuple[int, int], Path]
) -> None:
    by_frame: defaultdict[int, list[GtBox]] = defaultdict(list)
    for box in boxes:
        by_frame[box.frame].append(box)
    for frame, frame_boxes in by_frame.items():
        image = cv2.imread(str(sequence_dir / "img1" / f"{frame:06d}.jpg"))
        for box in frame_boxes:
            target = folder_of.get((box.pid, box.frame))
            if target is None:
                continue
            x1, y1, x2, y2 = box.xyxy
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), image[y1:y2, x1:x2])


@pytest.fixture(scope="session")
def mot_reid_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder-layout dataset of real pedestrians (see the module docstring).

    train: 14 MOT17-04 people x 8 frames (camera prefix `c04`) and the 8 MOT17-02
    people x 4 frames (`c02`). query/gallery: the other MOT17-04 people, frame 1 as the
    query (camera `a`), frames 5-8 as the gallery (camera `b`) plus frame 3 from camera
    `a`, which the protocol must exclude.
    """
    mini = require_asset("mot/MOT17-mini")
    root = tmp_path_factory.mktemp("mot_reid")
    mot04 = _gt_boxes(mini / "MOT17-04-FRCNN", 8)
    mot02 = _gt_boxes(mini / "MOT17-02-FRCNN", 4)
    complete = sorted(
        pid for pid in {b.pid for b in mot04} if sum(b.pid == pid for b in mot04) == 8
    )
    train_ids, test_ids = complete[:14], complete[14:]
    folders: dict[tuple[int, int], Path] = {}
    for box in mot04:
        if box.pid in train_ids:
            folders[box.pid, box.frame] = (
                root / "train" / f"04-{box.pid}" / f"c04_f{box.frame:06d}.jpg"
            )
        elif box.pid in test_ids and box.frame in (1, 3):
            split = "query" if box.frame == 1 else "gallery"
            folders[box.pid, box.frame] = root / split / f"04-{box.pid}" / f"a_f{box.frame:06d}.jpg"
        elif box.pid in test_ids and box.frame >= 5:
            folders[box.pid, box.frame] = (
                root / "gallery" / f"04-{box.pid}" / f"b_f{box.frame:06d}.jpg"
            )
    _write_crops(mini / "MOT17-04-FRCNN", mot04, folders)
    folders02 = {
        (box.pid, box.frame): root / "train" / f"02-{box.pid}" / f"c02_f{box.frame:06d}.jpg"
        for box in mot02
    }
    _write_crops(mini / "MOT17-02-FRCNN", mot02, folders02)
    return root


def tiny_config(root: Path, pretrained: Path | None, **sections: dict[str, object]) -> TrainConfig:
    """A CPU-sized config over `root`: 4 x 4 PK batches of 128x64 images, no warm-up."""
    tree: dict[str, dict[str, object]] = {
        "data": {
            "format": "folder",
            "root": str(root),
            "height": TEST_HEIGHT,
            "width": TEST_WIDTH,
            "workers": 0,
        },
        "sampler": {"identities": 4, "instances": 4},
        "model": {
            "backbone": "osnet_x0_25",
            "pretrained": None if pretrained is None else str(pretrained),
            "embedding_dim": 512,
        },
        "schedule": {"epochs": 1, "warmup_epochs": 0, "steps": []},
        "eval": {"batch_size": 32},
        "run": {
            "device": "cpu",
            "threads": 1,
            "log_every": 1,
            "checkpoint_every": 1,
            "max_iters_per_epoch": 8,
        },
    }
    for section, values in sections.items():
        tree[section] = {**tree.get(section, {}), **values}
    return parse_train_config(tree)
