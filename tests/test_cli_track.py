"""`tracker-service track` end to end on the real clip, `track-mot`, and bad input.

The end-to-end run (`cli_run`, tests/conftest.py) is the real console script in a
subprocess with the shared detector and embedder; it runs once per session and every test
here reads its outputs. Bad input goes through `tracker_service.cli.main` in this process
(starting the console script costs seconds of imports each time), with one subprocess check
that the exit status and the single error line survive the console script too.
"""

from __future__ import annotations

import importlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.conftest import require_asset, run_console_script
from tracker_service import cli
from tracker_service.config import GalleryConfig
from tracker_service.evaluation import read_mot_file
from tracker_service.model_store import sha256_of
from tracker_service.reid.gallery import Gallery
from tracker_service.tracking.association import iou_matrix

CLIP_FRAMES = 594
PEOPLE_IN_CLIP = 7  # counted by eye
REID_DIM = 512


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No `TRACKER_*` setting of the developer's shell may change what the CLI sees."""
    for name in list(os.environ):
        if name.startswith("TRACKER_") and name != "TRACKER_ASSETS":
            monkeypatch.delenv(name)


# --- end to end --------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def summary(cli_run: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((cli_run / "summary.json").read_text())
    share = document["embedder_calls"] / max(1, document["detections"])
    print(
        f"\ntrack e2e: {document['frames']} frames at {document['fps']} fps, "
        f"{document['detections']} detections, {document['embedder_calls']} embedded "
        f"({share:.1%}), {document['tracks']} tracks, {document['identities']} identities "
        f"(people in the clip: {PEOPLE_IN_CLIP})"
    )
    return document


@pytest.mark.slow
def test_summary(summary: dict[str, Any]) -> None:
    for key in ("frames", "fps", "detections", "embedder_calls", "tracks", "identities"):
        assert key in summary, key
    assert summary["frames"] == CLIP_FRAMES
    assert summary["complete"] is True
    assert summary["fps"] > 0
    assert summary["video_fps"] == pytest.approx(23.96, abs=0.01)
    assert set(summary["outputs"].values()) == {
        "tracks.jsonl",
        "mot.txt",
        "annotated.mp4",
        "summary.json",
        "events.jsonl",
        "counts.json",
    }


@pytest.mark.slow
def test_scored_against_the_committed_ground_truth(summary: dict[str, Any], cli_run: Path) -> None:
    evaluation = summary["evaluation"]
    assert evaluation["ground_truth"] == ["people-detection"] and evaluation["people"] == 7
    # Seven people, none of them back: one identity each, none sliding to another.
    assert (evaluation["transfers"], evaluation["splits"]) == (0, 0)
    assert evaluation["after_merges"] == {"identities": 7, "transfers": 0, "splits": 0}
    assert evaluation["by_identity"]["idf1"] >= 95.0
    lines = (cli_run.parent / "cli-output.txt").read_text().splitlines()
    (line,) = [line for line in lines if line.startswith("against the ground truth (7 people)")]
    assert "0 transfers, 0 splits" in line


@pytest.mark.slow
def test_piped_output_is_short_and_plain(cli_run: Path) -> None:
    lines = (cli_run.parent / "cli-output.txt").read_text().splitlines()
    assert len(lines) < 30, "\n".join(lines)
    assert not any("\r" in line for line in lines)  # no progress-bar redraws
    assert not any("for OpenVINO inference" in line for line in lines)
    assert not any("made-dynamic" in line for line in lines)
    (outputs,) = [line for line in lines if line.startswith("outputs in ")]
    assert outputs.endswith(
        "annotated.mp4, counts.json, events.jsonl, mot.txt, summary.json, tracks.jsonl"
    )


@pytest.mark.slow
def test_every_frame_is_in_the_json_lines(cli_run: Path) -> None:
    frames = read_jsonl(cli_run / "tracks.jsonl")
    assert [f["frame"] for f in frames] == list(range(CLIP_FRAMES))
    states: dict[int, list[str]] = {}
    identities: dict[int, set[int | None]] = {}
    for document in frames:
        for track in document["tracks"]:
            assert "frame" not in track and "timestamp_s" not in track  # said once a line
            assert track["class"] == "person"
            states.setdefault(track["track_id"], []).append(track["state"])
            identities.setdefault(track["track_id"], set()).add(track["identity_id"])
            assert track["identity_provisional"] is False  # the run is over
            x1, y1, x2, y2 = track["box_xyxy"]
            assert x1 <= x2 and y1 <= y2
    # In hindsight a track starts at the detector's first weak box of the person (state
    # tentative: people walk in at the edges here) and a gap is filled (state lost).
    for track_states in states.values():
        confirmed = track_states.index("confirmed")
        assert set(track_states[:confirmed]) <= {"tentative"}
        assert set(track_states[confirmed:]) <= {"confirmed", "lost"}
    assert sum(s.count("tentative") for s in states.values()) >= len(states)
    # ... and every box of a track is under the identity the track ended with.
    assert all(len(labels) == 1 for labels in identities.values()), identities


