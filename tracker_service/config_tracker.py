"""Settings of the tracker (kept apart from `config` to keep each module small).

How many consecutive hits confirm a new track depends on how often the detector's boxes
that can start a track (score >= `new_track_score`) are false: a track that is confirmed
by N hits is a false one about as often as N false boxes in a row. Measured with the
score-ordered IoU >= 0.5 match of MOTChallenge (ignored regions left out):

* the service's detector (YOLOv8n INT8 OpenVINO) on the shared MOT17-mini frames (39 frames
  of 7 sequences, which no tracking benchmark here is scored on): 93.5 % of its boxes at
  >= 0.6 are people;
* MOT's public Faster R-CNN detections (the six MOT15 sequences' `det.txt`, which SORT used):
  77.3 % of all their boxes (every score is >= 0.5).

Three hits on the public detections (0.227^3 = 1.2 %) and two on the service's detector
(0.065^2 = 0.4 %) bound false starts alike; a third hit would only delay every real person
by a frame (on people-detection.mp4, where people walk in at the edges, a frame each).
Detections read from a file (`track-mot`) are of unknown precision: they keep three.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from tracker_service.config_base import StrictModel

CONFIRM_HITS_OWN_DETECTOR = 2
CONFIRM_HITS_FILE_DETECTIONS = 3


class TrackerConfig(StrictModel):
    """Kalman + Hungarian tracker with two-stage (ByteTrack-style) association."""

    high_score: float = Field(0.5, ge=0.0, le=1.0, description="first-stage detections")
    low_score: float = Field(0.1, ge=0.0, le=1.0, description="second-stage detections")
    new_track_score: float = Field(0.6, ge=0.0, le=1.0, description="score to start a track")
    iou_buffer: float = Field(
        0.2,
        ge=0.0,
        le=2.0,
        description="boxes grow by this share of their size on each side before IoU (C-BIoU)",
    )
    first_stage_min_iou: float = Field(0.2, ge=0.0, le=1.0)
    second_stage_min_iou: float = Field(0.5, ge=0.0, le=1.0)
    tentative_min_iou: float = Field(0.3, ge=0.0, le=1.0)
    confirm_hits: int | None = Field(
        None,
        ge=1,
        description="consecutive hits before a track is confirmed; unset: for the detector "
        f"({CONFIRM_HITS_OWN_DETECTOR} with the service's own detector, "
        f"{CONFIRM_HITS_FILE_DETECTIONS} for detections read from a file)",
    )
    lost_buffer_s: float = Field(2.0, ge=0.0, description="how long a lost track can be re-found")
    gating_chi2: float = Field(
        9.4877, gt=0.0, description="Mahalanobis gate on (x, y, w, h): chi2 0.95 with 4 dof"
    )
    appearance_max_distance: float = Field(
        0.2, ge=0.0, le=2.0, description="cosine distance up to which looks favour a pair"
    )
    appearance_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="share of appearance in the fused cost when available"
    )
    lost_reid_min_similarity: float = Field(
        0.8, ge=-1.0, le=1.0, description="cosine similarity to re-find a lost track by looks"
    )
    max_tracks: int = Field(1024, ge=1, description="hard bound on live tracks")

    def hits_to_confirm(self) -> int:
        """`confirm_hits`, or for detections of unknown precision (read from a file)."""
        return self.confirm_hits or CONFIRM_HITS_FILE_DETECTIONS

    def for_own_detector(self) -> TrackerConfig:
        """These settings for the service's own detector: `confirm_hits` for its precision."""
        if self.confirm_hits is not None:
            return self
        return self.model_copy(update={"confirm_hits": CONFIRM_HITS_OWN_DETECTOR})

    @model_validator(mode="after")
    def _score_order(self) -> TrackerConfig:
        if self.low_score > self.high_score:
            raise ValueError("low_score must not exceed high_score")
        return self
