"""Scoring with TrackEval's own code (the PyPI `trackeval` package, 1.3.0).

The validated sequences are written, normalised, into a temporary folder laid out as
TrackEval's `MotChallenge2DBox` dataset expects; that class reads them and applies the
benchmark's preprocessing (MOT15: drop ground truth flagged 0; MOT16+: pedestrians only,
tracker boxes on distractors removed), then TrackEval's HOTA, CLEAR, Identity and Count
metric classes score each sequence and combine them, as `trackeval.Evaluator` does, without
its printing, timing and output files.

Normalisation: ids are renumbered densely per sequence (TrackEval sizes arrays by the
largest id), numbers are written with 17 significant digits (exact for float64), results
get class -1 (TrackEval rejects tracker classes above 1) and the sequence length is passed
explicitly.

TrackEval 1.3.0 (the kovalp/TrackEval fork published on PyPI) runs on NumPy 2 as is: it no
longer uses the removed `np.float`/`np.int` aliases, so no workaround is needed here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import groupby
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import trackeval
from trackeval.utils import TrackEvalException

from tracker_service.evaluation.errors import EvaluationError
from tracker_service.evaluation.mot_files import IntArray, MotRows
from tracker_service.evaluation.sequences import Benchmark, SequenceData

TrackEvalResults = dict[str, dict[str, Any]]  # metric class name -> TrackEval's result dict

_TRACKER = "results"
_CLASS = "pedestrian"
_NO_CLASS = -1
_IOU_THRESHOLD = 0.5  # CLEAR and Identity: a match needs IoU >= 0.5 (the benchmark's value)
_FLOAT = "%.17g"
_GT_FORMAT = ["%d", "%d", _FLOAT, _FLOAT, _FLOAT, _FLOAT, _FLOAT, "%d", _FLOAT]
_RESULTS_FORMAT = ["%d", "%d", _FLOAT, _FLOAT, _FLOAT, _FLOAT, _FLOAT, "%d", "%d", "%d"]


def run_trackeval(
    sequences: Sequence[SequenceData],
) -> tuple[dict[str, TrackEvalResults], TrackEvalResults]:
    """TrackEval's results for each sequence (by name) and for all of them combined."""
    _check_names(sequences)
    metrics = _metrics()
    per_sequence: dict[str, TrackEvalResults] = {}
    with TemporaryDirectory(prefix="trackeval-") as folder:
        root = Path(folder)
        for sequence in sequences:
            _write_sequence(root, sequence)
        for benchmark, group in _by_benchmark(sequences):
            dataset = _dataset(root, benchmark, group)
            for sequence in group:
                per_sequence[sequence.name] = _score(dataset, sequence.name, metrics)
    combined = {
        name: metric.combine_sequences({seq: res[name] for seq, res in per_sequence.items()})
        for name, metric in metrics.items()
    }
    return per_sequence, combined


def _check_names(sequences: Sequence[SequenceData]) -> None:
    if not sequences:
        raise EvaluationError("no sequences to evaluate")
    names = [sequence.name for sequence in sequences]
    for name in names:
        if not name or Path(name).name != name or name in {".", ".."}:
            raise EvaluationError(f"invalid sequence name {name!r}")
    if len(set(names)) != len(names):
        raise EvaluationError(f"sequence names repeat: {sorted(names)}")


def _metrics() -> dict[str, Any]:
    quiet_threshold = {"THRESHOLD": _IOU_THRESHOLD, "PRINT_CONFIG": False}
    metrics = [
        trackeval.metrics.HOTA(),
        trackeval.metrics.CLEAR(dict(quiet_threshold)),
        trackeval.metrics.Identity(dict(quiet_threshold)),
        trackeval.metrics.Count(),
    ]
    return {metric.get_name(): metric for metric in metrics}


def _by_benchmark(
    sequences: Sequence[SequenceData],
) -> Iterator[tuple[Benchmark, list[SequenceData]]]:
    ordered = sorted(sequences, key=lambda sequence: sequence.benchmark.value)
    for benchmark, group in groupby(ordered, key=lambda sequence: sequence.benchmark):
        yield benchmark, list(group)


def _dataset(root: Path, benchmark: Benchmark, group: list[SequenceData]) -> Any:
    config = {
        "GT_FOLDER": str(root / "gt"),
        "TRACKERS_FOLDER": str(root / "trackers"),
        "OUTPUT_FOLDER": str(root / "output"),
        "TRACKERS_TO_EVAL": [_TRACKER],
        "TRACKER_SUB_FOLDER": "",
        "CLASSES_TO_EVAL": [_CLASS],
        "BENCHMARK": benchmark.value,
        "SKIP_SPLIT_FOL": True,
        "SEQ_INFO": {sequence.name: sequence.length for sequence in group},
        "DO_PREPROC": True,
        "PRINT_CONFIG": False,
    }
    try:
        return trackeval.datasets.MotChallenge2DBox(config)
    except TrackEvalException as exc:
        raise EvaluationError(f"TrackEval could not set up the {benchmark} data: {exc}") from exc


def _score(dataset: Any, name: str, metrics: dict[str, Any]) -> TrackEvalResults:
    try:
        raw = dataset.get_raw_seq_data(_TRACKER, name)
        data = dataset.get_preprocessed_seq_data(raw, _CLASS)
        return {metric_name: metric.eval_sequence(data) for metric_name, metric in metrics.items()}
    except TrackEvalException as exc:
        raise EvaluationError(f"TrackEval rejected sequence {name!r}: {exc}") from exc


def _write_sequence(root: Path, sequence: SequenceData) -> None:
    gt_path = root / "gt" / sequence.name / "gt" / "gt.txt"
    results_path = root / "trackers" / _TRACKER / f"{sequence.name}.txt"
    _write(gt_path, _ground_truth_table(sequence), _GT_FORMAT)
    _write(results_path, _results_table(sequence.results), _RESULTS_FORMAT)


def _ground_truth_table(sequence: SequenceData) -> np.ndarray[Any, np.dtype[np.float64]]:
    rows = sequence.ground_truth
    no_class = sequence.benchmark is Benchmark.MOT15
    classes = np.full(len(rows), _NO_CLASS, np.float64) if no_class else rows.extra[:, 0]
    visibility = np.nan_to_num(rows.extra[:, 1], nan=1.0)
    return np.column_stack(
        [rows.frames, _dense(rows.ids), rows.tlwh, rows.confidence, classes, visibility]
    ).astype(np.float64)


def _results_table(rows: MotRows) -> np.ndarray[Any, np.dtype[np.float64]]:
    unused = np.full((len(rows), 3), _NO_CLASS, np.float64)
    return np.column_stack(
        [rows.frames, _dense(rows.ids), rows.tlwh, rows.confidence, unused]
    ).astype(np.float64)


def _dense(ids: IntArray) -> IntArray:
    """Ids renumbered 0..k-1 in the same order (one-to-one, so per-frame uniqueness holds)."""
    inverse: IntArray = np.unique(ids, return_inverse=True)[1].astype(np.int64)
    return inverse


def _write(path: Path, table: np.ndarray[Any, np.dtype[np.float64]], fmt: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(table):
        np.savetxt(path, table, fmt=fmt, delimiter=",")
    else:
        path.write_text("")
