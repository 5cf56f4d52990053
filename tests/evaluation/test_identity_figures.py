"""Transfers and splits counted from matched frames, and the video scores built on them."""

from __future__ import annotations

from collections import Counter

from tracker_service.evaluation.identity_figures import (
    identity_figures,
    matched_frames,
    min_frames_for,
)
from tracker_service.evaluation.mot_files import GT_MIN_COLUMNS, parse_mot_lines
from tracker_service.evaluation.video import (
    PROVISIONAL_BASE,
    CameraOutput,
    GroundTruth,
    score_outputs,
)
from tracker_service.types import FrameResult, TrackRecord, TrackState


def rows(lines: list[str], columns: int = 6):  # type: ignore[no-untyped-def]
    return parse_mot_lines(lines, "test", columns)


def test_a_label_that_slides_to_another_person_is_a_transfer() -> None:
    # Person 1 left, person 2 right; output id 7 covers person 1 then person 2.
    gt = [f"{f},1,0,0,10,20,1,-1,-1,-1" for f in range(1, 21)]
    gt += [f"{f},2,100,0,10,20,1,-1,-1,-1" for f in range(1, 21)]
    out = [f"{f},7,0,0,10,20,1,-1,-1,-1" for f in range(1, 11)]
    out += [f"{f},7,100,0,10,20,1,-1,-1,-1" for f in range(11, 21)]
    out += [f"{f},8,100,0,10,20,1,-1,-1,-1" for f in range(1, 11)]
    matched = matched_frames(rows(gt, GT_MIN_COLUMNS), rows(out))
    assert matched == Counter({(7, 1): 10, (7, 2): 10, (8, 2): 10})
    figures = identity_figures(matched, min_frames=5)
    assert (figures.transfers, figures.splits) == (1, 1)
    assert figures.transferred == {7: {1: 10, 2: 10}} and figures.split == {2: {7: 10, 8: 10}}
    # A glitch shorter than the minimum counts for nothing.
    assert identity_figures(matched, min_frames=11).transfers == 0


def test_ignored_ground_truth_and_provisional_ids_are_left_out() -> None:
    gt = rows([f"{f},1,0,0,10,20,0,-1,-1,-1" for f in range(1, 11)], GT_MIN_COLUMNS)
    assert matched_frames(gt, rows([f"{f},3,0,0,10,20,1" for f in range(1, 11)])) == Counter()
    figures = identity_figures(Counter({(5, 1): 10, (9, 1): 10}), 5, ignore_ids=[9])
    assert figures.splits == 0


def test_half_a_second_and_at_least_three_frames() -> None:
    assert min_frames_for(24.0) == 12 and min_frames_for(2.0) == 3


def record(frame: int, track: int, identity: int | None, x: float) -> TrackRecord:
    return TrackRecord(
        frame, frame / 10, track, identity, (x, 0.0, x + 10, 20.0), 0.9, TrackState.CONFIRMED
    )


def test_boxes_without_an_identity_are_scored_under_a_provisional_id() -> None:
    output = CameraOutput(0)
    for frame in range(20):
        identity = None if frame < 3 else 42
        output.add(FrameResult(frame, frame / 10, (record(frame, 1, identity, 0.0),), 1, 0))
    truth = GroundTruth(
        "seq", rows([f"{f},1,0,0,10,20,1,-1,-1,-1" for f in range(1, 21)], GT_MIN_COLUMNS), 20
    )
    scores = score_outputs([truth], [output], fps=10.0)
    assert scores.by_track.idf1 == 1.0
    assert scores.by_identity.id_switches == 1 and 0.8 < scores.by_identity.idf1 < 1.0
    assert scores.identity_count == 1 and scores.identities.splits == 0


def test_after_merges_a_provisional_identity_counts_as_the_one_it_joined() -> None:
    # One person, shown as identity 5 for ten frames, then (folded into 3) as identity 3.
    output = CameraOutput(0)
    for frame in range(20):
        output.add(
            FrameResult(frame, frame / 10, (record(frame, 1, 5 if frame < 10 else 3, 0.0),), 1, 0)
        )
    truth = GroundTruth(
        "seq", rows([f"{f},1,0,0,10,20,1,-1,-1,-1" for f in range(1, 21)], GT_MIN_COLUMNS), 20
    )
    live = score_outputs([truth], [output], fps=10.0)
    assert live.after_merges is None and live.identities.splits == 1
    merged = score_outputs([truth], [output], fps=10.0, canonical={5: 3, 3: 3}.get)
    assert merged.identities.splits == 1  # what was shown live is unchanged
    assert merged.after_merges is not None and merged.after_merges.splits == 0
    assert merged.identity_count_after_merges == 1


def test_in_hindsight_each_track_is_scored_under_its_final_identity() -> None:
    # Track 1 shows no identity, then 5, which is later folded into 3. Track 2 (another
    # person, in view for the first ten frames) ends as 3 too: one identity cannot be two
    # boxes of a frame, so the one listed second in a frame keeps none.
    output = CameraOutput(0)
    for frame in range(20):
        first = record(frame, 1, None if frame < 3 else 5, 0.0)
        second = record(frame, 2, 3, 100.0)
        output.add(
            FrameResult(frame, frame / 10, (first, second) if frame < 10 else (first,), 1, 0)
        )
    gt = [f"{f},1,0,0,10,20,1,-1,-1,-1" for f in range(1, 21)]
    gt += [f"{f},2,100,0,10,20,1,-1,-1,-1" for f in range(1, 11)]
    truth = GroundTruth("seq", rows(gt, GT_MIN_COLUMNS), 20)
    canonical = {5: 3, 3: 3}.get
    live = score_outputs([truth], [output], fps=10.0, canonical=canonical)
    assert live.by_identity.id_switches == 1  # three frames without an identity, then 5
    shown = list(output.identity_lines)
    final = score_outputs([truth], [output], fps=10.0, canonical=canonical, hindsight=True)
    assert output.identity_lines == shown  # scoring leaves the output as it was shown
    relabelled = output.relabelled(canonical)
    by_track: dict[str, set[str]] = {}
    for track_line, identity_line in zip(
        relabelled.track_lines, relabelled.identity_lines, strict=True
    ):
        by_track.setdefault(track_line.split(",")[1], set()).add(identity_line.split(",")[1])
    assert by_track["1"] == {"3"}  # from its first frame, after the merge
    assert final.identity_count == 1
    assert by_track["2"] == {str(PROVISIONAL_BASE + 2)}  # its own provisional id: one box each
    assert final.by_identity.id_switches == 0
