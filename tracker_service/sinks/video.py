"""Annotated MP4 writer: H.264 (libx264 through PyAV), playable in browsers.

OpenCV's bundled FFmpeg has no H.264 encoder and its MPEG-4 Part 2 output does not play in
browsers, hence PyAV. `+faststart` moves the index to the front so playback starts at once.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from tracker_service.closing import Closing
from tracker_service.types import Frame


class AnnotatedVideoWriter(Closing):
    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        self.path = path
        # H.264 with 4:2:0 chroma needs even dimensions.
        self.width, self.height = width - width % 2, height - height % 2
        self._container: Any = av.open(str(path), mode="w", options={"movflags": "+faststart"})
        rate = Fraction(fps).limit_denominator(1001)
        self._stream: Any = self._container.add_stream("libx264", rate=rate)
        self._stream.width = self.width
        self._stream.height = self.height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"preset": "veryfast", "crf": "23"}
        self.frames_written = 0

    def write(self, frame: Frame) -> None:
        picture = av.VideoFrame.from_ndarray(frame[: self.height, : self.width], format="bgr24")
        for packet in self._stream.encode(picture):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
