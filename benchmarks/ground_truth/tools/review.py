"""Shared by the review renderers (sheet.py, crop.py, pair.py): MOT rows and chosen frames."""

from pathlib import Path

import cv2
import numpy as np

Box = tuple[int, float, float, float, float, float]  # id, left, top, width, height, score


def load_mot(path: str | None) -> dict[int, list[Box]]:
    """MOT rows by frame; a missing 7th column reads as score 1."""
    by_frame: dict[int, list[Box]] = {}
    if not path:
        return by_frame
    for line in Path(path).read_text().splitlines():
        v = line.strip().split(",")
        if len(v) < 6:
            continue
        score = float(v[6]) if len(v) > 6 else 1.0
        left, top, width, height = map(float, v[2:6])
        by_frame.setdefault(int(float(v[0])), []).append(
            (int(float(v[1])), left, top, width, height, score)
        )
    return by_frame


def read_frames(video: str | Path, frames: list[int]) -> dict[int, np.ndarray]:
    """The requested frames (1-based) of a video, decoded in order."""
    capture = cv2.VideoCapture(str(video))
    wanted, images, index = set(frames), {}, 0
    while wanted - set(images):
        ok, image = capture.read()
        if not ok:
            break
        index += 1
        if index in wanted:
            images[index] = image
    capture.release()
    return images
