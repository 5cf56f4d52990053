"""Tracking evaluation: MOTChallenge files in, HOTA / CLEAR / identity metrics out.

The metrics are TrackEval's (its metric and dataset classes do the scoring); this package
reads and validates the files, lays them out for TrackEval and collects its results.
TrackEval (and SciPy behind it) is imported only when `evaluate*` is first used, so that
importing this package for its types and errors stays cheap (the CLI's start-up).
"""

from typing import TYPE_CHECKING, Any

from tracker_service.evaluation.errors import (
    EvaluationError,
    MissingResultsError,
    MotFormatError,
)
from tracker_service.evaluation.metrics import EvaluationReport, SequenceReport, TrackingMetrics
from tracker_service.evaluation.mot_files import (
    GT_MIN_COLUMNS,
    RESULTS_MIN_COLUMNS,
    MotRows,
    SequenceInfo,
    parse_mot_lines,
    read_mot_file,
    read_seqinfo,
)
from tracker_service.evaluation.sequences import (
    MISSING_POLICIES,
    Benchmark,
    MissingPolicy,
    SequenceData,
    find_ground_truth,
    load_sequences,
    prepare_sequence,
)

if TYPE_CHECKING:
    from tracker_service.evaluation.evaluator import evaluate, evaluate_folders

_LAZY = frozenset({"evaluate", "evaluate_folders"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from tracker_service.evaluation import evaluator

        return getattr(evaluator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "GT_MIN_COLUMNS",
    "MISSING_POLICIES",
    "RESULTS_MIN_COLUMNS",
    "Benchmark",
    "EvaluationError",
    "EvaluationReport",
    "MissingPolicy",
    "MissingResultsError",
    "MotFormatError",
    "MotRows",
    "SequenceData",
    "SequenceInfo",
    "SequenceReport",
    "TrackingMetrics",
    "evaluate",
    "evaluate_folders",
    "find_ground_truth",
    "load_sequences",
    "parse_mot_lines",
    "prepare_sequence",
    "read_mot_file",
    "read_seqinfo",
]
