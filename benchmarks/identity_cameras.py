"""Identities across cameras: N cameras of one clip into one gallery, from cached detections.

Every camera shows the same clip (its people are the same people on every camera), run in
step into one gallery, every frame or only every Kth frame (a busy machine processes only
some of each camera's frames; each camera starts at a different frame). A shared gallery
should hold as many identities as there are people, and no identity should ever cover two
people. Reported per K, with the identities as the gallery holds them once the run is over
(a provisional identity folded into a known one counts as that one):

- identities shown live and held after the run;
- transfers (an identity on 2+ people) and splits (a person under 2+ identities), from the
  ground truth (`tracker_service/evaluation/identity_figures.py`);
- frames where one identity is on two boxes of one camera at once (a merge of two people
  that the figures above may miss when it is short).

The detections and embeddings come from `frame_cache.py` (built here when the cache is
missing: a minute per clip on 2 cores); the tracker and identity layer are the real ones.

    uv run python benchmarks/identity_cameras.py                 # 8 cameras, K = 1 2 3 4 6
    uv run python benchmarks/identity_cameras.py --cameras 4 --every 1 3 --no-write
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from common import (
    BENCHMARKS_DIR,
    RESULTS_FILE,
    assets_root,
    command_line,
    machine_lines,
    markdown_table,
    write_section,
)
from frame_cache import REPO, FrameCache, build, replay

if TYPE_CHECKING:
    from tracker_service.config import Config
    from tracker_service.types import FrameResult

SECTION = "identity_cameras"
GT_DIR = BENCHMARKS_DIR / "ground_truth" / "people-detection"


@dataclass(frozen=True, slots=True)
class Row:
    every: int
    processed_fps: float
    shown: int
    held: int
    people: int
    transfers: int
    splits: int
    doubled_frames: int


def thinned(cache: FrameCache, every: int, offset: int) -> FrameCache:
    """The cache's frames from `offset` on, one in `every`."""
    result = copy.copy(cache)
    result.frames = cache.frames[offset::every]
    return result


def camera_results(
    cache: FrameCache, config: Config, gallery: object, camera: int, every: int
) -> Iterator[FrameResult]:
    """One camera's results, numbered by the clip's own frames (the ground truth's)."""
    offset = camera % every
    stream = replay(
        thinned(cache, every, offset),
        config,
        gallery=gallery,
        source=f"cam{camera}",
        fps=cache.fps,  # the camera's rate, as the service tells the pipeline
        media_fps=cache.fps / every,
    )
    for index, result in enumerate(stream):
        yield replace(result, frame_index=offset + index * every)


def measure(cache: FrameCache, config: Config, cameras: int, every: int) -> Row:
    from tracker_service.evaluation.video import GroundTruth, run_in_step, score_outputs
    from tracker_service.reid.gallery import Gallery

    truth = GroundTruth.read(GT_DIR)
    gallery = Gallery(config.gallery, cache.vectors.shape[1])
    streams = [camera_results(cache, config, gallery, c, every) for c in range(cameras)]
    outputs = run_in_step(streams)
    truths = [GroundTruth(f"{truth.name}-cam{c}", truth.rows, truth.length) for c in range(cameras)]
    scores = score_outputs(truths, outputs, cache.fps / every, canonical=gallery.canonical)
    after = scores.after_merges
    assert after is not None and scores.identity_count_after_merges is not None
    doubled = 0
    for output in outputs:
        held_in_frame = Counter(
            (line.split(",")[0], gallery.canonical(int(line.split(",")[1])))
            for line in output.identity_lines
            if int(line.split(",")[1]) not in output.provisional
        )
        doubled += len({frame for (frame, _), n in held_in_frame.items() if n > 1})
    return Row(
        every=every,
        processed_fps=cache.fps / every,
        shown=scores.identity_count,
        held=len(gallery),
        people=after.gt_ids,
        transfers=after.transfers,
        splits=after.splits,
        doubled_frames=doubled,
    )


def render(rows: Sequence[Row], cameras: int, argv: Sequence[str]) -> str:
    headers = [
        "frames processed",
        "fps per camera",
        "identities shown",
        "identities held",
        "people",
        "transfers",
        "splits",
        "frames with one identity on two boxes",
    ]
    table = [
        [
            "every frame" if row.every == 1 else f"1 in {row.every}",
            f"{row.processed_fps:.1f}",
            str(row.shown),
            str(row.held),
            str(row.people),
            str(row.transfers),
            str(row.splits),
            str(row.doubled_frames),
        ]
        for row in rows
    ]
    return "\n".join(
        [
            "## Identities across cameras (replay of one clip on N cameras, one gallery)",
            "",
            f"Command: `{command_line('identity_cameras.py', argv)}`",
            "",
            *machine_lines(),
            "",
            f"{cameras} cameras show people-detection.mp4 (24 fps, 7 people), run in step into "
            "one embedded gallery from cached detections and embeddings (YOLOv8n INT8 "
            "OpenVINO, OSNet x0.25 MSMT17; `frame_cache.py`), every frame or one in K (each "
            f"camera from a different frame; the pipeline is told the camera's 24 fps, as the "
            "service does, and gets fewer frames). Identities *held*: in the gallery "
            "after the run; transfers and splits: of the identities as held, against the "
            "ground truth, each pair counting from half a second of matched frames; the last "
            "column counts frames where one held identity is on two boxes of a camera.",
            "",
            markdown_table(headers, table, text_columns=1),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    from tracker_service.config import load_config

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--every", type=int, nargs="+", default=[1, 2, 3, 4, 6])
    parser.add_argument(
        "--cache", type=Path, default=BENCHMARKS_DIR / "cache" / "people-detection.npz"
    )
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "local-assets.yaml")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    config = load_config(args.config, environ={})
    if not args.cache.is_file():
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        build(assets_root() / "videos" / "people-detection.mp4", args.cache, config)
    cache = FrameCache.load(args.cache)
    rows = []
    for every in args.every:
        row = measure(cache, config, args.cameras, every)
        print(row, flush=True)
        rows.append(row)
    report = render(rows, args.cameras, argv)
    print(report)
    if not args.no_write:
        write_section(RESULTS_FILE, SECTION, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
