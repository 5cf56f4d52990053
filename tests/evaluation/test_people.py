"""Ground-truth ids that are one person (`evaluation.people`, `eval-video --people`): the map
file, the merged ground truth, and the committed PETS09-S2L1 map against its real ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, require_asset
from tracker_service import cli
from tracker_service.evaluation.errors import MotFormatError
from tracker_service.evaluation.people import read_people
from tracker_service.evaluation.video import GroundTruth

PETS_PEOPLE = REPO_ROOT / "benchmarks" / "ground_truth" / "pets09-s2l1-people.csv"


def ground_truth(folder: Path, rows: list[str]) -> Path:
    (folder / "gt").mkdir(parents=True)
    (folder / "gt" / "gt.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_a_person_who_came_back_under_a_new_id_is_scored_as_one(tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("# returns\n\n3,1   # walked out at frame 2, back at 5\n", encoding="utf-8")
    rows = ["1,1,0,0,10,20,1", "1,2,50,0,10,20,1", "2,1,1,0,10,20,1", "5,3,2,0,10,20,1"]
    truth = GroundTruth.read(ground_truth(tmp_path / "seq", rows)).by_person(read_people(people))
    assert truth.rows.ids.tolist() == [1, 2, 1, 1]
    assert np.array_equal(truth.rows.frames, [1, 1, 2, 5])


def test_two_ids_in_one_frame_cannot_be_one_person(tmp_path: Path) -> None:
    rows = ["1,1,0,0,10,20,1", "1,2,50,0,10,20,1"]
    truth = GroundTruth.read(ground_truth(tmp_path / "seq", rows))
    with pytest.raises(MotFormatError, match="frame 1 has two ids of person 1"):
        truth.by_person({2: 1})


@pytest.mark.parametrize(
    ("text", "reason"),
    [("3;1\n", "two integers"), ("3,1,2\n", "two integers"), ("3,1\n3,2\n", "two people")],
)
def test_a_malformed_people_file_names_the_line(tmp_path: Path, text: str, reason: str) -> None:
    people = tmp_path / "people.csv"
    people.write_text("# ok\n" + text, encoding="utf-8")
    with pytest.raises(MotFormatError, match=reason) as raised:
        read_people(people)
    assert raised.value.line is not None and raised.value.line >= 2


def test_the_pets09_map_makes_nineteen_ids_ten_people() -> None:
    folder = require_asset("mot/PETS09-S2L1-video")
    truth = GroundTruth.read(folder)
    people = read_people(PETS_PEOPLE)
    merged = truth.by_person(people)  # raises if two ids of one person share a frame
    assert len(set(truth.rows.ids.tolist())) == 19
    assert len(set(merged.rows.ids.tolist())) == 10
    # Each return starts after the person's previous id has left the view.
    for gt_id, person in people.items():
        if gt_id != person:
            before = truth.rows.frames[truth.rows.ids == person]
            assert truth.rows.frames[truth.rows.ids == gt_id].min() > before.min()


def test_eval_video_names_a_missing_people_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = require_asset("videos/people-detection.mp4")
    gt = REPO_ROOT / "benchmarks" / "ground_truth" / "people-detection"
    argv = ["eval-video", str(video), str(gt), "--people", str(tmp_path / "none.csv")]
    assert cli.main(argv) == 2
    assert "people file" in capsys.readouterr().err


@pytest.mark.slow
def test_pets09_by_person_holds_through_the_crossing_at_the_sign_post(tmp_path: Path) -> None:
    """The real pipeline on PETS09-S2L1, scored person by person: at the sign post (frames
    150-160) the woman in the light hoodie (GT 16) walks past the man in black who stands
    behind it (GT 15) and the man in jeans (GT 9). Her identity must not go to either man."""
    video = require_asset("videos/pets09-s2l1.mp4")
    out = tmp_path / "scores.json"
    argv = ["eval-video", str(video), str(require_asset("mot/PETS09-S2L1-video"))]
    argv += ["--people", str(PETS_PEOPLE), "--json", str(out)]
    argv += ["--config", str(REPO_ROOT / "configs" / "local-assets.yaml")]
    assert cli.main([*argv, "--models-dir", str(require_asset("models"))]) == 0
    scores = json.loads(out.read_text())
    figures = scores["identity_figures"]
    assert figures["gt_ids"] == 10 and scores["people"] == str(PETS_PEOPLE)
    for identity, people in figures["transferred"].items():
        assert "16" not in people, f"identity {identity} covers the woman and {people}"
    assert scores["by_identity"]["idf1"] >= 0.65
