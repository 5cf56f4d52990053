"""Motion-only tracking on MOT15's public detections: our tracker beside its peers.

On every sequence of `$TRACKER_ASSETS/mot/MOT15/`, with the same `det/det.txt` boxes, in one
process and one run:

- ours: `tracker_service.tracking.Tracker` (no appearance: motion only);
- Ultralytics' `BYTETracker` and `BOTSORT` (no re-ID, no camera-motion compensation: there
  are no frames), see `peers.py`;
- SORT, ByteTrack and OC-SORT from roboflow `trackers` (2.6.1).

Each tracker runs with its own defaults and, separately, tuned: the same-sized grid over its
own main thresholds (the score to start a track / enter the first stage, the association's
IoU threshold and the lost-track buffer, each centred on its default), the best combined HOTA
kept. The grid is searched on the very sequences it is scored on, so tuned figures are an
upper bound, not a held-out result. Metrics are TrackEval's (HOTA, DetA, AssA, MOTA, IDF1,
IDSW) in MOT15 mode, per sequence and combined over all of them. Speed is the tracker alone:
frames per second of `update` over all sequences (input conversion included, for everyone),
the median of several runs, interleaved across trackers.

    uv run python benchmarks/motion_mot15.py            # full run, rewrites RESULTS.md
    uv run python benchmarks/motion_mot15.py --quick    # smoke run: one sequence, no file
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    RESULTS_FILE,
    assets_root,
    command_line,
    machine_lines,
    markdown_table,
    require,
    write_section,
)
from peers import (
    MOT15_SEQUENCES,
    FloatArray,
    MotSequence,
    PeerTracker,
    RoboflowPeer,
    TrackRow,
    UltralyticsPeer,
    load_sequence,
    track_sequence,
)

from tracker_service.config_tracker import TrackerConfig
from tracker_service.evaluation import (
    GT_MIN_COLUMNS,
    RESULTS_MIN_COLUMNS,
    Benchmark,
    EvaluationReport,
    MotRows,
    TrackingMetrics,
    evaluate,
    parse_mot_lines,
    prepare_sequence,
    read_mot_file,
)
from tracker_service.tracking import Tracker
from tracker_service.types import Detections

SECTION = "motion_mot15"
QUICK_SEQUENCE = "TUD-Campus"
Overrides = Mapping[str, Any]


# --- our tracker behind the peers' interface ------------------------------------------------


class OurTracker:
    """`tracker_service.tracking.Tracker`, reporting what the service shows (confirmed tracks
    matched in this frame, Kalman-filtered boxes)."""

    name = "ours"

    def __init__(self, frame_rate: float, overrides: Overrides | None = None) -> None:
        self.config = TrackerConfig(**dict(overrides or {}))
        self._frame_rate = frame_rate
        self._tracker = Tracker(self.config, frame_rate)

    def update(self, dets: FloatArray, frame_index: int) -> list[TrackRow]:
        output = self._tracker.update(Detections(dets[:, :4], dets[:, 4]))
        return [(track.track_id, *track.xyxy, track.score) for track in output.confirmed_visible()]

    def reset(self) -> None:
        self._tracker = Tracker(self.config, self._frame_rate)


# --- who runs, with which grid --------------------------------------------------------------

Factory = Callable[[MotSequence, Overrides], PeerTracker]


@dataclass(frozen=True)
class Axis:
    """One tuned dimension: a label and the parameter values each of its points sets."""

    label: str
    points: tuple[Overrides, ...]


@dataclass(frozen=True)
class Contender:
    name: str
    description: str
    make: Factory
    defaults: Overrides  # the tuned parameters' default values, for the report
    axes: tuple[Axis, ...]

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the axes' points (the first axis varies slowest)."""
        combos = itertools.product(*(axis.points for axis in self.axes))
        return [{key: value for point in combo for key, value in point.items()} for combo in combos]


def _points(name: str, values: Sequence[Any]) -> tuple[Overrides, ...]:
    return tuple({name: value} for value in values)


