"""`tracker-service eval GT_DIR RESULTS_DIR`: HOTA, MOTA, IDF1... of MOTChallenge results."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from tracker_service.cli import UsageError
from tracker_service.evaluation import (
    MISSING_POLICIES,
    Benchmark,
    EvaluationError,
    EvaluationReport,
    TrackingMetrics,
)

_AUTO = "auto"
_NAME_WIDTH = 16
_COLUMN_WIDTH = 8
_Cell = Callable[[TrackingMetrics], str]


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


# Column title -> how to show it from the metrics.
_COLUMNS: dict[str, _Cell] = {
    "HOTA": lambda m: _percent(m.hota),
    "DetA": lambda m: _percent(m.deta),
    "AssA": lambda m: _percent(m.assa),
    "MOTA": lambda m: _percent(m.mota),
    "IDF1": lambda m: _percent(m.idf1),
    "IDSW": lambda m: str(m.id_switches),
    "Frag": lambda m: str(m.fragmentations),
    "MT": lambda m: str(m.mostly_tracked),
    "ML": lambda m: str(m.mostly_lost),
    "Rcll": lambda m: _percent(m.recall),
    "Prcn": lambda m: _percent(m.precision),
    "FP": lambda m: str(m.false_positives),
    "FN": lambda m: str(m.false_negatives),
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score MOTChallenge results against ground truth (TrackEval's metrics)",
        description=(
            "Score RESULTS_DIR/<seq>.txt against GT_DIR/<seq>/gt/gt.txt for every sequence of "
            "GT_DIR with TrackEval's HOTA, CLEAR (MOTA) and identity (IDF1) metrics; prints a "
            "table per sequence and combined. Percentages in the table, fractions in --json."
        ),
    )
    parser.add_argument("gt_dir", type=Path, metavar="GT_DIR", help="folder of <seq>/gt/gt.txt")
    parser.add_argument("results_dir", type=Path, metavar="RESULTS_DIR", help="folder of <seq>.txt")
    parser.add_argument("--json", type=Path, dest="json_path", metavar="FILE", help="write here")
    parser.add_argument(
        "--missing",
        choices=MISSING_POLICIES,
        default="error",
        help="a sequence without results: error (default), skip it, or score it as empty",
    )
    parser.add_argument(
        "--benchmark",
        choices=[_AUTO, *(benchmark.value for benchmark in Benchmark)],
        default=_AUTO,
        help="ground-truth rules; auto: MOT15 for 10-column gt, MOT17 for 9 (MOT20-* names: MOT20)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tracker_service.evaluation import evaluate_folders  # TrackEval: only when used

    benchmark = None if args.benchmark == _AUTO else Benchmark(args.benchmark)
    try:
        report = evaluate_folders(args.gt_dir, args.results_dir, args.missing, benchmark)
    except EvaluationError as exc:
        raise UsageError(str(exc)) from exc
    print(format_table(report))
    if args.json_path is not None:
        _write_json(args.json_path, args, report)
    return 0


def format_table(report: EvaluationReport) -> str:
    """One row per sequence and a COMBINED row; rates in percent."""
    lines = [_row("Sequence", list(_COLUMNS))]
    lines += [_metrics_row(sequence.name, sequence.metrics) for sequence in report.sequences]
    lines.append(_metrics_row("COMBINED", report.combined))
    if report.skipped:
        lines.append(f"skipped (no results): {', '.join(report.skipped)}")
    return "\n".join(lines)


def _metrics_row(name: str, metrics: TrackingMetrics) -> str:
    return _row(name, [cell(metrics) for cell in _COLUMNS.values()])


def _row(name: str, cells: list[str]) -> str:
    return f"{name:<{_NAME_WIDTH}}" + "".join(f"{cell:>{_COLUMN_WIDTH}}" for cell in cells)


def _write_json(path: Path, args: argparse.Namespace, report: EvaluationReport) -> None:
    document: dict[str, object] = {"gt_dir": str(args.gt_dir), "results_dir": str(args.results_dir)}
    document.update(report.to_dict())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc}") from exc
