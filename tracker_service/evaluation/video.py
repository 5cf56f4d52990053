"""End-to-end evaluation on video: the pipeline's output scored against ground truth.

One or more cameras (a video and its MOTChallenge ground truth each) run through their own
`StreamPipeline`, frame by frame in step (as synchronised cameras do live), into one shared
gallery. Each camera's output is scored twice with TrackEval (HOTA, CLEAR, Identity):

* by **track ids**: what the tracker alone keeps together;
* by **global identities**: what users see. A box shown before its track's identity is
  decided is scored under a provisional id of its own track (it is a box on screen without a
  name: detection counts, association sees a fragment), and so is the second of two boxes
  that show the same identity in one frame (one person cannot be two boxes).

Transfers and splits (`identity_figures`) are counted on the global identities over all
cameras together: a person must keep one identity on every camera.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from tracker_service.evaluation.evaluator import evaluate
from tracker_service.evaluation.identity_figures import (
    IdentityFigures,
    identity_figures,
    matched_frames,
    min_frames_for,
)
from tracker_service.evaluation.metrics import TrackingMetrics
from tracker_service.evaluation.mot_files import (
    GT_MIN_COLUMNS,
    MotRows,
    parse_mot_lines,
    read_mot_file,
    read_seqinfo,
)
from tracker_service.evaluation.people import rows_by_person
from tracker_service.evaluation.sequences import prepare_sequence
from tracker_service.identity.final_labels import FrameLabels, TrackIdentities
from tracker_service.types import FrameResult

# Provisional ids (boxes without an identity yet) live far above any real identity id.
PROVISIONAL_BASE = 1_000_000_000
PROVISIONAL_PER_CAMERA = 10_000_000


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """A camera's ground truth: `GT_DIR/gt/gt.txt` (+ `seqinfo.ini` when present)."""

    name: str
    rows: MotRows
    length: int | None

    @classmethod
    def read(cls, gt_dir: Path) -> GroundTruth:
        gt_file = gt_dir / "gt" / "gt.txt"
        if not gt_file.is_file():
            raise FileNotFoundError(f"{gt_file} not found (GT_DIR must hold gt/gt.txt)")
        seqinfo = gt_dir / "seqinfo.ini"
        info = read_seqinfo(seqinfo) if seqinfo.is_file() else None
        name = info.name if info is not None else gt_dir.name
        return cls(name, read_mot_file(gt_file, GT_MIN_COLUMNS), info.length if info else None)

    def by_person(self, people: Mapping[int, int]) -> GroundTruth:
        """This ground truth with the ids that are one person merged (`evaluation.people`)."""
        return replace(self, rows=rows_by_person(self.rows, people))


@dataclass(slots=True)
class CameraOutput:
    """One camera's output as MOTChallenge rows: by track id and by identity."""

    camera: int
    track_lines: list[str] = field(default_factory=list)
    identity_lines: list[str] = field(default_factory=list)
    provisional: set[int] = field(default_factory=set)
    frames: int = 0
    track_identities: TrackIdentities = field(default_factory=TrackIdentities)

    def add(self, result: FrameResult) -> None:
        self.frames = max(self.frames, result.frame_index + 1)
        self.track_identities.observe(result.tracks)
        shown: set[int] = set()
        for record in result.tracks:
            frame = result.frame_index + 1
            self.track_lines.append(_row(frame, record.track_id, record.tlwh, record.score))
            identity = record.identity_id
            if identity is None or identity in shown:
                identity = self._provisional(record.track_id)
            shown.add(identity)
            self.identity_lines.append(_row(frame, identity, record.tlwh, record.score))

    def relabelled(self, canonical: Callable[[int], int | None]) -> CameraOutput:
        """This output with every row of a track under the identity the run finally gave it,
        as a file run writes them in hindsight (`identity.final_labels`)."""
        final = self.track_identities.final(canonical)
        copy = replace(self, identity_lines=[], provisional=set(self.provisional))
        labels, labelled_frame = FrameLabels(final), ""
        for line in self.track_lines:
            frame, track_id, rest = line.split(",", 2)
            if frame != labelled_frame:
                labels, labelled_frame = FrameLabels(final), frame
            identity = labels.identity(int(track_id))
            if identity is None:
                identity = copy._provisional(int(track_id))
            copy.identity_lines.append(f"{frame},{identity},{rest}")
        return copy

    def _provisional(self, track_id: int) -> int:
        identity = PROVISIONAL_BASE + self.camera * PROVISIONAL_PER_CAMERA + track_id
        self.provisional.add(identity)
        return identity


@dataclass(frozen=True, slots=True)
class VideoScores:
    """Scores of one run over one or more cameras (combined over cameras)."""

    cameras: tuple[str, ...]
    by_track: TrackingMetrics
    by_identity: TrackingMetrics
    identities: IdentityFigures
    tracks: IdentityFigures
    identity_count: int
    track_count: int
    # The identities as the gallery holds them once the run is over: a provisional identity
    # that was later folded into a known one counts as that one (what the identities API,
    # the history and search by photo answer with). None when no gallery was given.
    after_merges: IdentityFigures | None = None
    identity_count_after_merges: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "cameras": list(self.cameras),
            "by_track": self.by_track.to_dict(),
            "by_identity": self.by_identity.to_dict(),
            "identity_figures": self.identities.to_dict(),
            "track_figures": self.tracks.to_dict(),
            "identities": self.identity_count,
            "tracks": self.track_count,
            "identity_figures_after_merges": (
                self.after_merges.to_dict() if self.after_merges is not None else None
            ),
            "identities_after_merges": self.identity_count_after_merges,
        }


