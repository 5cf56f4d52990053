"""One track's mutable state inside the tracker, and the motion model it owns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from tracker_service.types import TrackSnapshot, TrackState


class MotionModel(Protocol):
    """What the tracker needs of a track's motion filter (`kalman.BoxKalmanFilter`)."""

    def box_xyxy(self) -> NDArray[np.float64]: ...
    def predict(self) -> None: ...
    def update(self, box_xyxy: NDArray[np.floating]) -> None: ...
    def freeze_size_velocity(self) -> None: ...
    def projected(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...


# Builds a track's motion model from its first box (xyxy).
MotionModelFactory = Callable[[NDArray[np.floating]], MotionModel]


@dataclass(slots=True, eq=False)
class Track:
    track_id: int
    kalman: MotionModel
    state: TrackState
    score: float
    hits: int = 1
    age: int = 1
    frames_since_update: int = 0
    detection_index: int = -1
    refound: bool = False

    def snapshot(self, box: Sequence[float] | None = None) -> TrackSnapshot:
        """This track as reported; `box`: its filter's `box_xyxy()` when already read."""
        x1, y1, x2, y2 = self.kalman.box_xyxy().tolist() if box is None else box
        return TrackSnapshot(
            track_id=self.track_id,
            state=self.state,
            xyxy=(x1, y1, x2, y2),
            score=self.score,
            detection_index=self.detection_index,
            hits=self.hits,
            age=self.age,
            frames_since_update=self.frames_since_update,
            refound=self.refound,
        )
