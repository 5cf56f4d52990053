"""Transfers and splits: the identity errors users notice, counted against ground truth.

Every frame, ground-truth boxes (those TrackEval scores: flag column 7 not 0) and the
output's boxes are matched one to one by the Hungarian method on IoU, keeping pairs with
IoU >= 0.5 (the threshold of CLEAR and IDF1). Over the whole video (and over every camera
when several are scored together, where ground-truth ids name the same person on all of
them) each (output id, ground-truth id) pair gets the number of frames it was matched in.
A pair *counts* when it covers at least `min_frames` frames, so that a box that glides onto
a passer-by for a frame or two during a crossing (already an ID switch in CLEAR) does not
make a transfer on its own.

* a **transfer** is an output id that counts for two or more ground-truth people: one
  identity given to different people (a label that slid from one person to another);
* a **split** is a ground-truth person for whom two or more output ids count: one person
  given several identities (a return that was not recognised, a track broken and not joined).

Scored on global identities these are the figures of the identity layer; scored on track
ids, a split is also every re-entry (tracks never join across a gap by design).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracker_service.evaluation.mot_files import MotRows
from tracker_service.tracking.association import iou_matrix

MATCH_IOU = 0.5
# Half a second of video, and never fewer than 3 frames: long enough that a box sliding over
# a passer-by during one crossing is not a transfer, short enough that a real one is.
MIN_SECONDS = 0.5
MIN_FRAMES_FLOOR = 3


def min_frames_for(fps: float) -> int:
    return max(MIN_FRAMES_FLOOR, round(MIN_SECONDS * fps))


@dataclass(frozen=True, slots=True)
class IdentityFigures:
    """Transfers and splits, with which ids are involved and for how many frames."""

    min_frames: int
    transfers: int
    splits: int
    # output id -> {gt id: frames} for each transfer; gt id -> {output id: frames} per split
    transferred: Mapping[int, Mapping[int, int]]
    split: Mapping[int, Mapping[int, int]]
    output_ids: int
    gt_ids: int

    def to_dict(self) -> dict[str, object]:
        return {
            "min_frames": self.min_frames,
            "transfers": self.transfers,
            "splits": self.splits,
            "output_ids": self.output_ids,
            "gt_ids": self.gt_ids,
            "transferred": {
                str(k): {str(g): n for g, n in v.items()} for k, v in self.transferred.items()
            },
            "split": {str(k): {str(o): n for o, n in v.items()} for k, v in self.split.items()},
        }


def matched_frames(ground_truth: MotRows, results: MotRows) -> Counter[tuple[int, int]]:
    """(output id, gt id) -> frames in which the two were matched (IoU >= 0.5, Hungarian)."""
    pairs: Counter[tuple[int, int]] = Counter()
    scored = ground_truth.confidence != 0
    gt_by_frame = _rows_by_frame(ground_truth.frames, scored)
    out_by_frame = _rows_by_frame(results.frames, np.ones(len(results), dtype=bool))
    for frame, gt_rows in gt_by_frame.items():
        out_rows = out_by_frame.get(frame)
        if out_rows is None:
            continue
        iou = iou_matrix(_xyxy(results.tlwh[out_rows]), _xyxy(ground_truth.tlwh[gt_rows]))
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols, strict=True):
            if iou[r, c] >= MATCH_IOU:
                pairs[(int(results.ids[out_rows[r]]), int(ground_truth.ids[gt_rows[c]]))] += 1
    return pairs


def identity_figures(
    matched: Counter[tuple[int, int]], min_frames: int, ignore_ids: Sequence[int] = ()
) -> IdentityFigures:
    """Transfers and splits from matched frame counts (of one or several cameras summed).

    `ignore_ids` are output ids left out of both figures (boxes shown before their identity
    was decided, scored under a provisional id of their track).
    """
    ignored = set(ignore_ids)
    by_output: dict[int, dict[int, int]] = defaultdict(dict)
    by_gt: dict[int, dict[int, int]] = defaultdict(dict)
    for (output_id, gt_id), frames in matched.items():
        if frames < min_frames or output_id in ignored:
            continue
        by_output[output_id][gt_id] = frames
        by_gt[gt_id][output_id] = frames
    transferred = {k: v for k, v in sorted(by_output.items()) if len(v) >= 2}
    split = {k: v for k, v in sorted(by_gt.items()) if len(v) >= 2}
    return IdentityFigures(
        min_frames=min_frames,
        transfers=len(transferred),
        splits=len(split),
        transferred=transferred,
        split=split,
        output_ids=len({o for o, _ in matched if o not in ignored}),
        gt_ids=len({g for _, g in matched}),
    )


def _rows_by_frame(frames: np.ndarray, keep: np.ndarray) -> dict[int, np.ndarray]:
    grouped: dict[int, list[int]] = defaultdict(list)
    for row in np.flatnonzero(keep):
        grouped[int(frames[row])].append(int(row))
    return {frame: np.array(rows) for frame, rows in grouped.items()}


def _xyxy(tlwh: np.ndarray) -> np.ndarray:
    boxes = np.asarray(tlwh, dtype=np.float64).reshape(-1, 4).copy()
    boxes[:, 2:] += boxes[:, :2]
    return boxes
