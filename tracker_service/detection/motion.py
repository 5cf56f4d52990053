"""Motion-aware detection: run the detector only when the picture changed.

Most frames of a fixed camera show nothing new (the sample video is empty for more than half
its length), and the detector is ~90 % of a frame's time. `MotionGate.should_detect` compares
each frame, downscaled to `width` pixels, greyed and blurred (so sensor noise and compression
artefacts do not count), with the frame the detector last saw: when fewer than
`min_changed_fraction` of the pixels moved by `pixel_threshold` grey levels, nothing new is
there to find, and the tracks seen on the frame before are carried by the Kalman filter
(`carried_detections`: their predicted boxes stand in for the detector's). Comparing with the last
detected frame rather than the previous frame means slow movement accumulates until it
counts. The detector also runs at least every `refresh_s` seconds whatever the test says, so
what the test misses (a small, slow person far away) is caught within that time, and a person
who stands still keeps their track while one who leaves is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from tracker_service.config_base import StrictModel
from tracker_service.types import Detections, TrackSnapshot, TrackState

Image = NDArray[np.uint8]
BLUR_KERNEL = (5, 5)


class MotionConfig(StrictModel):
    """Motion-aware detection (`detection/motion.py`): the detector runs when the picture
    changed and at least every `refresh_s`; in between, tracks are carried by their Kalman
    filters. Off by default: 2 HOTA points lost on PETS09-S2L1 (benchmarks/RESULTS.md)."""

    cameras: bool = Field(False, description="gate the detector on live streams")
    files: bool = Field(False, description="gate the detector on uploaded videos and the CLI")
    width: int = Field(160, ge=16, le=1920, description="width of the frame the test compares")
    pixel_threshold: int = Field(20, ge=1, le=255, description="grey change that counts")
    min_changed_fraction: float = Field(0.001, ge=0.0, le=1.0, description="share that is motion")
    refresh_s: float = Field(1.0, gt=0.0, description="the detector looks at least this often")


def motion_thumbnail(frame: Image, width: int) -> Image:
    """The frame as the motion test sees it: `width` wide, grey, blurred."""
    height = max(1, round(frame.shape[0] * width / frame.shape[1]))
    small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    blurred: Image = np.asarray(cv2.GaussianBlur(grey, BLUR_KERNEL, 0), dtype=np.uint8)
    return blurred


def changed_fraction(previous: Image, current: Image, pixel_threshold: int) -> float:
    """Share of pixels whose grey level moved by more than `pixel_threshold`."""
    difference = cv2.absdiff(previous, current)
    return float(np.count_nonzero(difference > pixel_threshold)) / difference.size


class MotionGate:
    """Per stream: decides, frame by frame, whether the detector must look."""

    def __init__(self, config: MotionConfig, fps: float) -> None:
        self.config = config
        self.refresh_frames = max(1, round(config.refresh_s * fps))  # as config.fps_to_frames
        self._reference: Image | None = None  # the thumbnail of the last detected frame
        self._since_detection = 0
        self.detected = 0
        self.skipped = 0

    def should_detect(self, frame: Image) -> bool:
        """True when the detector must run on `frame` (then it becomes the reference)."""
        thumbnail = motion_thumbnail(frame, self.config.width)
        self._since_detection += 1
        run = (
            self._reference is None
            or self._reference.shape != thumbnail.shape
            or self._since_detection >= self.refresh_frames
            or changed_fraction(self._reference, thumbnail, self.config.pixel_threshold)
            >= self.config.min_changed_fraction
        )
        if run:
            self._reference = thumbnail
            self._since_detection = 0
            self.detected += 1
        else:
            self.skipped += 1
        return run

    def forget(self) -> None:
        """The detector did not see the last frame after all (it failed): look at the next."""
        self._reference = None

    @property
    def skipped_share(self) -> float:
        seen = self.detected + self.skipped
        return self.skipped / seen if seen else 0.0


def carried_detections(predicted: Sequence[TrackSnapshot]) -> Detections:
    """What a frame the detector skipped is taken to show: the predicted boxes of the
    confirmed tracks matched on the frame before, with their scores. Matched to them, the
    tracks go on along their motion model instead of going lost; tentative tracks are not
    carried (a box is not confirmed without the detector seeing it)."""
    carried = [
        track
        for track in predicted
        if track.state is TrackState.CONFIRMED and track.frames_since_update == 1
    ]
    if not carried:
        return Detections.empty()
    return Detections(
        np.array([track.xyxy for track in carried], dtype=np.float32),
        np.array([track.score for track in carried], dtype=np.float32),
    )