@pytest.mark.slow
def test_mot_and_json_lines_agree_row_for_row(cli_run: Path) -> None:
    from_json = [
        (d["frame"] + 1, t["track_id"], t["box_xyxy"], t["score"])
        for d in read_jsonl(cli_run / "tracks.jsonl")
        for t in d["tracks"]
    ]
    mot = read_mot_file(cli_run / "mot.txt")  # validates the format and unique IDs per frame
    assert len(mot) == len(from_json) > 0
    assert mot.frames.tolist() == [row[0] for row in from_json]
    assert mot.ids.tolist() == [row[1] for row in from_json]
    xyxy = np.array([row[2] for row in from_json])
    tlwh = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]])
    # Both round to 2 decimals, one the corners and the other the size.
    np.testing.assert_allclose(mot.tlwh, tlwh, atol=0.011)
    np.testing.assert_allclose(mot.confidence, [row[3] for row in from_json], atol=1e-4)
    assert (mot.extra == -1).all()


@pytest.mark.slow
def test_the_annotated_video(cli_run: Path) -> None:
    capture = cv2.VideoCapture(str(cli_run / "annotated.mp4"))
    assert capture.isOpened()
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == CLIP_FRAMES
    assert int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 768
    assert int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == 432
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (432, 768, 3)


@pytest.mark.slow
def test_identities_are_in_the_saved_gallery(
    cli_run: Path, summary: dict[str, Any], onnx_reid_path: Path
) -> None:
    output = Counter(
        t["identity_id"]
        for d in read_jsonl(cli_run / "tracks.jsonl")
        for t in d["tracks"]
        if t["identity_id"] is not None
    )
    embedder_id = f"{onnx_reid_path.name}:{sha256_of(onnx_reid_path)[:16]}"
    gallery = Gallery(GalleryConfig(), REID_DIM, cli_run / "gallery", embedder_id)
    records, total = gallery.identities(limit=1000)
    # The run's own gallery started empty: what it holds is what the run created and showed.
    assert total == summary["identities_created"] == summary["identities"]
    assert {r.identity_id for r in records} == set(output)
    finished = (cli_run / "summary.json").stat().st_mtime
    started = finished - summary["wall_s"] - 60.0
    for record in records:
        assert gallery.canonical(record.identity_id) == record.identity_id
        assert started <= record.created_at <= finished
        assert record.exemplars >= 1
        assert record.sources == ("people-detection.mp4",)


@pytest.mark.slow
def test_the_embedder_runs_for_few_detections(summary: dict[str, Any]) -> None:
    assert summary["detections"] > 0
    assert summary["embedder_calls"] <= 0.25 * summary["detections"]
    assert summary["embedder_share"] == pytest.approx(
        summary["embedder_calls"] / summary["detections"], abs=1e-4
    )
    assert summary["cache_hits"] + summary["cache_misses"] <= summary["detections"]


@pytest.mark.slow
def test_about_one_identity_per_person(summary: dict[str, Any], cli_run: Path) -> None:
    tracks = {t["track_id"] for d in read_jsonl(cli_run / "tracks.jsonl") for t in d["tracks"]}
    assert summary["tracks"] == len(tracks)
    print(f"\nidentities {summary['identities']} for {PEOPLE_IN_CLIP} people")
    assert 5 <= summary["identities"] <= 9


@pytest.mark.slow
def test_bad_input_through_the_console_script(tmp_path: Path) -> None:
    completed = run_console_script(
        ["track", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "out")]
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines() == [
        f"tracker-service track: error: video {tmp_path / 'missing.mp4'} does not exist "
        "or is not a file"
    ]


def tlwh_to_xyxy(tlwh: np.ndarray) -> np.ndarray:
    return np.column_stack([tlwh[:, :2], tlwh[:, :2] + tlwh[:, 2:]])