def _ultralytics_axes() -> tuple[Axis, ...]:
    # Default 0.25 for both thresholds; every score in these files is >= 0.5, so anything up
    # to 0.5 behaves as the default here and the next points are 0.6 and 0.7.
    return (
        Axis(
            "track_high_thresh = new_track_thresh",
            tuple({"track_high_thresh": s, "new_track_thresh": s} for s in (0.25, 0.6, 0.7)),
        ),
        Axis("match_thresh (cost, 1 - IoU x score)", _points("match_thresh", (0.7, 0.8, 0.9))),
        Axis("track_buffer (frames)", _points("track_buffer", (30, 60))),
    )


def _ultralytics(kind: str) -> Factory:
    return lambda seq, overrides: UltralyticsPeer(kind, seq.image_size, overrides)


def _roboflow(kind: str) -> Factory:
    return lambda seq, overrides: RoboflowPeer(kind, seq.frame_rate, overrides)


def _ours(seq: MotSequence, overrides: Overrides) -> PeerTracker:
    return OurTracker(seq.frame_rate, overrides)


CONTENDERS: tuple[Contender, ...] = (
    Contender(
        "ours",
        "tracker_service Tracker (Kalman + two-stage Hungarian, motion only)",
        _ours,
        {
            "high_score": 0.5,
            "new_track_score": 0.6,
            "first_stage_min_iou": 0.2,
            "lost_buffer_s": 2.0,
        },
        (
            Axis(
                "high_score, new_track_score = high_score + 0.1",
                tuple(
                    {"high_score": s, "new_track_score": round(s + 0.1, 2)} for s in (0.5, 0.6, 0.7)
                ),
            ),
            Axis("first_stage_min_iou", _points("first_stage_min_iou", (0.1, 0.2, 0.3))),
            Axis("lost_buffer_s (seconds)", _points("lost_buffer_s", (2.0, 4.0))),
        ),
    ),
    Contender(
        "ultralytics-bytetrack",
        "Ultralytics BYTETracker (bytetrack.yaml)",
        _ultralytics("bytetrack"),
        {
            "track_high_thresh": 0.25,
            "new_track_thresh": 0.25,
            "match_thresh": 0.8,
            "track_buffer": 30,
        },
        _ultralytics_axes(),
    ),
    Contender(
        "ultralytics-botsort",
        "Ultralytics BOTSORT (botsort.yaml, with_reid False, no GMC without frames)",
        _ultralytics("botsort"),
        {
            "track_high_thresh": 0.25,
            "new_track_thresh": 0.25,
            "match_thresh": 0.8,
            "track_buffer": 30,
        },
        _ultralytics_axes(),
    ),
    Contender(
        "trackers-sort",
        "trackers SORTTracker",
        _roboflow("sort"),
        {"track_activation_threshold": 0.25, "minimum_iou_threshold": 0.3, "lost_track_buffer": 30},
        (
            # Default 0.25 behaves as 0.5 on these files (every score >= 0.5).
            Axis(
                "track_activation_threshold",
                _points("track_activation_threshold", (0.25, 0.6, 0.7)),
            ),
            Axis("minimum_iou_threshold", _points("minimum_iou_threshold", (0.2, 0.3, 0.4))),
            Axis("lost_track_buffer (30 fps frames)", _points("lost_track_buffer", (30, 60))),
        ),
    ),
    Contender(
        "trackers-bytetrack",
        "trackers ByteTrackTracker",
        _roboflow("bytetrack"),
        {
            "high_conf_det_threshold": 0.6,
            "track_activation_threshold": 0.7,
            "minimum_iou_threshold": 0.1,
            "lost_track_buffer": 30,
        },
        (
            Axis(
                "high_conf_det_threshold, track_activation_threshold = it + 0.1",
                tuple(
                    {"high_conf_det_threshold": s, "track_activation_threshold": round(s + 0.1, 2)}
                    for s in (0.5, 0.6, 0.7)
                ),
            ),
            Axis("minimum_iou_threshold", _points("minimum_iou_threshold", (0.05, 0.1, 0.2))),
            Axis("lost_track_buffer (30 fps frames)", _points("lost_track_buffer", (30, 60))),
        ),
    ),
    Contender(
        "trackers-ocsort",
        "trackers OCSORTTracker",
        _roboflow("ocsort"),
        {"high_conf_det_threshold": 0.6, "minimum_iou_threshold": 0.3, "lost_track_buffer": 30},
        (
            Axis("high_conf_det_threshold", _points("high_conf_det_threshold", (0.5, 0.6, 0.7))),
            Axis("minimum_iou_threshold", _points("minimum_iou_threshold", (0.2, 0.3, 0.4))),
            Axis("lost_track_buffer (30 fps frames)", _points("lost_track_buffer", (30, 60))),
        ),
    ),
)
PEER_NAMES = tuple(c.name for c in CONTENDERS if c.name != "ours")


