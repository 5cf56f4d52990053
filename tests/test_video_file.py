"""`VideoFileSource` on the real clip, and its errors for files that are not (whole) videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tracker_service.video_file import SourceError, VideoFileSource, probe_video

CLIP_FRAMES = 594  # decodable frames (the container announces 596)
CLIP_FPS = 23.96


def count_frames(path: Path) -> int:
    with VideoFileSource(path) as source:
        return sum(1 for _ in source)


def test_the_real_clip(video_path: Path) -> None:
    with VideoFileSource(video_path) as source:
        info = source.info
        assert (info.width, info.height) == (768, 432)
        assert info.fps == pytest.approx(CLIP_FPS, abs=0.01)
        assert info.frame_count == 596
        indices, stamps = [], []
        first = None
        for index, timestamp, frame in source:
            if first is None:
                first = frame
            assert frame.shape == (432, 768, 3) and frame.dtype == np.uint8
            indices.append(index)
            stamps.append(timestamp)
        assert source.frames_read == CLIP_FRAMES
    assert indices == list(range(CLIP_FRAMES))
    np.testing.assert_allclose(stamps, np.arange(CLIP_FRAMES) / info.fps)
    assert first is not None and first.any()  # a real picture, not a blank


def test_probe_describes_without_reading_everything(video_path: Path) -> None:
    info = probe_video(video_path)
    assert (info.width, info.height, info.frame_count) == (768, 432, 596)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"missing\.mp4 does not exist"):
        VideoFileSource(tmp_path / "missing.mp4")


def test_a_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is not a file"):
        VideoFileSource(tmp_path)


def test_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(SourceError, match=r"is empty \(0 bytes\)"):
        VideoFileSource(path)


def test_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("these are notes, not a video\n" * 50)
    with pytest.raises(SourceError, match="cannot be opened as a video"):
        VideoFileSource(path)


def truncated(video_path: Path, tmp_path: Path, size: int) -> Path:
    path = tmp_path / f"truncated-{size}.mp4"
    path.write_bytes(video_path.read_bytes()[:size])
    return path


def test_a_file_cut_inside_its_header(video_path: Path, tmp_path: Path) -> None:
    # The clip's index (moov) ends at byte 3241: without it the container cannot be opened.
    with pytest.raises(SourceError, match="cannot be opened as a video"):
        VideoFileSource(truncated(video_path, tmp_path, 1000))


def test_a_file_cut_before_its_first_frame(video_path: Path, tmp_path: Path) -> None:
    # Header complete, media data cut short of the first (key) frame: opens, decodes nothing.
    size = video_path.stat().st_size // 100
    with pytest.raises(SourceError, match="no decodable video frame"):
        VideoFileSource(truncated(video_path, tmp_path, size))


def test_a_truncated_file_yields_the_frames_it_has(video_path: Path, tmp_path: Path) -> None:
    path = truncated(video_path, tmp_path, int(video_path.stat().st_size * 0.3))
    with VideoFileSource(path) as source:
        assert source.info.frame_count == 596  # the header still announces them all
        frames = sum(1 for _ in source)
    # Fewer frames, no error: roughly the share of the bytes kept (176 here).
    assert 0 < frames < CLIP_FRAMES
    assert abs(frames - 0.3 * CLIP_FRAMES) < 0.1 * CLIP_FRAMES
