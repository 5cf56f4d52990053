"""`tracker-service eval GT_DIR RESULTS_DIR`: table, JSON, and errors with exit code 2."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from tests.conftest import require_asset
from tracker_service import cli
from tracker_service.cli import UsageError
from tracker_service.cli import eval as eval_cli

GT_ROWS = "1,1,0,0,10,10,1,-1,-1,-1\n2,1,0,0,10,10,1,-1,-1,-1\n"
RESULT_ROWS = "1,3,0,0,10,10,0.9,-1,-1,-1\n2,3,0,0,10,10,0.9,-1,-1,-1\n"


def run_eval(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    eval_cli.register(parser.add_subparsers())
    args = parser.parse_args(["eval", *argv])
    code: int = args.handler(args)
    return code


def main_eval(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    """Through `tracker-service`'s main, with only the eval command registered."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("tracker_service.cli.eval",))
    return cli.main(["eval", *argv])


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    gt_dir, results_dir = tmp_path / "gt", tmp_path / "results"
    for name in ("seq-a", "seq-b"):
        (gt_dir / name / "gt").mkdir(parents=True)
        (gt_dir / name / "gt" / "gt.txt").write_text(GT_ROWS)
        (gt_dir / name / "seqinfo.ini").write_text("[Sequence]\nseqLength=3\nframeRate=10\n")
    results_dir.mkdir()
    (results_dir / "seq-a.txt").write_text(RESULT_ROWS)
    (results_dir / "seq-b.txt").write_text(RESULT_ROWS.splitlines()[0] + "\n")
    return gt_dir, results_dir


def test_prints_a_table_and_writes_json(
    folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gt_dir, results_dir = folders
    json_path = tmp_path / "out" / "metrics.json"
    assert run_eval(str(gt_dir), str(results_dir), "--json", str(json_path)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["Sequence", "HOTA", "DetA", "AssA", "MOTA", "IDF1"]
    assert lines[1].split()[:5] == ["seq-a", "100.00", "100.00", "100.00", "100.00"]
    assert lines[2].split()[4] == "50.00"  # seq-b: MOTA, one of two boxes found
    assert lines[3].split()[4] == "75.00"  # COMBINED: 3 of 4 boxes
    document = json.loads(json_path.read_text())
    assert document["sequences"]["seq-a"]["mota"] == 1.0
    assert document["sequences"]["seq-b"]["benchmark"] == "MOT15"
    assert document["sequences"]["seq-b"]["frames"] == 3
    assert document["combined"]["mota"] == 0.75
    assert document["combined"]["false_negatives"] == 1
    assert document["skipped"] == []


def test_a_missing_results_file_names_the_sequence(folders: tuple[Path, Path]) -> None:
    gt_dir, results_dir = folders
    (results_dir / "seq-b.txt").unlink()
    with pytest.raises(UsageError, match=r"no results for sequence 'seq-b': .*seq-b\.txt"):
        run_eval(str(gt_dir), str(results_dir))


def test_missing_results_can_be_skipped_or_scored_empty(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    gt_dir, results_dir = folders
    (results_dir / "seq-b.txt").unlink()
    assert run_eval(str(gt_dir), str(results_dir), "--missing", "skip") == 0
    out = capsys.readouterr().out
    assert "skipped (no results): seq-b" in out
    assert out.splitlines()[-2].split()[:5] == ["COMBINED", "100.00", "100.00", "100.00", "100.00"]
    assert run_eval(str(gt_dir), str(results_dir), "--missing", "empty") == 0
    assert capsys.readouterr().out.splitlines()[-1].split()[4] == "50.00"


def test_a_malformed_row_exits_2_naming_file_and_line(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gt_dir, results_dir = folders
    (results_dir / "seq-a.txt").write_text(RESULT_ROWS + "3,3,0,0,ten,10,1,-1,-1,-1\n")
    assert main_eval(monkeypatch, str(gt_dir), str(results_dir)) == 2
    error = capsys.readouterr().err
    assert f"{results_dir / 'seq-a.txt'}:3: column 5 is not a number: 'ten'" in error


def test_missing_folders_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_eval(monkeypatch, str(tmp_path / "nope"), str(tmp_path)) == 2
    assert "ground-truth folder not found" in capsys.readouterr().err
    assert main_eval(monkeypatch, str(tmp_path), str(tmp_path / "nope")) == 2
    assert "results folder not found" in capsys.readouterr().err


def test_a_folder_without_sequences_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no sequences in"):
        run_eval(str(tmp_path), str(tmp_path))


def test_benchmark_can_be_forced(folders: tuple[Path, Path]) -> None:
    gt_dir, results_dir = folders
    # MOT15 ground truth has no class column: read as MOT17 it is rejected, naming the line.
    with pytest.raises(UsageError, match=r"gt\.txt:1: column 8 must be a MOTChallenge class"):
        run_eval(str(gt_dir), str(results_dir), "--benchmark", "MOT17")


def test_mot17_mini_ground_truth_scores_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mot17 = require_asset("mot/MOT17-mini")
    # Every sequence the folder holds (the shared copy grew from two to seven clips).
    sequences = sorted(path.name for path in mot17.iterdir() if (path / "gt" / "gt.txt").is_file())
    for sequence in sequences:
        rows = (mot17 / sequence / "gt" / "gt.txt").read_text().splitlines()
        # A tracker's view: the pedestrians to score (flag 1, class 1), frame,id,box only.
        people = [row for row in rows if row.split(",")[6:8] == ["1", "1"]]
        results = ["{},{},{},{},{},{},1,-1,-1,-1".format(*row.split(",")[:6]) for row in people]
        (tmp_path / f"{sequence}.txt").write_text("\n".join(results) + "\n")
    assert run_eval(str(mot17), str(tmp_path)) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [row.split()[0] for row in rows[1:]] == [*sequences, "COMBINED"]
    for row in rows[1:]:
        assert row.split()[1:6] == ["100.00"] * 5