# --- tracking and scoring -------------------------------------------------------------------


@dataclass(frozen=True)
class GroundTruth:
    rows: dict[str, MotRows]
    lengths: dict[str, int]


def load_ground_truth(mot15: Path, sequences: Sequence[MotSequence]) -> GroundTruth:
    rows = {
        s.name: read_mot_file(mot15 / s.name / "gt" / "gt.txt", GT_MIN_COLUMNS) for s in sequences
    }
    return GroundTruth(rows, {s.name: s.length for s in sequences})


def track_all(
    contender: Contender, overrides: Overrides, sequences: Sequence[MotSequence]
) -> tuple[dict[str, list[str]], float]:
    """MOTChallenge rows per sequence, and the seconds `update` took over all of them."""
    results: dict[str, list[str]] = {}
    seconds = 0.0
    for sequence in sequences:
        rows, timing = track_sequence(contender.make(sequence, overrides), sequence)
        results[sequence.name] = rows
        seconds += sum(timing)
    return results, seconds


def score(results: Mapping[str, list[str]], truth: GroundTruth) -> EvaluationReport:
    prepared = [
        prepare_sequence(
            name,
            truth.rows[name],
            parse_mot_lines(rows, f"{name}.txt", RESULTS_MIN_COLUMNS),
            truth.lengths[name],
            Benchmark.MOT15,
        )
        for name, rows in results.items()
    ]
    return evaluate(prepared)


@dataclass
class Outcome:
    contender: Contender
    default: EvaluationReport | None = None
    tuned: EvaluationReport | None = None
    tuned_overrides: dict[str, Any] = field(default_factory=dict)
    grid_size: int = 0
    run_fps: list[float] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return statistics.median(self.run_fps) if self.run_fps else float("nan")


def _better(candidate: TrackingMetrics, best: TrackingMetrics | None) -> bool:
    return best is None or (candidate.hota, candidate.idf1) > (best.hota, best.idf1)


def tune(
    contender: Contender,
    sequences: Sequence[MotSequence],
    truth: GroundTruth,
    grid_limit: int | None,
) -> tuple[EvaluationReport, dict[str, Any], int]:
    grid = contender.grid()[:grid_limit] if grid_limit else contender.grid()
    best: EvaluationReport | None = None
    best_overrides: dict[str, Any] = {}
    for overrides in grid:
        report = score(track_all(contender, overrides, sequences)[0], truth)
        if _better(report.combined, None if best is None else best.combined):
            best, best_overrides = report, overrides
    assert best is not None
    return best, best_overrides, len(grid)


def measure_speed(outcomes: Sequence[Outcome], sequences: Sequence[MotSequence], runs: int) -> None:
    """`runs` timed passes of each tracker's defaults over every sequence, round robin (so a
    change of machine load hits every tracker alike)."""
    frames = sum(s.length for s in sequences)
    for _ in range(runs):
        for outcome in outcomes:
            _, seconds = track_all(outcome.contender, {}, sequences)
            outcome.run_fps.append(frames / seconds if seconds > 0 else float("inf"))


# --- report ---------------------------------------------------------------------------------

METRIC_HEADERS = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW")


def _metric_cells(m: TrackingMetrics) -> list[str]:
    return [
        f"{100 * m.hota:.2f}",
        f"{100 * m.deta:.2f}",
        f"{100 * m.assa:.2f}",
        f"{100 * m.mota:.2f}",
        f"{100 * m.idf1:.2f}",
        str(m.id_switches),
    ]


