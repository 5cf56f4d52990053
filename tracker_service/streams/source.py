"""A live frame source: one reader thread per camera that keeps only the latest frame.

Cameras produce frames at their own pace whether or not anyone keeps up. Queuing them is how
a stream ends up minutes behind the camera, so the reader keeps exactly one frame: a new one
replaces the old, and a frame replaced before the consumer took it counts as dropped. Each
frame carries the time it was read, so the consumer can report its lag behind the camera.

Network sources (rtsp, rtsps, http, https) reconnect with jittered exponential backoff for as
long as the source exists: a camera that refuses today may answer after a power cut, and the
state says `reconnecting` with the last error meanwhile. Only what can never work ends in
`failed`: a file that does not exist or holds no video. Files (paths or file:// URLs) are
read at their own frame rate, like a camera, and can loop forever for soak tests and demos.
HTTP(S) sources (MJPEG, HLS) and camera devices are read like cameras.
URL parsing, FFmpeg options, diagnosis: `target`; states and frames: `state`; `timeline`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from enum import Enum
from pathlib import Path

import cv2
import numpy as np

from tracker_service.camera_devices import diagnose_device, open_device
from tracker_service.config import StreamsConfig
from tracker_service.streams.state import LiveFrame, SourceState, SourceStatus, StateChange
from tracker_service.streams.target import (
    PROBE_TIMEOUT_S,
    SourceKind,
    configure_ffmpeg,
    describe_file_problem,
    diagnose_network_failure,
    parse_source,
)
from tracker_service.streams.timeline import TimelineMeter
from tracker_service.types import DEFAULT_FPS, Frame, sane_fps

logger = logging.getLogger(__name__)

# A file read slower than its frame rate (a busy machine) catches up by skipping the pacing
# wait; once it is this far behind, the schedule restarts instead of bursting frames.
_PACING_RESYNC_S = 1.0
# State changes kept for the consumer between two looks: enough for any realistic burst.
_MAX_PENDING_CHANGES = 64
# A read that blocked this share of the read timeout ended by FFmpeg's timeout, not by data.
_STALE_READ_SHARE = 0.9


class _ReadEnd(Enum):
    STOPPED = "stopped"  # stop() was called
    LOST = "lost"  # network read failed or timed out: reconnect
    END_OF_FILE = "end"  # a file ended: loop or stop
    EMPTY = "empty"  # a file opened but gave no frame: it never will


class LiveSource:
    """Reads a camera or file in its own thread; the consumer takes the latest frame."""

    def __init__(
        self,
        url: str,
        config: StreamsConfig | None = None,
        *,
        loop: bool = False,
        name: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.target = parse_source(url)
        self.config = config or StreamsConfig()
        self.loop = loop
        self.name = name or self.target.display
        self._rng = rng or random.Random()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"source:{self.name}", daemon=True)
        # Everything below is guarded by _cond.
        self._latest: LiveFrame | None = None
        self._latest_taken = True
        self._state = SourceState.CONNECTING
        self._error: str | None = None
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._changes: deque[StateChange] = deque(maxlen=_MAX_PENDING_CHANGES)
        self._frames_read = 0
        self._frames_dropped = 0
        self._reconnects = 0
        self._sessions = 0
        self._fps: float | None = None
        self._size: tuple[int, int] | None = None
        self._last_frame_mono: float | None = None
        self._last_frame_at: float | None = None
        self._behind_s = 0.0
        self._started_mono = time.monotonic()

    # --- consumer side --------------------------------------------------------------------

    def start(self) -> None:
        if self.target.kind is SourceKind.NETWORK:
            configure_ffmpeg(self.config)
        self._started_mono = time.monotonic()
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the reader to stop, without waiting (see `stop`)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the reader to stop and wait for it; False if it is still blocked after
        `timeout` (default: long enough for a blocked FFmpeg read to time out)."""
        self.request_stop()
        if self._thread.is_alive():
            self._thread.join(self.stop_timeout_s if timeout is None else timeout)
        if self._thread.is_alive():
            # A daemon thread: it releases the capture itself when FFmpeg returns.
            logger.info("%s: reader still blocked in FFmpeg; it finishes alone", self.name)
            return False
        return True

    @property
    def stop_timeout_s(self) -> float:
        # The longest the reader can be away: a failed open and the probe that explains it,
        # or one read (FFmpeg's timeouts fire within milliseconds of the setting).
        config = self.config
        return max(config.open_timeout_s + PROBE_TIMEOUT_S, config.read_timeout_s) + 1.0

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def take(self, timeout: float) -> LiveFrame | None:
        """The newest frame not yet taken, waiting up to `timeout` s; None if there is none
        (or the state changed, or the source stopped: look at `drain_changes`)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._latest_taken and not self._stop.is_set():
                self._check_stall()
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._changes or self._state.terminal:
                    return None
                self._cond.wait(min(remaining, self.config.read_timeout_s))
            if self._latest_taken or self._latest is None:
                return None
            self._latest_taken = True
            return self._latest

    def drain_changes(self) -> list[StateChange]:
        """State changes since the last call, oldest first (bounded)."""
        with self._cond:
            self._check_stall()
            changes = list(self._changes)
            self._changes.clear()
            return changes

    def status(self) -> SourceStatus:
        with self._cond:
            self._check_stall()
            width, height = self._size or (None, None)
            return SourceStatus(
                state=self._state,
                error=self._error,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
                frames_read=self._frames_read,
                frames_dropped=self._frames_dropped,
                reconnects=self._reconnects,
                fps=self._fps,
                width=width,
                height=height,
                last_frame_at=self._last_frame_at,
                behind_s=self._behind_s,
            )

    @property
    def state(self) -> SourceState:
        with self._cond:
            self._check_stall()
            return self._state

    def _check_stall(self) -> None:
        # The reader may sit inside a blocked FFmpeg read for a while; whoever looks at the
        # source sees the stall at once instead of a stale `live`. Caller holds _cond.
        if self._state is not SourceState.LIVE or self._last_frame_mono is None:
            return
        silent = time.monotonic() - self._last_frame_mono
        if silent > self.config.read_timeout_s:
            self._set_state(SourceState.RECONNECTING, f"no frame for {silent:.1f} s (stalled)")

    # --- state ----------------------------------------------------------------------------

    def _set_state(self, state: SourceState, error: str | None) -> None:
        """Caller holds _cond."""
        if state is self._state and error == self._error:
            return
        now = time.time()
        self._state, self._error = state, error
        if error is not None:
            self._last_error, self._last_error_at = error, now
        self._changes.append(StateChange(state, error, now))
        self._cond.notify_all()
        log = logger.warning if error else logger.info
        log("%s: %s%s", self.name, state.value, f" ({error})" if error else "")

    def _update_state(self, state: SourceState, error: str | None = None) -> None:
        with self._cond:
            self._set_state(state, error)

    # --- reader thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self.target.kind is SourceKind.FILE:
                self._run_file()
            else:
                self._run_network()
        except Exception as exc:  # the thread must report, never die silently
            logger.exception("%s: reader crashed", self.name)
            self._update_state(SourceState.FAILED, f"reader crashed: {exc}")
            return
        with self._cond:
            if not self._state.terminal:
                self._set_state(SourceState.STOPPED, None)

    def _run_network(self) -> None:
        failures = 0
        while not self._stop.is_set():
            capture = self._open_network()
            if capture is not None:
                frames_before = self._frames_read
                try:
                    if self._read_network(capture) is not _ReadEnd.LOST:
                        return
                finally:
                    capture.release()
                if self._frames_read > frames_before:
                    failures = 0  # it worked for a while: back off from the start again
            failures += 1
            if not self._wait_backoff(failures):
                return
            with self._cond:
                self._reconnects += 1

    def _open_network(self) -> cv2.VideoCapture | None:
        """Open a network camera or a device (API streams: policy.py `PolicedSource`)."""
        location, device = self.target.location, self.target.kind is SourceKind.DEVICE
        capture = self._open_capture(location)
        if capture is None:
            # `reconnecting` from the first failure on: the source keeps trying, with backoff.
            problem = diagnose_device(location) if device else diagnose_network_failure(self.target)
            self._update_state(SourceState.RECONNECTING, problem)
        return capture

    def _open_capture(self, location: str) -> cv2.VideoCapture | None:
        timeouts = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            round(self.config.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            round(self.config.read_timeout_s * 1000),
        ]
        capture = (
            open_device(location)
            if self.target.kind is SourceKind.DEVICE
            else cv2.VideoCapture(location, cv2.CAP_FFMPEG, timeouts)
        )
        if capture.isOpened():
            self._begin_session(capture)
            return capture
        capture.release()
        return None

    def _wait_backoff(self, failures: int) -> bool:
        """Sleep the backoff for the `failures`-th failure in a row; False if stopped."""
        config = self.config
        delay = min(config.reconnect_max_s, config.reconnect_initial_s * 2 ** (failures - 1))
        jitter = config.reconnect_jitter
        delay *= self._rng.uniform(1.0 - jitter, 1.0 + jitter)
        logger.info("%s: reconnecting in %.1f s (attempt %d)", self.name, delay, failures)
        return not self._stop.wait(delay)

    def _run_file(self) -> None:
        path = Path(self.target.location)
        media_offset = 0.0
        while not self._stop.is_set():
            problem = describe_file_problem(path)
            capture = None if problem else cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
            if capture is None or not capture.isOpened():
                if capture is not None:
                    capture.release()
                self._update_state(SourceState.FAILED, problem or f"{path} cannot be opened")
                return
            try:
                self._begin_session(capture)
                frames_before = self._frames_read
                end = self._read_file(capture, media_offset)
            finally:
                capture.release()
            if end is _ReadEnd.EMPTY:
                self._update_state(SourceState.FAILED, f"{path} holds no decodable video frame")
                return
            if end is not _ReadEnd.END_OF_FILE or not self.loop:
                return
            media_offset += (self._frames_read - frames_before) / (self._fps or DEFAULT_FPS)
            logger.debug("%s: end of file, looping", self.name)

    def _begin_session(self, capture: cv2.VideoCapture) -> None:
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        with self._cond:
            self._sessions += 1
            self._fps = sane_fps(fps)

    def _read_network(self, capture: cv2.VideoCapture) -> _ReadEnd:
        """Read a camera as fast as it sends; LOST when reading fails or falls behind."""
        session = self._sessions
        # RTP timestamps follow the camera's media clock; other protocols' timestamps may be
        # invented by the demuxer (MJPEG over HTTP assumes 25 fps), so only RTSP is measured.
        meter = TimelineMeter() if self.target.timestamped else None
        max_behind = self.config.max_behind_s
        behind = 0.0
        while not self._stop.is_set():
            asked = time.monotonic()
            ok, image = capture.read()
            now = time.monotonic()
            if not ok or image is None:
                return self._read_failure(paced=False, frames=1)
            if now - asked >= _STALE_READ_SHARE * self.config.read_timeout_s:
                # FFmpeg's read timeout fired and OpenCV flushed the decoder: the frame is
                # stale and the connection dead (it would release one such frame per timeout
                # and look live for several timeouts: measured 6 s for a 2 s timeout).
                self._update_state(
                    SourceState.RECONNECTING, f"stalled: no data for {now - asked:.1f} s"
                )
                return _ReadEnd.LOST
            if meter is not None:
                behind = meter.update(now, float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0)
            self._publish(np.asarray(image, np.uint8), session, now - self._started_mono, behind)
            if max_behind > 0 and behind > max_behind:
                # Decoding slower than real time: the backlog sits in socket buffers where no
                # latest-frame policy reaches it. A new connection starts at the live edge.
                self._update_state(
                    SourceState.RECONNECTING,
                    f"fell {behind:.1f} s behind the camera (decoding slower than real time); "
                    "reconnecting at the live edge",
                )
                return _ReadEnd.LOST
        return _ReadEnd.STOPPED

    def _read_file(self, capture: cv2.VideoCapture, media_offset: float) -> _ReadEnd:
        """Read a file at its frame rate, as a camera would deliver it."""
        fps = self._fps or DEFAULT_FPS
        session = self._sessions
        schedule_start = time.monotonic()
        frames = 0
        while not self._stop.is_set():
            ok, image = capture.read()
            if not ok or image is None:
                return self._read_failure(paced=True, frames=frames)
            now = time.monotonic()
            due = schedule_start + frames / fps
            if now - due > _PACING_RESYNC_S:
                schedule_start, due = now - frames / fps, now
            if due > now and self._stop.wait(due - now):
                break
            self._publish(np.asarray(image, np.uint8), session, media_offset + frames / fps, 0.0)
            frames += 1
        return _ReadEnd.STOPPED

    def _read_failure(self, paced: bool, frames: int) -> _ReadEnd:
        if paced:
            return _ReadEnd.END_OF_FILE if frames else _ReadEnd.EMPTY
        silent = time.monotonic() - (self._last_frame_mono or self._started_mono)
        self._update_state(
            SourceState.RECONNECTING,
            f"stream lost: no frame could be read (last frame {silent:.1f} s ago)",
        )
        return _ReadEnd.LOST

    def _publish(self, image: Frame, session: int, media_s: float, behind_s: float) -> None:
        captured_mono = time.monotonic()
        captured_at = time.time()
        with self._cond:
            self._frames_read += 1
            if not self._latest_taken:
                self._frames_dropped += 1
            self._latest = LiveFrame(
                image, self._frames_read, session, captured_at, captured_mono, media_s, behind_s
            )
            self._behind_s = behind_s
            self._latest_taken = False
            self._last_frame_mono, self._last_frame_at = captured_mono, captured_at
            self._size = (image.shape[1], image.shape[0])
            if self._state is not SourceState.LIVE:
                self._set_state(SourceState.LIVE, None)
            self._cond.notify_all()
