"""The video file reader: `VideoFileSource` reads a file in order, every frame (offline jobs).

Live cameras (latest-frame policy, reconnects) live in `tracker_service.streams`; they share
this module's file checks (`file_problem`) and `types.sane_fps`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import av
import cv2
import numpy as np

from tracker_service.closing import Closing
from tracker_service.types import Frame, sane_fps


class SourceError(RuntimeError):
    """A source cannot be opened or read; the message says which and why."""


class FileProblem(StrEnum):
    """Why a path cannot be a video file, before trying to decode it."""

    MISSING = "missing"
    NOT_A_FILE = "not a file"
    EMPTY = "empty"


def file_problem(path: Path) -> FileProblem | None:
    """What is wrong with `path` as a video file (None: it is a non-empty file)."""
    if not path.exists():
        return FileProblem.MISSING
    if not path.is_file():
        return FileProblem.NOT_A_FILE
    if path.stat().st_size == 0:
        return FileProblem.EMPTY
    return None


_FILE_PROBLEM_MESSAGES = {
    FileProblem.MISSING: "video {path} does not exist",
    FileProblem.NOT_A_FILE: "video {path} is not a file",
    FileProblem.EMPTY: "video {path} is empty (0 bytes)",
}


@dataclass(frozen=True, slots=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frame_count: int  # as the container claims; the real count is known after reading


# A container may announce a frame or two more than it stores (this one's sample clip does).
_MISSING_FRAMES_TOLERATED = 0.02


def probe_video(path: Path) -> VideoInfo:
    """Open `path`, decode its first frame, check it is complete, and describe it.

    `SourceError` if it is no video or is truncated (fewer stored frames than its container
    announces: an interrupted upload or copy).
    """
    with VideoFileSource(path) as source:
        info = source.info
    stored, announced = count_stored_frames(path)
    if announced and stored < announced * (1.0 - _MISSING_FRAMES_TOLERATED):
        raise SourceError(
            f"{path} is truncated: it stores {stored} of the {announced} frames its "
            "container announces"
        )
    return info


def count_stored_frames(path: Path) -> tuple[int, int]:
    """(video packets actually in the file, frames the container announces; 0 if unknown).

    Reads packets without decoding them: a pass over the file's bytes, no pixel work.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SourceError(f"{path} has no video stream")
            stream = container.streams.video[0]
            stored = sum(1 for packet in container.demux(stream) if packet.size)
            return stored, int(stream.frames or 0)
    except av.error.FFmpegError as exc:
        raise SourceError(f"{path} cannot be read as a video: {exc}") from None


def is_device(path: Path) -> bool:
    """A camera device (`/dev/videoN`), read live rather than as a file."""
    from tracker_service.camera_devices import device_path

    return device_path(str(path)) is not None


def _open_device(path: Path) -> cv2.VideoCapture:
    from tracker_service.camera_devices import diagnose_device, open_device

    capture = open_device(str(path))
    if not capture.isOpened():
        capture.release()
        raise SourceError(diagnose_device(str(path)))
    return capture


def _open_file(path: Path) -> cv2.VideoCapture:
    problem = file_problem(path)
    if problem is not None:
        raise SourceError(_FILE_PROBLEM_MESSAGES[problem].format(path=path))
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SourceError(f"{path} cannot be opened as a video (not a video, or corrupt)")
    return capture


class VideoFileSource(Closing):
    """Every frame of a video file (or of a camera device until stopped), with its timestamp
    in seconds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._capture = _open_device(path) if is_device(path) else _open_file(path)
        ok, first = self._capture.read()
        if not ok or first is None:
            self._capture.release()
            raise SourceError(f"{path} holds no decodable video frame (truncated or corrupt)")
        self._first: Frame | None = np.asarray(first, dtype=np.uint8)
        fps = float(self._capture.get(cv2.CAP_PROP_FPS))
        self.info = VideoInfo(
            width=first.shape[1],
            height=first.shape[0],
            fps=sane_fps(fps),
            frame_count=max(0, int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))),
        )
        self.frames_read = 0

    def __iter__(self) -> Iterator[tuple[int, float, Frame]]:
        """(frame index from 0, timestamp in seconds, BGR frame)."""
        if self._first is not None:
            frame, self._first = self._first, None
            yield self._emit(frame)
        while True:
            ok, decoded = self._capture.read()
            if not ok or decoded is None:
                return
            yield self._emit(np.asarray(decoded, dtype=np.uint8))

    def _emit(self, frame: Frame) -> tuple[int, float, Frame]:
        index = self.frames_read
        self.frames_read += 1
        return index, index / self.info.fps, frame

    def close(self) -> None:
        self._capture.release()
