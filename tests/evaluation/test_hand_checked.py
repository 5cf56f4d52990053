"""Tiny sequences whose metrics are worked out by hand, scored through TrackEval.

Boxes are 10x10 at the same place unless said otherwise, so every match has IoU 1 and passes
all of HOTA's 19 localisation thresholds (alpha = 0.05 .. 0.95).
"""

from __future__ import annotations

import math

import pytest

from tracker_service.evaluation import (
    GT_MIN_COLUMNS,
    RESULTS_MIN_COLUMNS,
    Benchmark,
    EvaluationError,
    MotFormatError,
    MotRows,
    TrackingMetrics,
    evaluate,
    parse_mot_lines,
    prepare_sequence,
)


def gt15(*rows: str) -> MotRows:
    """MOT15 ground truth: `frame,id,left,top,w,h,flag` + world coordinates (10 columns)."""
    return parse_mot_lines([f"{row},-1,-1,-1" for row in rows], "gt.txt", GT_MIN_COLUMNS)


def results(*rows: str) -> MotRows:
    return parse_mot_lines([f"{row},1,-1,-1,-1" for row in rows], "seq.txt", RESULTS_MIN_COLUMNS)


def score(ground_truth: MotRows, tracked: MotRows, length: int | None = None) -> TrackingMetrics:
    report = evaluate([prepare_sequence("seq", ground_truth, tracked, length)])
    assert report.combined == report.sequences[0].metrics
    return report.combined