def _format_overrides(overrides: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in overrides.items()) or "defaults"


def _fastest_peer(outcomes: Sequence[Outcome]) -> Outcome | None:
    peers = [o for o in outcomes if o.contender.name != "ours" and o.run_fps]
    return max(peers, key=lambda o: o.fps) if peers else None


# Combined columns besides HOTA and IDF1, and whether higher is better.
OTHER_METRICS = (("deta", "DetA", True), ("assa", "AssA", True), ("mota", "MOTA", True))


def _mode_label(mode: str) -> str:
    return "defaults" if mode == "default" else "tuned"


def _reports(outcomes: Sequence[Outcome], mode: str) -> list[tuple[str, EvaluationReport]]:
    return [(o.contender.name, getattr(o, mode)) for o in outcomes if getattr(o, mode)]


def standings(outcomes: Sequence[Outcome]) -> list[str]:
    """Plain sentences: where ours is behind (or ahead of) the peers."""
    ours = next((o for o in outcomes if o.contender.name == "ours"), None)
    if ours is None:
        return []
    lines: list[str] = []
    for mode in ("default", "tuned"):
        mine: EvaluationReport | None = getattr(ours, mode)
        if mine is None:
            continue
        peers = [(n, r) for n, r in _reports(outcomes, mode) if n != "ours"]
        label = _mode_label(mode)
        for metric in ("hota", "idf1"):
            value = getattr(mine.combined, metric)
            behind = [
                (n, getattr(r.combined, metric))
                for n, r in peers
                if getattr(r.combined, metric) > value
            ]
            if behind:
                detail = ", ".join(
                    f"{n} {100 * v:.2f} (+{100 * (v - value):.2f})" for n, v in behind
                )
                lines.append(
                    f"- **Behind** on combined {metric.upper()} ({label}): ours "
                    f"{100 * value:.2f}, below {detail}."
                )
            else:
                lines.append(
                    f"- Ahead on combined {metric.upper()} ({label}): ours {100 * value:.2f}, "
                    "the best of all trackers."
                )
        lines += _other_columns(mine, peers, label)
        lines += _per_sequence_behind(mine, peers, label)
    fastest = _fastest_peer(outcomes)
    if fastest is not None and ours.run_fps:
        ratio = ours.fps / fastest.fps
        word = "**behind** (slower)" if ratio < 1 else "ahead (faster)"
        lines.append(
            f"- Speed: ours runs `update` at {ours.fps:,.0f} fps, {ratio:.2f}x the fastest peer "
            f"({fastest.contender.name}, {fastest.fps:,.0f} fps): {word}."
        )
    return lines


def _other_columns(
    mine: EvaluationReport, peers: Sequence[tuple[str, EvaluationReport]], label: str
) -> list[str]:
    """The best peer on each other combined column where it beats ours."""
    notes = []
    for key, title, _ in OTHER_METRICS:
        value = getattr(mine.combined, key)
        name, best = max(((n, getattr(r.combined, key)) for n, r in peers), key=lambda x: x[1])
        if best > value:
            notes.append(f"{title} {name} {100 * best:.2f} (ours {100 * value:.2f})")
    name, fewest = min(((n, r.combined.id_switches) for n, r in peers), key=lambda x: x[1])
    if fewest < mine.combined.id_switches:
        notes.append(f"IDSW {name} {fewest} (ours {mine.combined.id_switches})")
    if not notes:
        return []
    return [
        f"- **Behind** on other combined columns ({label}), best peer: " + "; ".join(notes) + "."
    ]


def _per_sequence_behind(
    mine: EvaluationReport, peers: Sequence[tuple[str, EvaluationReport]], label: str
) -> list[str]:
    """Sequences where some peer has a higher HOTA than ours."""
    notes = []
    for report in mine.sequences:
        value = report.metrics.hota
        rivals = [
            (n, s.metrics.hota) for n, r in peers for s in r.sequences if s.name == report.name
        ]
        name, best = max(rivals, key=lambda x: x[1])
        if best > value:
            notes.append(f"{report.name} ({name} {100 * best:.1f}, ours {100 * value:.1f})")
    if not notes:
        return []
    return [
        f"- **Behind** on HOTA ({label}) on {len(notes)} of {len(mine.sequences)} sequences: "
        + "; ".join(notes)
        + "."
    ]


