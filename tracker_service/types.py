"""Core value types that flow between the pipeline stages.

Everything here is an immutable, validated, array-based value: the detector produces
`Detections`, the tracker consumes them and produces `TrackSnapshot`s, the pipeline turns
those into `TrackRecord`s (with global identities) for the sinks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
Frame = NDArray[np.uint8]  # one BGR image, (H, W, 3)

DEFAULT_FPS = 25.0
# Frame rates outside this range are container or camera noise (0, 1000, 90000...).
_PLAUSIBLE_FPS = (1.0, 240.0)


def sane_fps(claimed: float) -> float:
    """The frame rate a container or camera claims, or `DEFAULT_FPS` if it is absurd."""
    low, high = _PLAUSIBLE_FPS
    return claimed if low <= claimed <= high else DEFAULT_FPS


def _frozen(array: NDArray[np.generic]) -> NDArray[np.generic]:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, slots=True)
class Detections:
    """Person detections of one frame.

    `xyxy` is (N, 4) in pixels, `confidence` (N,). `embeddings` is (N, D) and only rows where
    `embedded` is True hold a real, L2-normalised appearance vector: the re-ID gate decides
    which detections are embedded, the others carry zeros.
    """

    xyxy: FloatArray
    confidence: FloatArray
    embeddings: FloatArray | None = None
    embedded: BoolArray | None = None

    def __post_init__(self) -> None:
        # Copies (np.array, not np.asarray): a value must neither share the caller's buffers
        # (a detector may reuse them next frame) nor freeze them.
        xyxy = np.array(self.xyxy, dtype=np.float32).reshape(-1, 4)
        confidence = np.array(self.confidence, dtype=np.float32).reshape(-1)
        if len(confidence) != len(xyxy):
            raise ValueError(f"{len(xyxy)} boxes but {len(confidence)} confidences")
        if not np.all(np.isfinite(xyxy)):
            raise ValueError("boxes must be finite")
        if np.any(xyxy[:, 2] < xyxy[:, 0]) or np.any(xyxy[:, 3] < xyxy[:, 1]):
            raise ValueError("boxes must be x1 <= x2 and y1 <= y2")
        object.__setattr__(self, "xyxy", _frozen(xyxy))
        object.__setattr__(self, "confidence", _frozen(confidence))
        if (self.embeddings is None) != (self.embedded is None):
            raise ValueError("embeddings and embedded mask come together")
        if self.embeddings is not None and self.embedded is not None:
            embeddings = np.array(self.embeddings, dtype=np.float32)
            embedded = np.array(self.embedded, dtype=bool).reshape(-1)
            if embeddings.ndim != 2 or len(embeddings) != len(xyxy) or len(embedded) != len(xyxy):
                raise ValueError("embeddings must be (N, D) and the mask (N,) for N boxes")
            object.__setattr__(self, "embeddings", _frozen(embeddings))
            object.__setattr__(self, "embedded", _frozen(embedded))

    def __len__(self) -> int:
        return len(self.xyxy)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def subset(self, index: IntArray | BoolArray) -> Detections:
        """Detections at `index` (integer positions or a boolean mask)."""
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            None if self.embeddings is None else self.embeddings[index],
            None if self.embedded is None else self.embedded[index],
        )

    def with_embeddings(self, index: IntArray, vectors: FloatArray) -> Detections:
        """A copy where the detections at `index` carry `vectors` (one row each)."""
        if len(index) != len(vectors):
            raise ValueError(f"{len(index)} indices but {len(vectors)} vectors")
        dim = vectors.shape[1] if vectors.ndim == 2 and len(vectors) else 0
        if self.embeddings is not None and dim and self.embeddings.shape[1] != dim:
            raise ValueError("embedding dimension changed within one frame")
        width = dim or (0 if self.embeddings is None else self.embeddings.shape[1])
        embeddings = (
            np.zeros((len(self), width), np.float32)
            if self.embeddings is None
            else self.embeddings.copy()
        )
        embedded = np.zeros(len(self), bool) if self.embedded is None else self.embedded.copy()
        if len(index):
            embeddings[index] = vectors
            embedded[index] = True
        return replace(self, embeddings=embeddings, embedded=embedded)

    def embedding(self, row: int) -> FloatArray | None:
        if self.embeddings is None or self.embedded is None or not self.embedded[row]:
            return None
        vector: FloatArray = self.embeddings[row]
        return vector


class TrackState(StrEnum):
    """Lifecycle of a track: tentative -> confirmed <-> lost -> removed."""

    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    LOST = "lost"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class TrackSnapshot:
    """What the tracker reports about one track after a frame (no identity yet).

    `detection_index` is the row of this frame's detections it was matched to, or -1 when it
    was not matched (its box is then the Kalman prediction).
    """

    track_id: int
    state: TrackState
    xyxy: tuple[float, float, float, float]
    score: float
    detection_index: int
    hits: int
    age: int
    frames_since_update: int
    refound: bool = False


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """One output row: a track in a frame, resolved to a global identity."""

    frame_index: int
    timestamp_s: float
    track_id: int
    identity_id: int | None
    xyxy: tuple[float, float, float, float]
    score: float
    state: TrackState
    # The identity was decided on the first good views and may still change (it is confirmed
    # or revised once the track has twice as many).
    identity_provisional: bool = False

    @property
    def tlwh(self) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = self.xyxy
        return (x1, y1, x2 - x1, y2 - y1)

    def to_dict(self) -> dict[str, object]:
        """One track of a frame as `tracks.jsonl` writes it (the frame's number and time
        belong to the frame: said once a line, not in every track)."""
        return self.track_fields()

    def track_fields(self, **extra: object) -> dict[str, object]:
        """The track's own fields, as every output writes them (files and live events);
        `extra` fields (a live event's label) follow the identity."""
        return {
            "class": "person",
            "identity_id": self.identity_id,
            "identity_provisional": self.identity_provisional,
            **extra,
            "track_id": self.track_id,
            "box_xyxy": [round(v, 2) for v in self.xyxy],
            "score": round(self.score, 4),
            "state": self.state.value,
        }


@dataclass(frozen=True, slots=True)
class FrameResult:
    """Everything the pipeline knows about one processed frame."""

    frame_index: int
    timestamp_s: float
    tracks: tuple[TrackRecord, ...]
    detections: int
    embedded: int
    appeared: tuple[int, ...] = ()
    left: tuple[int, ...] = ()
    # The detector's boxes that no shown track took, as (x1, y1, x2, y2, score): a file run's
    # hindsight starts new tracks on them where the detector first saw them.
    unshown: tuple[tuple[float, float, float, float, float], ...] = ()
