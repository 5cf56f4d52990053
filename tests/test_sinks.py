"""Writers: MOTChallenge txt, JSON lines, and the annotated H.264 MP4."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tracker_service.annotate import draw_tracks, identity_colour, record_label
from tracker_service.evaluation.mot_files import read_mot_file
from tracker_service.sinks.jsonl import JsonLinesWriter, frame_to_dict
from tracker_service.sinks.mot import MotWriter, format_mot_row
from tracker_service.sinks.video import AnnotatedVideoWriter
from tracker_service.types import FrameResult, TrackRecord, TrackState


def record(
    frame: int, track_id: int, identity: int | None, xyxy: tuple[float, float, float, float]
) -> TrackRecord:
    return TrackRecord(
        frame_index=frame,
        timestamp_s=frame / 25.0,
        track_id=track_id,
        identity_id=identity,
        xyxy=xyxy,
        score=0.87654,
        state=TrackState.CONFIRMED,
    )


FRAME_0 = (record(0, 1, 7, (10.0, 20.0, 50.5, 120.25)), record(0, 2, None, (0.0, 0.0, 5.0, 5.0)))
FRAME_1 = (record(1, 1, 7, (12.0, 21.0, 52.5, 121.25)),)


def test_mot_row_format() -> None:
    assert format_mot_row(1, 3, (10.0, 20.0, 40.5, 100.25), 0.87654) == (
        "1,3,10.00,20.00,40.50,100.25,0.8765,-1,-1,-1\n"
    )


def test_mot_writer_rows_are_one_based_with_track_ids(tmp_path: Path) -> None:
    path = tmp_path / "mot.txt"
    with MotWriter(path) as writer:
        writer.write(FRAME_0)
        writer.write(())
        writer.write(FRAME_1)
    assert path.read_text().splitlines() == [
        "1,1,10.00,20.00,40.50,100.25,0.8765,-1,-1,-1",
        "1,2,0.00,0.00,5.00,5.00,0.8765,-1,-1,-1",
        "2,1,12.00,21.00,40.50,100.25,0.8765,-1,-1,-1",
    ]
    # What the evaluation reads back.
    rows = read_mot_file(path)
    assert rows.frames.tolist() == [1, 1, 2]
    assert rows.ids.tolist() == [1, 2, 1]
    np.testing.assert_allclose(rows.tlwh[0], [10, 20, 40.5, 100.25])


def test_mot_writer_with_identities_skips_unresolved_tracks(tmp_path: Path) -> None:
    path = tmp_path / "mot.txt"
    with MotWriter(path, use_identity=True) as writer:
        writer.write(FRAME_0)
    assert path.read_text() == "1,7,10.00,20.00,40.50,100.25,0.8765,-1,-1,-1\n"


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "tracks.jsonl"
    results = [
        FrameResult(0, 0.0, FRAME_0, detections=3, embedded=1, appeared=(7,)),
        FrameResult(1, 0.04, FRAME_1, detections=1, embedded=0),
        FrameResult(2, 0.08, (), detections=0, embedded=0, left=(7,)),
    ]
    with JsonLinesWriter(path) as writer:
        for result in results:
            writer.write(result)
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    documents = [json.loads(line) for line in lines]
    assert documents[0] == {
        "frame": 0,
        "timestamp_s": 0.0,
        "tracks": [
            {
                "class": "person",
                "identity_id": 7,
                "identity_provisional": False,
                "track_id": 1,
                "box_xyxy": [10.0, 20.0, 50.5, 120.25],
                "score": 0.8765,
                "state": "confirmed",
            },
            {
                "class": "person",
                "identity_id": None,
                "identity_provisional": False,
                "track_id": 2,
                "box_xyxy": [0.0, 0.0, 5.0, 5.0],
                "score": 0.8765,
                "state": "confirmed",
            },
        ],
    }
    assert documents[1]["frame"] == 1 and documents[1]["timestamp_s"] == 0.04
    assert [t["track_id"] for t in documents[1]["tracks"]] == [1]
    assert documents[2] == {"frame": 2, "timestamp_s": 0.08, "tracks": []}
    assert documents == [frame_to_dict(r) for r in results]


@pytest.mark.parametrize(("width", "height"), [(96, 64), (97, 65)])
def test_annotated_video_is_h264_and_opens_with_opencv(
    tmp_path: Path, width: int, height: int
) -> None:
    path = tmp_path / "annotated.mp4"
    frames = 12
    with AnnotatedVideoWriter(path, width, height, fps=23.96) as writer:
        for i in range(frames):
            frame = np.full((height, width, 3), 40, np.uint8)
            frame[:, : 8 * i] = 200  # something that changes
            writer.write(frame)
    assert writer.frames_written == frames
    # H.264 needs even dimensions: odd ones lose their last column/row.
    even = (width - width % 2, height - height % 2)
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    decoded = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        assert (image.shape[1], image.shape[0]) == even
        decoded += 1
    capture.release()
    assert decoded == frames
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == even
        assert stream.average_rate is not None
        assert float(stream.average_rate) == pytest.approx(23.96, abs=0.01)
    # +faststart: the index (moov) comes before the media data (mdat).
    data = path.read_bytes()
    assert 0 <= data.index(b"moov") < data.index(b"mdat")


def test_drawing_labels_by_identity_and_leaves_the_input_alone() -> None:
    frame = np.zeros((120, 160, 3), np.uint8)
    tracks = (
        record(0, 1, 7, (10.0, 20.0, 60.0, 100.0)),
        record(0, 2, None, (80.0, 20.0, 120.0, 100.0)),
    )
    canvas = draw_tracks(frame, tracks, lambda identity: "alice" if identity == 7 else None)
    assert not frame.any()
    assert canvas.shape == frame.shape and canvas.any()
    # Each box is drawn in its identity's colour (the label's filled background has it).
    assert (canvas == identity_colour(7)).all(axis=2).any()
    assert (canvas == identity_colour(-2)).all(axis=2).any()  # unresolved: by track
    assert record_label(tracks[0], lambda _: "alice") == "alice (t1)"
    assert record_label(tracks[0]) == "ID 7 (t1)"
    assert record_label(tracks[1]) == "new (t2)"
    # An identity that may still change says so.
    assert record_label(replace(tracks[0], identity_provisional=True)) == "ID 7? (t1)"
    assert identity_colour(7) != identity_colour(8)


def test_a_finished_run_is_rewritten_under_each_track_s_final_identity(tmp_path: Path) -> None:
    from tracker_service.identity.final_labels import TrackIdentities
    from tracker_service.sinks.relabel import rewrite_files

    tracks, mot = tmp_path / "tracks.jsonl", tmp_path / "mot.txt"
    frames = [
        FrameResult(0, 0.0, FRAME_0, 2, 0),
        # Track 2 is decided as 9 (later folded into 7, track 1's): one box keeps 7.
        FrameResult(1, 0.04, (*FRAME_1, record(1, 2, 9, (0.0, 0.0, 5.0, 5.0))), 2, 0),
        FrameResult(2, 0.08, (record(2, 2, 9, (1.0, 0.0, 6.0, 5.0)),), 1, 0),
    ]
    identities = TrackIdentities()
    with JsonLinesWriter(tracks) as json_sink, MotWriter(mot, use_identity=True) as mot_sink:
        for result in frames:
            json_sink.write(result)
            mot_sink.write(result.tracks)
            identities.observe(result.tracks)
    rewrite_files(tracks, mot, identities.final({9: 7, 7: 7}.get))
    written = [json.loads(line) for line in tracks.read_text().splitlines()]
    labels = [[(t["track_id"], t["identity_id"]) for t in f["tracks"]] for f in written]
    assert labels == [[(1, 7), (2, None)], [(1, 7), (2, None)], [(2, 7)]]
    assert all(not t["identity_provisional"] for f in written for t in f["tracks"])
    rows = read_mot_file(mot)  # still valid: one identity a frame
    assert list(zip(rows.frames.tolist(), rows.ids.tolist(), strict=True)) == [
        (1, 7),
        (2, 7),
        (3, 7),
    ]
    assert not list(tmp_path.glob("*.part"))
