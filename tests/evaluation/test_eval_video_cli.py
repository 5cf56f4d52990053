"""`tracker-service eval-video`: bad input, and the real pipeline on people-detection.mp4
scored against the committed ground truth (slow: the detector and embedder on 594 frames)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require_asset
from tracker_service import cli

GT = REPO_ROOT / "benchmarks" / "ground_truth" / "people-detection"


def test_pairs_must_be_video_and_ground_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["eval-video", str(tmp_path / "a.mp4")]) == 2
    assert "VIDEO GT_DIR pairs" in capsys.readouterr().err
    assert cli.main(["eval-video", str(tmp_path / "a.mp4"), str(GT)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_ground_truth_folder_without_gt_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = require_asset("videos/people-detection.mp4")
    assert cli.main(["eval-video", str(video), str(tmp_path)]) == 2
    assert "gt/gt.txt" in capsys.readouterr().err


@pytest.mark.slow
def test_people_detection_keeps_one_identity_per_person(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = require_asset("videos/people-detection.mp4")
    models = require_asset("models")
    out = tmp_path / "scores.json"
    argv = ["eval-video", str(video), str(GT), "--json", str(out)]
    argv += ["--config", str(REPO_ROOT / "configs" / "local-assets.yaml")]
    assert cli.main([*argv, "--models-dir", str(models)]) == 0
    printed = capsys.readouterr().out
    assert "global identities" in printed and "doubtful" in printed
    scores = json.loads(out.read_text())
    figures = scores["identity_figures"]
    # Seven people, nobody returns: seven identities, none shared, none split.
    assert (scores["identities"], figures["transfers"], figures["splits"]) == (7, 0, 0)
    assert scores["doubtful"] == 0
    assert scores["by_identity"]["idf1"] >= 0.85
