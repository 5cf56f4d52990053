"""Progress reports: a bar on a terminal, a few plain log lines anywhere else."""

from __future__ import annotations

import io
import logging

import pytest

from tracker_service.progress import STEPS, ProgressReport


def test_not_on_a_terminal_it_logs_a_line_per_tenth(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()  # not a terminal
    caplog.set_level(logging.INFO, logger="tracker_service.progress")
    report = ProgressReport("clip.mp4", interval_s=0.0, stream=stream)
    for done in range(1, 1001):
        report(done, 1000)
    report.close()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == STEPS + 2  # the first frame, each further tenth, the end
    assert lines[0].startswith("clip.mp4: 1 frames of 1000 (0%)")
    assert lines[-1].startswith("clip.mp4: done, 1000 frames of 1000 (100%)")
    assert stream.getvalue() == ""  # no bar, no carriage returns


def test_byte_sizes_read_as_mebibytes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tracker_service.progress")
    report = ProgressReport("weights", byte_sizes=True, stream=io.StringIO())
    report(3 * 1024 * 1024, 6 * 1024 * 1024)
    assert caplog.records[0].getMessage().startswith("weights: 3.0 MiB of 6.0 MiB (50%)")