def test_results_equal_to_ground_truth_score_100_percent() -> None:
    boxes = [f"{frame},{pid},{20 * pid},5,10,20" for frame in (1, 2, 3) for pid in (1, 2)]
    m = score(gt15(*(f"{row},1" for row in boxes)), results(*boxes))
    assert (m.hota, m.deta, m.assa, m.mota, m.motp, m.idf1) == (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert (m.id_switches, m.fragmentations, m.false_positives, m.false_negatives) == (0, 0, 0, 0)
    assert (m.mostly_tracked, m.mostly_lost, m.gt_ids, m.predicted_ids) == (2, 0, 2, 2)


def test_one_id_switch() -> None:
    # One person for 4 frames; the tracker calls it 1 in frames 1-2 and 2 in frames 3-4.
    ground_truth = gt15(*(f"{frame},7,0,0,10,10,1" for frame in (1, 2, 3, 4)))
    tracked = results("1,1,0,0,10,10", "2,1,0,0,10,10", "3,2,0,0,10,10", "4,2,0,0,10,10")
    m = score(ground_truth, tracked)
    # CLEAR: TP 4, FP 0, FN 0, IDSW 1 -> MOTA = (4 - 0 - 1) / 4.
    assert m.id_switches == 1
    assert m.mota == 0.75
    # Identity: gt 7 <-> track 1 (or 2) shares 2 frames: IDTP 2, IDFP 2, IDFN 2 -> 2 / (2+1+1).
    assert (m.idf1, m.idp, m.idr) == (0.5, 0.5, 0.5)
    # HOTA: DetA 1; each of the 4 matches has Ass-IoU 2 / (4 + 2 - 2) -> AssA 0.5.
    assert (m.deta, m.assa) == (1.0, 0.5)
    assert m.hota == pytest.approx(math.sqrt(0.5), abs=1e-15)
    assert m.fragmentations == 0


def test_a_missed_frame_is_a_fragmentation() -> None:
    # Person 1 is missed in frame 3, where the tracker reports only a box far away (id 9).
    ground_truth = gt15(*(f"{frame},1,0,0,10,10,1" for frame in (1, 2, 3, 4)))
    tracked = results("1,5,0,0,10,10", "2,5,0,0,10,10", "3,9,90,90,10,10", "4,5,0,0,10,10")
    m = score(ground_truth, tracked)
    assert (m.true_positives, m.false_negatives, m.false_positives) == (3, 1, 1)
    assert (m.id_switches, m.fragmentations) == (0, 1)
    assert m.mota == 0.5  # (3 - 1 - 0) / 4
    assert m.idf1 == 0.75  # IDTP 3, IDFN 1, IDFP 1
    # DetA 3 / (3 + 1 + 1); AssA: 3 matches of Ass-IoU 3 / (4 + 3 - 3) = 0.75.
    assert (m.deta, m.assa) == pytest.approx((0.6, 0.75), abs=1e-15)
    assert m.hota == pytest.approx(math.sqrt(0.6 * 0.75), abs=1e-15)
    assert (m.mostly_tracked, m.partially_tracked) == (0, 1)  # tracked 75%, MT needs > 80%


def test_a_frame_without_any_tracker_box_does_not_fragment() -> None:
    # TrackEval's CLEAR skips a frame where the tracker reports nothing before it forgets the
    # previous matches, so such a gap is not counted as a fragmentation (by the usual
    # definition, tracked-missed-tracked, it is one). Pinned so that a change is noticed.
    ground_truth = gt15(*(f"{frame},1,0,0,10,10,1" for frame in (1, 2, 3, 4)))
    tracked = results("1,5,0,0,10,10", "2,5,0,0,10,10", "4,5,0,0,10,10")
    m = score(ground_truth, tracked)
    assert (m.true_positives, m.false_negatives, m.false_positives) == (3, 1, 0)
    assert (m.id_switches, m.fragmentations) == (0, 0)
    assert m.mota == 0.75


def test_hota_averages_over_localisation_thresholds() -> None:
    # IoU 0.62 (10x6.2 inside 10x10): a match for alpha 0.05 .. 0.60 (12 of 19), a miss and a
    # false positive above; CLEAR and identity match at IoU >= 0.5.
    m = score(gt15("1,1,0,0,10,10,1"), results("1,1,0,0,10,6.2"))
    assert m.hota == pytest.approx(12 / 19, abs=1e-12)
    assert m.deta == pytest.approx(12 / 19, abs=1e-12)
    assert (m.mota, m.idf1) == (1.0, 1.0)
    assert m.motp == pytest.approx(0.62, abs=1e-12)


def test_mot15_ignored_ground_truth_is_dropped_and_tracks_on_it_are_false_positives() -> None:
    # Person 2 is flagged 0 (ignore). TrackEval's MOT15 mode only drops such boxes from the
    # ground truth: a tracker box on them is a false positive, as in py-motmetrics.
    ground_truth = gt15("1,1,0,0,10,10,1", "1,2,50,0,10,10,0", "2,1,0,0,10,10,1")
    tracked = results("1,1,0,0,10,10", "1,2,50,0,10,10", "2,1,0,0,10,10")
    m = score(ground_truth, tracked)
    assert (m.gt_detections, m.gt_ids) == (2, 1)
    assert (m.true_positives, m.false_positives, m.false_negatives) == (2, 1, 0)
    assert m.mota == 0.5


def test_mot17_only_pedestrians_count_and_distractor_matches_are_removed() -> None:
    # 9-column MOT17 ground truth: pedestrian (class 1), a static person (class 7, a
    # distractor) and a car (class 3, flag 0). Tracking all three: the box on the static person
    # is removed before scoring, the one on the car stays a false positive.
    ground_truth = parse_mot_lines(
        [
            "1,1,0,0,10,10,1,1,1.0",
            "1,2,50,0,10,10,0,7,0.4",
            "1,3,100,0,10,10,0,3,1.0",
        ],
        "gt.txt",
        GT_MIN_COLUMNS,
    )
    tracked = results("1,1,0,0,10,10", "1,2,50,0,10,10", "1,3,100,0,10,10")
    sequence = prepare_sequence("MOT17-02", ground_truth, tracked)
    assert sequence.benchmark is Benchmark.MOT17
    m = evaluate([sequence]).combined
    assert (m.gt_detections, m.predicted_detections) == (1, 2)
    assert (m.true_positives, m.false_positives) == (1, 1)
    assert m.precision == 0.5


def test_empty_results_are_all_misses() -> None:
    m = score(gt15("1,1,0,0,10,10,1", "2,1,0,0,10,10,1"), results(), length=3)
    assert (m.false_negatives, m.true_positives, m.mota, m.hota, m.idf1) == (2, 0, 0.0, 0.0, 0.0)
    assert m.mostly_lost == 1


def test_sequences_combine_by_summing_counts() -> None:
    perfect = prepare_sequence("a", gt15("1,1,0,0,10,10,1"), results("1,1,0,0,10,10"))
    missed = prepare_sequence("b", gt15("1,1,0,0,10,10,1"), results(), length=1)
    report = evaluate([perfect, missed])
    assert [sequence.metrics.mota for sequence in report.sequences] == [1.0, 0.0]
    assert report.combined.mota == 0.5  # (1 TP) / (2 gt boxes), not the mean of the rates
    assert (report.combined.true_positives, report.combined.false_negatives) == (1, 1)


def test_benchmark_follows_the_ground_truth_columns() -> None:
    mot15 = gt15("1,1,0,0,10,10,1")
    mot17 = parse_mot_lines(["1,1,0,0,10,10,1,1,0.5"], "gt.txt", GT_MIN_COLUMNS)
    empty = results()
    assert prepare_sequence("x", mot15, empty).benchmark is Benchmark.MOT15
    assert prepare_sequence("x", mot17, empty).benchmark is Benchmark.MOT17
    assert prepare_sequence("MOT20-01", mot17, empty).benchmark is Benchmark.MOT20
    forced = prepare_sequence("x", mot17, empty, benchmark=Benchmark.MOT16)
    assert forced.benchmark is Benchmark.MOT16


def test_mixed_column_counts_in_ground_truth_are_an_error() -> None:
    mixed = parse_mot_lines(
        ["1,1,0,0,10,10,1,1,1", "2,1,0,0,10,10,1,-1,-1,-1"], "gt.txt", GT_MIN_COLUMNS
    )
    with pytest.raises(MotFormatError, match=r"^gt\.txt:2: 10 columns here but 9 on line 1"):
        prepare_sequence("x", mixed, results())


def test_mot17_ground_truth_needs_valid_classes() -> None:
    bad = parse_mot_lines(["1,1,0,0,10,10,1,1,1", "1,2,0,0,10,10,1,14,1"], "gt.txt", 7)
    with pytest.raises(MotFormatError, match=r"^gt\.txt:2: column 8 must be a MOTChallenge"):
        prepare_sequence("x", bad, results())


def test_frames_beyond_the_sequence_length_are_an_error() -> None:
    with pytest.raises(MotFormatError, match=r"^seq\.txt:2: frame 4 is beyond the sequence's 3"):
        prepare_sequence("x", gt15("1,1,0,0,10,10,1"), results("1,1,0,0,5,5", "4,1,0,0,5,5"), 3)


def test_large_and_negative_ids_are_fine() -> None:
    boxes = ["1,-3,0,0,10,10", "1,9000000000000,30,0,10,10", "2,-3,0,0,10,10"]
    m = score(gt15(*(f"{row},1" for row in boxes)), results(*boxes))
    assert (m.hota, m.mota, m.idf1) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("names", [[], ["a", "a"], ["../a"], [""]])
def test_sequence_names_must_be_unique_file_names(names: list[str]) -> None:
    sequences = [prepare_sequence(name, gt15("1,1,0,0,10,10,1"), results()) for name in names]
    with pytest.raises(EvaluationError):
        evaluate(sequences)