# --- track-mot ---------------------------------------------------------------------------------


def test_track_mot_writes_a_valid_mot_file(
    mot15_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sequence = mot15_root / "TUD-Campus"
    out = tmp_path / "results" / "TUD-Campus.txt"
    assert cli.main(["track-mot", str(sequence), "--out", str(out)]) == 0
    assert "TUD-Campus: 71 frames" in capsys.readouterr().out
    rows = read_mot_file(out)  # raises on a malformed row or an ID twice in a frame
    assert len(rows) > 0
    assert set(rows.columns.tolist()) == {10}
    assert rows.frames.min() >= 1 and rows.frames.max() <= 71
    assert (rows.ids >= 1).all()
    assert (rows.tlwh[:, 2:] > 0).all()
    assert ((rows.confidence > 0) & (rows.confidence <= 1)).all()
    assert (np.diff(rows.frames) >= 0).all()
    # A sanity check, not a benchmark: the boxes are on people.
    gt = read_mot_file(sequence / "gt" / "gt.txt", min_columns=7)
    on_people = 0
    for frame in np.unique(rows.frames):
        ours, theirs = rows.tlwh[rows.frames == frame], gt.tlwh[gt.frames == frame]
        iou = iou_matrix(tlwh_to_xyxy(ours), tlwh_to_xyxy(theirs))
        on_people += int((iou.max(axis=1, initial=0.0) >= 0.5).sum())
    assert on_people >= 0.8 * len(rows)


def test_track_mot_in_hindsight_adds_to_the_live_tracks(mot15_root: Path, tmp_path: Path) -> None:
    sequence = mot15_root / "TUD-Stadtmitte"
    live, completed = tmp_path / "live.txt", tmp_path / "hindsight.txt"
    assert cli.main(["track-mot", str(sequence), "--out", str(live)]) == 0
    assert cli.main(["track-mot", str(sequence), "--out", str(completed), "--hindsight"]) == 0
    before, after = read_mot_file(live), read_mot_file(completed)  # still one id a frame
    seen = {(int(f), int(i)) for f, i in zip(before.frames, before.ids, strict=True)}
    added = {(int(f), int(i)) for f, i in zip(after.frames, after.ids, strict=True)} - seen
    assert seen <= {(int(f), int(i)) for f, i in zip(after.frames, after.ids, strict=True)}
    assert added  # people hidden a moment, tracks started at their first box
    # Every added row belongs to a track that is shown live, next to its live rows.
    spans = {}
    for frame, track in seen:
        first, last = spans.get(track, (frame, frame))
        spans[track] = (min(first, frame), max(last, frame))
    fps = 25  # TUD-Stadtmitte
    for frame, track in added:
        first, last = spans[track]
        assert first - fps <= frame <= last


def test_track_mot_on_a_folder_that_is_no_sequence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["track-mot", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "seqinfo.ini not found" in err and "Traceback" not in err


# --- bad input ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ultralytics_imported() -> None:
    """Import Ultralytics before any test captures output.

    Ultralytics binds its log handler to the `sys.stdout` of the moment it is first imported;
    under capsys that stream is closed once the test ends, and every later Ultralytics log
    line would then print a logging error, with a traceback, to stderr. Like the detector,
    keep its import from setting OMP_NUM_THREADS for the rest of the session.
    """
    previous = os.environ.get("OMP_NUM_THREADS")
    importlib.import_module("ultralytics")
    if previous is None:
        os.environ.pop("OMP_NUM_THREADS", None)


def run_track(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["track", *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error:" in line]


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "out"


def test_a_missing_video(tmp_path: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "nowhere.mp4"
    code, err = run_track(capsys, str(video), "--out", str(out_dir))
    assert code == 2
    assert error_lines(err) == [
        f"tracker-service track: error: video {video} does not exist or is not a file"
    ]
    assert not out_dir.exists()


def test_a_text_file_as_video(
    tmp_path: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = tmp_path / "notes.mp4"
    video.write_text("not a video\n" * 100)
    code, err = run_track(capsys, str(video), "--out", str(out_dir))
    assert code == 2
    assert error_lines(err) == [
        f"tracker-service track: error: {video} cannot be opened as a video "
        "(not a video, or corrupt)"
    ]
    # Refused before any model was loaded (none is given here, and none would be found).
    assert "detector" not in err


@pytest.mark.usefixtures("ultralytics_imported")
def test_a_missing_detector(
    video_path: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = out_dir.parent / "models" / "detector.xml"
    code, err = run_track(
        capsys, str(video_path), "--out", str(out_dir), "--detector", str(missing)
    )
    assert code == 2
    (line,) = error_lines(err)
    assert f"detector model '{missing}' not found" in line


@pytest.mark.usefixtures("ultralytics_imported")
def test_a_missing_reid_model(
    video_path: Path,
    detector_path: Path,
    out_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = out_dir.parent / "reid.onnx"
    code, err = run_track(
        capsys,
        str(video_path),
        "--out",
        str(out_dir),
        "--detector",
        str(detector_path),
        "--embedder",
        str(missing),
    )
    assert code == 2
    (line,) = error_lines(err)
    assert f"reid model '{missing}' not found" in line


@pytest.mark.usefixtures("ultralytics_imported")
def test_a_directory_as_reid_model(
    video_path: Path,
    detector_path: Path,
    tmp_path: Path,
    out_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "osnet.onnx"
    folder.mkdir()
    code, err = run_track(
        capsys,
        str(video_path),
        "--out",
        str(out_dir),
        "--detector",
        str(detector_path),
        "--embedder",
        str(folder),
    )
    assert code == 2
    (line,) = error_lines(err)
    assert f"re-ID model {folder} is a directory; expected a file" in line


@pytest.mark.parametrize(
    ("yaml_text", "problem"),
    [
        ("tracker:\n  lost_bufer_s: 3\n", "tracker.lost_bufer_s: Extra inputs are not permitted"),
        ("colour: red\n", "colour: Extra inputs are not permitted"),
        ("detector:\n  imgsz: 100\n", "imgsz must be a multiple of 32, got 100"),
        ("detector:\n  imgsz: 16\n", "detector.imgsz: Input should be greater than or equal to 32"),
        ("tracker:\n  low_score: 0.9\n", "low_score must not exceed high_score"),
        ("gallery:\n  match_threshold: 2\n", "gallery.match_threshold: Input should be less"),
        ("tracker: [1, 2]\n", "tracker: Input should be a valid dictionary"),
        ("- just\n- a list\n", "must hold a mapping at the top level"),
        ("detector: {imgsz: 640\n", "is not valid YAML: line 2, column 1: expected ','"),
    ],
)
def test_a_bad_config(
    video_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    yaml_text: str,
    problem: str,
) -> None:
    out_dir = tmp_path / "out"
    config = tmp_path / "config.yaml"
    config.write_text(yaml_text)
    code, err = run_track(capsys, str(video_path), "--out", str(out_dir), "--config", str(config))
    assert code == 2
    assert err.startswith("tracker-service track: error: ")
    # The message names the file and the key, and says what is wrong: one line, plus one
    # per invalid key.
    assert problem in err
    assert str(config) in err
    assert len(err.strip().splitlines()) <= 2
    assert not out_dir.exists()


def test_a_missing_config_file(
    video_path: Path,
    tmp_path: Path,
    out_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "absent.yaml"
    code, err = run_track(capsys, str(video_path), "--out", str(out_dir), "--config", str(config))
    assert code == 2
    assert error_lines(err) == [f"tracker-service track: error: config file not found: {config}"]


def test_an_unknown_tracker_variable(
    video_path: Path,
    out_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACKER_TRACKER__LOST_BUFER_S", "3")
    code, err = run_track(capsys, str(video_path), "--out", str(out_dir))
    assert code == 2
    (line,) = error_lines(err)
    assert "TRACKER_TRACKER__LOST_BUFER_S is not a configuration key" in line


def test_require_asset_is_used_for_the_clip() -> None:
    # The end-to-end fixture and these tests read the same clip.
    assert require_asset("videos/people-detection.mp4").name == "people-detection.mp4"


def test_mot_ids_by_identity_is_a_track_option() -> None:
    from tracker_service.cli import build_parser
    from tracker_service.cli.track import config_from_args

    args = build_parser().parse_args(["track", "v.mp4", "--out", "o", "--mot-ids", "identity"])
    assert config_from_args(args).output.mot_ids == "identity"
    default = build_parser().parse_args(["track", "v.mp4", "--out", "o"])
    assert config_from_args(default).output.mot_ids == "track"


def test_an_absent_camera_device_is_one_line(
    out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_track(capsys, "/dev/video97", "--out", str(out_dir))
    assert code == 2
    (line,) = error_lines(err)
    assert "no camera device /dev/video97 (is the camera plugged in?" in line
