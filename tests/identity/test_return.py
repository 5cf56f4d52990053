"""A person who leaves and comes back is the same identity: the whole pipeline on real pixels.

The first four seconds of people-detection.mp4 show one woman walking in; played three times
in a row she leaves (the clip cuts back to her entrance) and returns twice. The tracker
starts a new track each time (the boxes jump); the identity layer must find her again in the
gallery each time. Before the confirmed tracks taught their identity all their good views,
the identity kept only her first view, her later views matched it at 0.62 and every return
became a new identity.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from tests.conftest import require_asset, run_console_script

PASSES = 3
SECONDS = 4.0


def _looped_clip(source: Path, target: Path) -> Path:
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while len(frames) < SECONDS * fps:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for _ in range(PASSES):
        for frame in frames:
            writer.write(frame)
    writer.release()
    return target


@pytest.mark.slow
def test_a_person_who_comes_back_keeps_her_identity(tmp_path: Path) -> None:
    clip = _looped_clip(require_asset("videos/people-detection.mp4"), tmp_path / "loop.mp4")
    out = tmp_path / "out"
    completed = run_console_script(
        [
            "track",
            str(clip),
            "--out",
            str(out),
            "--no-video",
            "--detector",
            str(require_asset("models/yolov8n_int8_openvino_model")),
            "--embedder",
            str(require_asset("models/osnet_x0_25_msmt17.onnx")),
        ],
        timeout_s=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tracks"] == PASSES  # she is a new track each time she walks in
    assert summary["identities"] == 1  # and the same person each time
    assert summary["doubtful_tracks"] == 0
