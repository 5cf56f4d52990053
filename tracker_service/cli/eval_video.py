"""`tracker-service eval-video VIDEO GT_DIR [VIDEO GT_DIR ...]`: the full pipeline, scored.

Several (VIDEO, GT_DIR) pairs are cameras run in step into one gallery (ground-truth ids
name the same person on every camera). Prints HOTA, IDF1 and ID switches by track id and by
global identity, transfers and splits, and the self-check's doubtful tracks.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

from tracker_service.cli.track import add_model_options, config_from_args
from tracker_service.config import Config
from tracker_service.detection import Detector
from tracker_service.evaluation.people import read_people
from tracker_service.evaluation.video import GroundTruth, VideoScores, run_in_step, score_outputs
from tracker_service.pipeline.hindsight import file_hindsight, with_hindsight
from tracker_service.pipeline.stream import StreamPipeline
from tracker_service.reid.identity_gallery import IdentityGallery
from tracker_service.runtime import Models, load_models, open_gallery
from tracker_service.types import FrameResult
from tracker_service.video_file import SourceError, VideoFileSource, probe_video


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "eval-video",
        help="run the full pipeline on videos with ground truth and score it",
        description=(
            "Run detector, tracker, re-ID and identities on each VIDEO (several: cameras run in "
            "step into one gallery) and score against GT_DIR/gt/gt.txt (MOTChallenge; "
            "seqinfo.ini optional) by track ids and by global identities: HOTA, IDF1, ID "
            "switches, transfers (an identity covering 2+ people) and splits (a person "
            "covered by 2+ identities); plus the self-check's doubtful tracks."
        ),
    )
    parser.add_argument(
        "pairs", nargs="+", metavar="VIDEO GT_DIR", help="a video and its ground-truth folder"
    )
    parser.add_argument(
        "--people",
        type=Path,
        metavar="FILE",
        help=(
            "ground-truth ids that are one person, as GT_ID,PERSON lines: for ground truth "
            "that gives a person who comes back a new id (PETS09-S2L1 does), so that "
            "identities are scored person by person"
        ),
    )
    parser.add_argument("--json", type=Path, dest="json_path", metavar="FILE", help="write here")
    add_model_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tracker_service.cli import UsageError

    pairs: list[str] = args.pairs
    if len(pairs) % 2:
        raise UsageError("give VIDEO GT_DIR pairs (an even number of paths)")
    videos = [Path(p) for p in pairs[0::2]]
    truths = []
    for video, gt_dir in zip(videos, (Path(p) for p in pairs[1::2]), strict=True):
        if not video.is_file():
            raise UsageError(f"video {video} does not exist or is not a file")
        try:
            probe_video(video)
        except SourceError as exc:
            raise UsageError(str(exc)) from None
        truths.append(GroundTruth.read(gt_dir))
    if args.people is not None:
        if not args.people.is_file():
            raise UsageError(f"people file {args.people} does not exist or is not a file")
        people = read_people(args.people)
        truths = [truth.by_person(people) for truth in truths]
    config = config_from_args(args)
    models = load_models(config)
    gallery = open_gallery(config, models, None)
    try:
        pipelines: list[StreamPipeline] = []
        streams = [
            camera_results(video, config, models, gallery, pipelines=pipelines) for video in videos
        ]
        outputs = run_in_step(streams)
        fps = pipelines[0].tracker.fps if pipelines else 25.0
        scores = score_outputs(
            truths, outputs, fps, canonical=gallery.canonical, hindsight=config.output.hindsight
        )
    finally:
        gallery.close()
    doubtful = sum(p.self_check.doubtful_count() for p in pipelines)
    print(format_scores(scores, doubtful))
    if args.json_path is not None:
        document = {
            "videos": [str(v) for v in videos],
            "people": str(args.people) if args.people is not None else None,
            **scores.to_dict(),
            "doubtful": doubtful,
        }
        args.json_path.parent.mkdir(parents=True, exist_ok=True)
        args.json_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0


def camera_results(
    video: Path,
    config: Config,
    models: Models,
    gallery: IdentityGallery,
    *,
    pipelines: list[StreamPipeline],
    detector: Detector | None = None,
) -> Iterator[FrameResult]:
    """One camera's results frame by frame through its own pipeline (appended to
    `pipelines` when it starts); `detector` replaces the models' one (to record its boxes)."""
    with VideoFileSource(video) as source:
        pipeline = StreamPipeline(
            detector=detector or models.detector,
            embedder=models.embedder,
            gallery=gallery,
            config=config,
            fps=source.info.fps,
            source=video.name,
            keep_unshown=config.output.hindsight,
        )
        pipelines.append(pipeline)
        results = (pipeline.process(frame, timestamp) for _, timestamp, frame in source)
        # Scored as a file run writes its tracks: completed in hindsight.
        yield from with_hindsight(results, file_hindsight(config, source.info.fps))
        pipeline.close()


def format_scores(scores: VideoScores, doubtful: int) -> str:
    lines = [
        f"{'scored by':<18}{'HOTA':>8}{'IDF1':>8}{'IDSW':>6}{'ids':>6}{'transfers':>11}"
        f"{'splits':>8}"
    ]
    for name, metrics, figures, count in (
        ("track ids", scores.by_track, scores.tracks, scores.track_count),
        ("global identities", scores.by_identity, scores.identities, scores.identity_count),
    ):
        lines.append(
            f"{name:<18}{100 * metrics.hota:>8.2f}{100 * metrics.idf1:>8.2f}"
            f"{metrics.id_switches:>6}{count:>6}{figures.transfers:>11}{figures.splits:>8}"
        )
    if scores.after_merges is not None and scores.identity_count_after_merges is not None:
        after = scores.after_merges
        lines.append(
            f"{'after merges':<18}{'':>8}{'':>8}{'':>6}{scores.identity_count_after_merges:>6}"
            f"{after.transfers:>11}{after.splits:>8}"
        )
    lines.append(
        f"{scores.identities.gt_ids} people in the ground truth of {', '.join(scores.cameras)}; "
        f"a transfer or split needs {scores.identities.min_frames}+ matched frames | "
        f"self-check: {doubtful} doubtful tracks"
    )
    return "\n".join(lines)
