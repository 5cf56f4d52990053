"""The scores of one sequence (or of several combined), taken from TrackEval's results.

Rates are fractions in [0, 1] (MOTA can be negative); HOTA and its parts are the mean over
TrackEval's 19 localisation thresholds (alpha = 0.05 .. 0.95), as TrackEval reports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tracker_service.evaluation.sequences import Benchmark

# TrackEval's result dicts, keyed by metric class name ("HOTA", "CLEAR", "Identity", "Count").
TrackEvalResult = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class TrackingMetrics:
    """HOTA, CLEAR (MOTA...) and identity (IDF1...) metrics, with the counts behind them."""

    hota: float
    deta: float
    assa: float
    detre: float
    detpr: float
    assre: float
    asspr: float
    loca: float
    mota: float
    motp: float
    idf1: float
    idr: float
    idp: float
    recall: float
    precision: float
    id_switches: int
    fragmentations: int
    mostly_tracked: int
    partially_tracked: int
    mostly_lost: int
    true_positives: int
    false_positives: int
    false_negatives: int
    gt_ids: int
    predicted_ids: int
    gt_detections: int
    predicted_detections: int

    @classmethod
    def from_trackeval(cls, result: TrackEvalResult) -> TrackingMetrics:
        hota, clear, identity, count = (
            result["HOTA"],
            result["CLEAR"],
            result["Identity"],
            result["Count"],
        )
        return cls(
            hota=_alpha_mean(hota["HOTA"]),
            deta=_alpha_mean(hota["DetA"]),
            assa=_alpha_mean(hota["AssA"]),
            detre=_alpha_mean(hota["DetRe"]),
            detpr=_alpha_mean(hota["DetPr"]),
            assre=_alpha_mean(hota["AssRe"]),
            asspr=_alpha_mean(hota["AssPr"]),
            loca=_alpha_mean(hota["LocA"]),
            mota=float(clear["MOTA"]),
            motp=float(clear["MOTP"]),
            idf1=float(identity["IDF1"]),
            idr=float(identity["IDR"]),
            idp=float(identity["IDP"]),
            recall=float(clear["CLR_Re"]),
            precision=float(clear["CLR_Pr"]),
            id_switches=_count(clear["IDSW"]),
            fragmentations=_count(clear["Frag"]),
            mostly_tracked=_count(clear["MT"]),
            partially_tracked=_count(clear["PT"]),
            mostly_lost=_count(clear["ML"]),
            true_positives=_count(clear["CLR_TP"]),
            false_positives=_count(clear["CLR_FP"]),
            false_negatives=_count(clear["CLR_FN"]),
            gt_ids=_count(count["GT_IDs"]),
            predicted_ids=_count(count["IDs"]),
            gt_detections=_count(count["GT_Dets"]),
            predicted_detections=_count(count["Dets"]),
        )

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SequenceReport:
    """The metrics of one sequence and how TrackEval read its ground truth."""

    name: str
    benchmark: Benchmark
    frames: int
    metrics: TrackingMetrics

    def to_dict(self) -> dict[str, object]:
        return {
            "benchmark": self.benchmark.value,
            "frames": self.frames,
            **self.metrics.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """Per-sequence metrics and their combination over all sequences (TrackEval's COMBINED)."""

    sequences: tuple[SequenceReport, ...]
    combined: TrackingMetrics
    skipped: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return {
            "sequences": {report.name: report.to_dict() for report in self.sequences},
            "combined": self.combined.to_dict(),
            "skipped": list(self.skipped),
        }


def _alpha_mean(values: Any) -> float:
    return float(np.mean(values))


def _count(value: Any) -> int:
    return round(float(value))
