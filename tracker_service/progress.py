"""Progress of a long task (a video, a download) that reads well on a terminal and in a log.

On a terminal: a tqdm bar on stderr. Anywhere else (a pipe, a file, `docker logs`, systemd)
a bar's carriage-return updates turn into hundreds of lines, so there it is a log line at
each further tenth of the work (at most one every `interval_s`), one at least every
`heartbeat_s` so a slow task is seen to live, and one at the end: a dozen lines for a
clip whatever the machine's speed.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

logger = logging.getLogger("tracker_service.progress")
LOG_INTERVAL_S = 5.0
HEARTBEAT_S = 60.0
STEPS = 10
_MIB = 1024 * 1024


class ProgressReport:
    """Call with (done, total) as work advances (total None or 0 when unknown); `close()`."""

    def __init__(
        self,
        label: str,
        *,
        unit: str = "frame",
        byte_sizes: bool = False,
        interval_s: float = LOG_INTERVAL_S,
        stream: TextIO | None = None,
    ) -> None:
        self._label = label
        self._unit = unit
        self._bytes = byte_sizes
        self._interval_s = interval_s
        self._stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        self._use_bar = self._stream.isatty()
        self._started = time.monotonic()
        self._last_log: float | None = None  # the first update is logged at once
        self._last_step = -1
        self._done = 0
        self._total: int | None = None

    def __call__(self, done: int, total: int | None = None) -> None:
        self._done = done
        self._total = total or self._total
        if self._use_bar:
            self._update_bar()
        elif self._due():
            self._last_log = time.monotonic()
            self._last_step = self._step()
            logger.info("%s: %s", self._label, self._describe())

    def _step(self) -> int:
        return self._done * STEPS // self._total if self._total else -1

    def _due(self) -> bool:
        if self._last_log is None:
            return True
        waited = time.monotonic() - self._last_log
        if waited < self._interval_s:
            return False
        return waited >= HEARTBEAT_S or self._step() > self._last_step

    def _update_bar(self) -> None:
        if self._bar is None:
            from tqdm import tqdm  # only on a terminal; keeps start-up light

            self._bar = tqdm(
                desc=self._label,
                unit="B" if self._bytes else self._unit,
                unit_scale=self._bytes,
                unit_divisor=1024,
                dynamic_ncols=True,
                file=self._stream,
            )
        if self._total and self._bar.total != self._total:
            self._bar.total = self._total
        self._bar.update(self._done - self._bar.n)

    def _amount(self, value: int) -> str:
        return f"{value / _MIB:.1f} MiB" if self._bytes else f"{value} {self._unit}s"

    def _describe(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = self._done / elapsed
        rate_text = f"{rate / _MIB:.1f} MiB/s" if self._bytes else f"{rate:.1f} {self._unit}s/s"
        if self._total:
            share = self._done / self._total
            return f"{self._amount(self._done)} of {self._total_text()} ({share:.0%}), {rate_text}"
        return f"{self._amount(self._done)}, {rate_text}"

    def _total_text(self) -> str:
        total = self._total or 0
        return f"{total / _MIB:.1f} MiB" if self._bytes else str(total)

    def close(self) -> None:
        """End the bar at what was done (containers may announce frames they do not hold)."""
        if self._bar is not None:
            self._bar.total = self._bar.n
            self._bar.close()
            self._bar = None
        elif self._last_log is not None:
            logger.info("%s: done, %s", self._label, self._describe())


@contextmanager
def download_progress(label: str) -> Iterator[ProgressReport]:
    """Progress of a download in bytes (nothing is said before the first bytes arrive)."""
    report = ProgressReport(f"downloading {label}", byte_sizes=True)
    try:
        yield report
    finally:
        report.close()