def render(
    outcomes: Sequence[Outcome],
    sequences: Sequence[MotSequence],
    runs: int,
    command: str,
) -> str:
    frames = sum(s.length for s in sequences)
    fastest = _fastest_peer(outcomes)
    names = ", ".join(f"{s.name} ({s.length} frames, {s.frame_rate:g} fps)" for s in sequences)
    out: list[str] = [
        f"## Motion only: MOT15, {len(sequences)} sequences, public detections",
        "",
        f"Command: `{command}`",
        "",
        *machine_lines(),
        "",
        f"Sequences: {names}; {frames} frames in all. Every tracker gets the same "
        "`det/det.txt` boxes (the Faster R-CNN detections SORT used), frame by frame, in one "
        "process. Scores: TrackEval (HOTA, CLEAR, Identity) in MOT15 mode, combined over the "
        "sequences; HOTA, DetA, AssA, MOTA and IDF1 in %.",
        "",
        "- **Every detection score in these files is >= 0.5**: thresholds below 0.5 act "
        "alike, and ByteTrack-style low-score stages (ours, both Ultralytics trackers, "
        "trackers' ByteTrack) see few or no boxes unless their high threshold is raised.",
        "- **Frame rates:** Ultralytics' trackers have no frame-rate parameter in this "
        "version: `track_buffer` counts frames whatever the rate (30 frames is 4.3 s at "
        "PETS09's 7 fps, 1 s at 30 fps). `trackers` scales `lost_track_buffer` (given in "
        "30 fps frames) by each sequence's rate, and ours takes `lost_buffer_s` in seconds.",
        "- Reported boxes: ours and Ultralytics' report Kalman-filtered boxes, `trackers` the "
        "matched detection boxes; all report confirmed tracks matched in the frame only.",
        f"- Speed: frames per second of `update` alone (input conversion included), over all "
        f"{frames} frames, median of {runs} runs with each tracker's defaults, interleaved; "
        "the ratio is against the fastest peer in the same run.",
        "",
        "### Defaults",
        "",
    ]
    rows = []
    for o in outcomes:
        if o.default is None:
            continue
        ratio = f"{o.fps / fastest.fps:.2f}" if fastest and o.run_fps else "n/a"
        fps = f"{o.fps:,.0f}" if o.run_fps else "n/a"
        rows.append([o.contender.name, *_metric_cells(o.default.combined), fps, ratio])
    out.append(markdown_table(["tracker", *METRIC_HEADERS, "update fps", "x fastest peer"], rows))
    grid_size = max((o.grid_size for o in outcomes), default=0)
    out += [
        "",
        f"### Tuned on the test sequences (upper bound): best combined HOTA of a {grid_size}-point "
        "grid each",
        "",
        "Tuned on the same sequences it is scored on: these numbers are an upper bound of "
        "what each tracker can do here, not a held-out result. Each grid is 3 x 3 x 2 points "
        "over the tracker's own thresholds, centred on its defaults (grids below).",
        "",
    ]
    rows = [
        [o.contender.name, *_metric_cells(o.tuned.combined), _format_overrides(o.tuned_overrides)]
        for o in outcomes
        if o.tuned is not None
    ]
    out.append(markdown_table(["tracker", *METRIC_HEADERS, "chosen values"], rows))
    out += ["", "### Ours against the peers", "", *standings(outcomes), ""]
    out += _per_sequence(outcomes, sequences)
    out += _grids(outcomes)
    return "\n".join(out)


def _per_sequence(outcomes: Sequence[Outcome], sequences: Sequence[MotSequence]) -> list[str]:
    out = [
        "<details><summary>Per sequence: HOTA / IDF1 / IDSW</summary>",
        "",
    ]
    for mode in ("default", "tuned"):
        rows = []
        for o in outcomes:
            report: EvaluationReport | None = getattr(o, mode)
            if report is None:
                continue
            by_name = {r.name: r.metrics for r in report.sequences}
            rows.append(
                [o.contender.name]
                + [
                    f"{100 * by_name[s.name].hota:.1f} / {100 * by_name[s.name].idf1:.1f} / "
                    f"{by_name[s.name].id_switches}"
                    for s in sequences
                ]
            )
        if rows:
            out += [f"{'Defaults' if mode == 'default' else 'Tuned'}:", ""]
            out += [markdown_table(["tracker", *(s.name for s in sequences)], rows), ""]
    out += ["</details>", ""]
    return out


