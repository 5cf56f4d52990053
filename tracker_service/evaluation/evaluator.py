"""Evaluate tracking results against MOTChallenge ground truth with TrackEval's metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tracker_service.evaluation.metrics import EvaluationReport, SequenceReport, TrackingMetrics
from tracker_service.evaluation.sequences import (
    Benchmark,
    MissingPolicy,
    SequenceData,
    load_sequences,
)
from tracker_service.evaluation.trackeval_bridge import run_trackeval


def evaluate(sequences: Sequence[SequenceData], skipped: Sequence[str] = ()) -> EvaluationReport:
    """Score each sequence and all of them combined (see `prepare_sequence` to build them)."""
    per_sequence, combined = run_trackeval(sequences)
    reports = tuple(
        SequenceReport(
            name=sequence.name,
            benchmark=sequence.benchmark,
            frames=sequence.length,
            metrics=TrackingMetrics.from_trackeval(per_sequence[sequence.name]),
        )
        for sequence in sequences
    )
    return EvaluationReport(reports, TrackingMetrics.from_trackeval(combined), tuple(skipped))


def evaluate_folders(
    gt_dir: Path,
    results_dir: Path,
    missing: MissingPolicy = "error",
    benchmark: Benchmark | None = None,
) -> EvaluationReport:
    """Score `results_dir/<seq>.txt` against `gt_dir/<seq>/gt/gt.txt` for every sequence."""
    sequences, skipped = load_sequences(gt_dir, results_dir, missing, benchmark)
    return evaluate(sequences, skipped)
