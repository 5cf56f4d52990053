"""Score the tracker + identity layer from cached detections and embeddings (seconds a run).

    uv run python benchmarks/identity_replay.py CACHE.npz GT_DIR [CACHE2.npz GT_DIR2 ...]
        [--set tracker.new_track_score=0.3 ...]

Caches come from `frame_cache.py`; several pairs are cameras run in step into one gallery.
A development tool: the figures of record come from `eval-video` and `identity_video.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from frame_cache import REPO, FrameCache, replay


def _overrides(pairs: Sequence[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        section, name = key.split(".", 1)
        result.setdefault(section, {})[name] = json.loads(value)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    from tracker_service.cli.eval_video import format_scores
    from tracker_service.config import load_config
    from tracker_service.evaluation.video import GroundTruth, run_in_step, score_outputs
    from tracker_service.reid.gallery import Gallery

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+")
    parser.add_argument("--set", action="append", default=[], dest="settings")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "local-assets.yaml")
    parser.add_argument("--fps", type=float, help="frame rate to run at (default: the video's)")
    parser.add_argument("--dump", type=Path, help="write the identity MOT rows here")
    args = parser.parse_args(argv)
    config = load_config(args.config, _overrides(args.settings), environ={})
    caches = [FrameCache.load(Path(p)) for p in args.pairs[0::2]]
    truths = [GroundTruth.read(Path(p)) for p in args.pairs[1::2]]
    gallery = Gallery(config.gallery, caches[0].vectors.shape[1])
    pipelines: list[Any] = []
    streams = [
        replay(
            c,
            config,
            gallery=gallery,
            source=f"cam{i}",
            fps=args.fps,
            pipelines=pipelines,
            hindsight=config.output.hindsight,
        )
        for i, c in enumerate(caches)
    ]
    outputs = run_in_step(streams)
    fps = args.fps or caches[0].fps
    scores = score_outputs(truths, outputs, fps, gallery.canonical, config.output.hindsight)
    doubtful = sum(p.self_check.doubtful_count() for p in pipelines)
    print(format_scores(scores, doubtful))
    print("transfers:", dict(scores.identities.transferred))
    print("splits:", dict(scores.identities.split))
    if args.dump:
        args.dump.write_text("\n".join(outputs[0].identity_lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
