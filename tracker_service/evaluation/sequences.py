"""What one evaluated sequence is made of, and finding sequences on disk.

Ground truth is laid out as MOTChallenge ships it: `GT_DIR/<seq>/gt/gt.txt` with an optional
`GT_DIR/<seq>/seqinfo.ini`; results are `RESULTS_DIR/<seq>.txt`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

import numpy as np

from tracker_service.evaluation.errors import EvaluationError, MissingResultsError, MotFormatError
from tracker_service.evaluation.mot_files import (
    GT_MIN_COLUMNS,
    RESULTS_MIN_COLUMNS,
    MotRows,
    parse_mot_lines,
    read_mot_file,
    read_seqinfo,
)

logger = logging.getLogger(__name__)

MissingPolicy = Literal["error", "skip", "empty"]
MISSING_POLICIES: tuple[MissingPolicy, ...] = ("error", "skip", "empty")
MOT_CLASS_IDS = np.arange(1, 14)  # pedestrian .. crowd, as MOTChallenge numbers them
CLASS_COLUMN_COUNTS = (8, 9)  # MOT16+ ground truth: ..., flag, class[, visibility]


class Benchmark(StrEnum):
    """How TrackEval treats the ground truth (its `BENCHMARK` setting).

    MOT15: boxes whose flag (column 7) is 0 are dropped, nothing else. MOT16/MOT17/MOT20:
    only pedestrians (class 1) with a non-zero flag are scored, and tracker boxes that match a
    distractor (person on vehicle, static person, distractor, reflection; MOT20 adds
    non-motorised vehicles) are removed before scoring, as the benchmark does.
    """

    MOT15 = "MOT15"
    MOT16 = "MOT16"
    MOT17 = "MOT17"
    MOT20 = "MOT20"


@dataclass(frozen=True, slots=True)
class SequenceData:
    """One sequence ready to score: ground truth, results, its length and benchmark."""

    name: str
    ground_truth: MotRows
    results: MotRows
    length: int
    benchmark: Benchmark


@dataclass(frozen=True, slots=True)
class GroundTruthSequence:
    """A sequence found in a ground-truth folder."""

    name: str
    gt_path: Path
    seqinfo_path: Path | None


def prepare_sequence(
    name: str,
    ground_truth: MotRows,
    results: MotRows,
    length: int | None = None,
    benchmark: Benchmark | None = None,
) -> SequenceData:
    """Check that the pieces fit together; `length` and `benchmark` default to what they imply.

    Without `length` the sequence ends at the last frame of either file. Without `benchmark`
    it is what `detect_benchmark` finds. Raises MotFormatError for frames beyond the length
    or, outside MOT15, ground truth without valid classes.
    """
    if length is None:
        length = max(ground_truth.max_frame, results.max_frame, 1)
    for rows in (ground_truth, results):
        _check_frames_within(rows, length)
    chosen = benchmark or detect_benchmark(name, ground_truth)
    if chosen is not Benchmark.MOT15:
        _check_classes(ground_truth)
    return SequenceData(name, ground_truth, results, length, chosen)


def detect_benchmark(name: str, ground_truth: MotRows) -> Benchmark:
    """MOT17 (MOT20 for `MOT20-*` names) for 8-9 column ground truth, else MOT15.

    MOT16 and later ground truth has 9 columns (class, visibility after the flag); MOT15 has
    10 (world coordinates) and no classes.
    """
    with_classes = np.isin(ground_truth.columns, CLASS_COLUMN_COUNTS)
    if len(ground_truth) == 0 or not bool(np.any(with_classes)):
        return Benchmark.MOT15
    if not bool(np.all(with_classes)):
        row = int(np.flatnonzero(with_classes != with_classes[0])[0])
        raise MotFormatError(
            ground_truth.source,
            ground_truth.line_of(row),
            f"{ground_truth.columns[row]} columns here but {ground_truth.columns[0]} on line "
            f"{ground_truth.line_of(0)}: neither MOT15 (10) nor MOT16+ (9) ground truth",
        )
    return Benchmark.MOT20 if name.upper().startswith("MOT20") else Benchmark.MOT17


def _check_frames_within(rows: MotRows, length: int) -> None:
    beyond = np.flatnonzero(rows.frames > length)
    if len(beyond):
        row = int(beyond[0])
        raise MotFormatError(
            rows.source,
            rows.line_of(row),
            f"frame {rows.frames[row]} is beyond the sequence's {length} frames",
        )


def _check_classes(ground_truth: MotRows) -> None:
    classes = ground_truth.extra[:, 0]
    invalid = np.flatnonzero(~np.isin(classes, MOT_CLASS_IDS))
    if len(invalid):
        row = int(invalid[0])
        value = "missing" if np.isnan(classes[row]) else f"{classes[row]:g}"
        raise MotFormatError(
            ground_truth.source,
            ground_truth.line_of(row),
            f"column 8 must be a MOTChallenge class (1-13), got {value}",
        )


def find_ground_truth(gt_dir: Path) -> list[GroundTruthSequence]:
    """The sequences of a MOTChallenge folder (`<seq>/gt/gt.txt`), sorted by name."""
    if not gt_dir.is_dir():
        raise FileNotFoundError(f"ground-truth folder not found: {gt_dir}")
    found = sorted(_ground_truth_in(gt_dir), key=lambda sequence: sequence.name)
    if not found:
        raise EvaluationError(f"no sequences in {gt_dir}: expected <sequence>/gt/gt.txt")
    return found


def _ground_truth_in(gt_dir: Path) -> Iterator[GroundTruthSequence]:
    for folder in gt_dir.iterdir():
        gt_path = folder / "gt" / "gt.txt"
        if gt_path.is_file():
            seqinfo = folder / "seqinfo.ini"
            yield GroundTruthSequence(folder.name, gt_path, seqinfo if seqinfo.is_file() else None)


def load_sequences(
    gt_dir: Path,
    results_dir: Path,
    missing: MissingPolicy = "error",
    benchmark: Benchmark | None = None,
) -> tuple[list[SequenceData], list[str]]:
    """Read every ground-truth sequence of `gt_dir` with its `results_dir/<seq>.txt`.

    A sequence without a results file is an error (`missing="error"`), left out (`"skip"`)
    or scored as an empty result, every box a miss (`"empty"`). Returns the loaded sequences
    and the names of those left out.
    """
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results folder not found: {results_dir}")
    loaded, skipped = [], []
    for sequence in find_ground_truth(gt_dir):
        results_path = results_dir / f"{sequence.name}.txt"
        results = _read_results(sequence.name, results_path, missing)
        if results is None:
            skipped.append(sequence.name)
        else:
            loaded.append(_load_sequence(sequence, results, benchmark))
    if not loaded:
        raise EvaluationError(f"no results in {results_dir} for the sequences of {gt_dir}")
    return loaded, skipped


def _read_results(name: str, path: Path, missing: MissingPolicy) -> MotRows | None:
    if path.is_file():
        return read_mot_file(path, RESULTS_MIN_COLUMNS)
    if missing == "error":
        raise MissingResultsError(name, path)
    logger.info("no results for sequence %s (%s): %s", name, path, missing)
    return parse_mot_lines([], str(path), RESULTS_MIN_COLUMNS) if missing == "empty" else None


def _load_sequence(
    sequence: GroundTruthSequence, results: MotRows, benchmark: Benchmark | None
) -> SequenceData:
    ground_truth = read_mot_file(sequence.gt_path, GT_MIN_COLUMNS)
    length = read_seqinfo(sequence.seqinfo_path).length if sequence.seqinfo_path else None
    return prepare_sequence(sequence.name, ground_truth, results, length, benchmark)