def score_outputs(
    truths: Sequence[GroundTruth],
    outputs: Sequence[CameraOutput],
    fps: float,
    canonical: Callable[[int], int | None] | None = None,
    hindsight: bool = False,
) -> VideoScores:
    """Score each camera's output against its ground truth; figures over all cameras.

    `canonical` (the gallery's, after the run) adds the transfers and splits of the
    identities as they stand once merges are done; with `hindsight` too, the outputs are
    first relabelled with each track's final identity, as file runs write them."""
    if hindsight and canonical is not None:
        outputs = [output.relabelled(canonical) for output in outputs]
    by_track = []
    by_identity = []
    matched_identity: dict[tuple[int, int], int] = {}
    matched_track: dict[tuple[int, int], int] = {}
    provisional: set[int] = set()
    identities: set[int] = set()
    tracks = 0
    for camera, (truth, output) in enumerate(zip(truths, outputs, strict=True)):
        length = max(truth.length or 0, output.frames, truth.rows.max_frame, 1)
        track_rows = parse_mot_lines(output.track_lines, f"{truth.name}:tracks", 6)
        identity_rows = parse_mot_lines(output.identity_lines, f"{truth.name}:identities", 6)
        by_track.append(prepare_sequence(truth.name, truth.rows, track_rows, length))
        by_identity.append(prepare_sequence(truth.name, truth.rows, identity_rows, length))
        for pair, frames in matched_frames(truth.rows, identity_rows).items():
            matched_identity[pair] = matched_identity.get(pair, 0) + frames
        for (track, person), frames in matched_frames(truth.rows, track_rows).items():
            # Track ids are per camera: keep the cameras' apart.
            key = (camera * PROVISIONAL_PER_CAMERA + track, person)
            matched_track[key] = frames
        provisional |= output.provisional
        identities |= {int(i) for i in identity_rows.ids} - output.provisional
        tracks += len(set(track_rows.ids.tolist()))
    min_frames = min_frames_for(fps)
    after_merges, count_after_merges = None, None
    if canonical is not None:
        merged: Counter[tuple[int, int]] = Counter()
        for (identity, person), frames in matched_identity.items():
            now = identity if identity in provisional else canonical(identity)
            merged[(identity if now is None else now, person)] += frames
        after_merges = identity_figures(merged, min_frames, sorted(provisional))
        count_after_merges = len({canonical(i) or i for i in identities})
    return VideoScores(
        cameras=tuple(truth.name for truth in truths),
        by_track=evaluate(by_track).combined,
        by_identity=evaluate(by_identity).combined,
        identities=identity_figures(Counter(matched_identity), min_frames, sorted(provisional)),
        tracks=identity_figures(Counter(matched_track), min_frames),
        identity_count=len(identities),
        track_count=tracks,
        after_merges=after_merges,
        identity_count_after_merges=count_after_merges,
    )


def collect(results: Iterable[FrameResult], camera: int = 0) -> CameraOutput:
    output = CameraOutput(camera)
    for result in results:
        output.add(result)
    return output


def run_in_step(
    streams: Sequence[Iterable[FrameResult]],
    on_frame: Callable[[int, FrameResult], None] | None = None,
) -> list[CameraOutput]:
    """Advance every camera's results one frame at a time, in turn, until all end."""
    outputs = [CameraOutput(camera) for camera in range(len(streams))]
    iterators = [iter(stream) for stream in streams]
    live = set(range(len(streams)))
    while live:
        for camera in sorted(live):
            result = next(iterators[camera], None)
            if result is None:
                live.discard(camera)
                continue
            outputs[camera].add(result)
            if on_frame is not None:
                on_frame(camera, result)
    return outputs


def _row(frame: int, track_id: int, tlwh: tuple[float, float, float, float], score: float) -> str:
    left, top, width, height = tlwh
    return f"{frame},{track_id},{left:.2f},{top:.2f},{width:.2f},{height:.2f},{score:.4f},-1,-1,-1"


def score_summary(scores: VideoScores) -> dict[str, object]:
    """The figures a run summary carries when ground truth was given (percent, rounded)."""

    def metrics(m: TrackingMetrics) -> dict[str, object]:
        return {
            "hota": round(100 * m.hota, 2),
            "idf1": round(100 * m.idf1, 2),
            "idsw": m.id_switches,
        }

    after = scores.after_merges
    return {
        "ground_truth": list(scores.cameras),
        "people": scores.identities.gt_ids,
        "by_track": metrics(scores.by_track),
        "by_identity": metrics(scores.by_identity),
        "transfers": scores.identities.transfers,
        "splits": scores.identities.splits,
        "after_merges": (
            {
                "identities": scores.identity_count_after_merges,
                "transfers": after.transfers,
                "splits": after.splits,
            }
            if after is not None
            else None
        ),
    }


class RunScorer:
    """Scores one file run against its ground truth, frame by frame as it is tracked."""

    def __init__(self, truth: GroundTruth, hindsight: bool = False) -> None:
        self.truth = truth
        self.output = CameraOutput(0)
        self.hindsight = hindsight

    def add(self, result: FrameResult) -> None:
        self.output.add(result)

    def summary(self, fps: float, canonical: Callable[[int], int | None]) -> dict[str, object]:
        scores = score_outputs([self.truth], [self.output], fps, canonical, self.hindsight)
        return score_summary(scores)