def _grids(outcomes: Sequence[Outcome]) -> list[str]:
    out = ["<details><summary>Grids searched (defaults in the second column)</summary>", ""]
    rows = []
    for o in outcomes:
        axes = "; ".join(
            f"{axis.label}: " + " / ".join(str(next(iter(p.values()))) for p in axis.points)
            for axis in o.contender.axes
        )
        rows.append([o.contender.name, _format_overrides(o.contender.defaults), axes])
    out += [markdown_table(["tracker", "defaults", "grid axes"], rows), "", "</details>"]
    return out


def to_json(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    return {
        o.contender.name: {
            "default": None if o.default is None else o.default.to_dict(),
            "tuned": None if o.tuned is None else o.tuned.to_dict(),
            "tuned_overrides": o.tuned_overrides,
            "grid_size": o.grid_size,
            "update_fps_runs": o.run_fps,
            "update_fps_median": o.fps if o.run_fps else None,
        }
        for o in outcomes
    }


# --- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Our tracker beside Ultralytics' and trackers' on MOT15 (motion only).",
    )
    parser.add_argument(
        "--mot15", type=Path, help="MOT15 folder (default: $TRACKER_ASSETS/mot/MOT15)"
    )
    parser.add_argument("--sequences", nargs="+", choices=MOT15_SEQUENCES, default=None)
    parser.add_argument("--trackers", nargs="+", choices=[c.name for c in CONTENDERS], default=None)
    parser.add_argument("--runs", type=int, default=5, help="timed runs for the speed median")
    parser.add_argument("--no-tune", action="store_true", help="defaults only")
    parser.add_argument("--grid-limit", type=int, help="search only the first N grid points")
    parser.add_argument(
        "--results",
        type=Path,
        help=f"results file whose section is rewritten (default: {RESULTS_FILE.name}; "
        "--quick writes none unless given)",
    )
    parser.add_argument("--json", type=Path, help="also write every number as JSON here")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_SEQUENCE} only, 1 timed run, 2 grid points, no results file",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sequences = args.sequences or [QUICK_SEQUENCE]
        args.runs = min(args.runs, 1)
        args.grid_limit = args.grid_limit or 2
    elif args.results is None:
        args.results = RESULTS_FILE
    args.sequences = args.sequences or list(MOT15_SEQUENCES)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw_argv)
    mot15 = require(args.mot15 or assets_root() / "mot" / "MOT15", "MOT15 data")
    sequences = [load_sequence(mot15 / name) for name in args.sequences]
    truth = load_ground_truth(mot15, sequences)
    chosen = [c for c in CONTENDERS if args.trackers is None or c.name in args.trackers]
    outcomes = [Outcome(c) for c in chosen]
    started = time.perf_counter()
    for outcome in outcomes:
        contender = outcome.contender
        outcome.default = score(track_all(contender, {}, sequences)[0], truth)
        if not args.no_tune:
            outcome.tuned, outcome.tuned_overrides, outcome.grid_size = tune(
                contender, sequences, truth, args.grid_limit
            )
        print(
            f"[{time.perf_counter() - started:6.1f}s] {contender.name}: default HOTA "
            f"{100 * outcome.default.combined.hota:.2f}"
            + (f", tuned {100 * outcome.tuned.combined.hota:.2f}" if outcome.tuned else ""),
            file=sys.stderr,
        )
    measure_speed(outcomes, sequences, args.runs)
    body = render(outcomes, sequences, args.runs, command_line("motion_mot15.py", raw_argv))
    print(body)
    if args.results is not None:
        write_section(args.results, SECTION, body)
        print(f"\nwrote section '{SECTION}' of {args.results}", file=sys.stderr)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(to_json(outcomes), indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
