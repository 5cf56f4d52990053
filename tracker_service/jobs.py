"""Video jobs: uploaded files tracked in the background, with progress, on disk.

Each job lives in `<data_dir>/jobs/<id>/` with its input video, its outputs (as the CLI
writes them) and `job.json` (state, progress, error), written atomically on every change,
so that a restart finds every job: finished ones keep their results, interrupted ones are
queued again. Jobs run in a bounded pool of worker threads fed by a bounded queue; a full
queue is refused (`QueueFullError`) rather than letting work pile up.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tracker_service.config import Config
from tracker_service.events import EventSink
from tracker_service.events.service import EventServices
from tracker_service.job_model import (
    INPUT_STEM,
    JOB_FILE,
    ZONES_FILE,
    Job,
    JobBusyError,
    JobNotFoundError,
    JobState,
    QueueFullError,
    new_job_dir,
    read_job_ground_truth,
    read_job_zones,
)
from tracker_service.reid.identity_gallery import IdentityGallery
from tracker_service.runner import RunCancelledError, run_video
from tracker_service.runtime import Models
from tracker_service.video_file import SourceError

__all__ = [
    "INPUT_STEM",
    "ZONES_FILE",
    "Job",
    "JobBusyError",
    "JobManager",
    "JobNotFoundError",
    "JobState",
    "QueueFullError",
    "new_job_dir",
]

logger = logging.getLogger(__name__)

_STOP = object()


@dataclass
class _Control:
    cancel: threading.Event = field(default_factory=threading.Event)
    # Set when the user cancelled; a cancel without it is a shutdown, and such a job is
    # queued again at the next start instead of ending as cancelled.
    by_user: bool = False
    # Clear while a worker runs the job: its folder must not be deleted under it.
    idle: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.idle.set()


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


class JobManager:
    """Queue, run, persist, cancel and delete video jobs."""

    def __init__(
        self,
        config: Config,
        models: Models,
        gallery: IdentityGallery,
        events: EventSink | None = None,
        history: EventServices | None = None,
    ) -> None:
        self.config = config
        self.events = events
        self.history = history
        self.models = models
        self.gallery = gallery
        self.root = config.jobs.folder or config.data_dir / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._controls: dict[str, _Control] = {}
        self._queue: queue.Queue[object] = queue.Queue(maxsize=config.service.max_queued_jobs)
        self._reserved = 0  # queue places held by uploads in progress
        self._workers: list[threading.Thread] = []
        self._load_existing()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        for number in range(self.config.service.job_workers):
            worker = threading.Thread(target=self._work, name=f"job-worker-{number}", daemon=True)
            worker.start()
            self._workers.append(worker)
        self._requeue_interrupted()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Cancel running jobs (they are queued again at the next start) and join workers."""
        with self._lock:
            for control in self._controls.values():
                control.cancel.set()
        for _ in self._workers:
            self._put_stop()
        deadline = time.monotonic() + timeout_s
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._workers.clear()

    def _put_stop(self) -> None:
        while True:
            try:
                self._queue.put_nowait(_STOP)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()  # dropped jobs stay queued on disk
                except queue.Empty:
                    continue

    # -- public API ---------------------------------------------------------------------------

    def has_room(self) -> bool:
        with self._lock:
            return self._queue.qsize() + self._reserved < self._queue.maxsize

    @contextmanager
    def reservation(self) -> Iterator[None]:
        """Hold a place in the queue while an upload arrives (`QueueFullError` when none is
        left), so that uploads beyond the queue's room are refused before their bodies are
        read instead of after; `submit` inside it uses the place."""
        with self._lock:
            if not self.has_room():
                raise QueueFullError("the job queue is full")
            self._reserved += 1
        try:
            yield
        finally:
            with self._lock:
                self._reserved -= 1

    def new_job_dir(self) -> tuple[str, Path]:
        return new_job_dir(self.root)

    def submit(self, job_id: str, filename: str, input_file: Path) -> Job:
        """Queue an uploaded, already validated video; `QueueFullError` when full."""
        job = Job.queued(job_id, filename, input_file)
        with self._lock:
            try:
                self._queue.put_nowait(job_id)
            except queue.Full:
                raise QueueFullError("the job queue is full") from None
            self._jobs[job_id] = job
            self._controls[job_id] = _Control()
            self._save(job)
            if self.events is not None:
                self.events.job_event(job.event())
            self._enforce_retention()
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        return job

    def list(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created_at, reverse=True)

    def counts(self) -> dict[JobState, int]:
        with self._lock:
            counts = dict.fromkeys(JobState, 0)
            for job in self._jobs.values():
                counts[job.state] += 1
            return counts

    def directory(self, job_id: str) -> Path:
        self.get(job_id)
        return self.root / job_id

    def cancel(self, job_id: str) -> Job:
        """Stop a queued or running job; finished jobs are returned unchanged."""
        with self._lock:
            job = self.get(job_id)
            if job.state.finished:
                return job
            self._controls[job_id].by_user = True
            self._controls[job_id].cancel.set()
            if job.state is JobState.QUEUED:
                job = self._update(job, state=JobState.CANCELLED, finished_at=time.time())
            return job

    def delete(self, job_id: str, timeout_s: float = 30.0) -> None:
        """Cancel if needed, wait for a running job to stop (`JobBusyError` after
        `timeout_s`), then remove the job and its files."""
        with self._lock:
            self.cancel(job_id)
            control = self._controls[job_id]
        if not control.idle.wait(timeout_s):
            raise JobBusyError(f"job {job_id} is still stopping; retry in a moment")
        with self._lock:
            self._jobs.pop(job_id, None)
            self._controls.pop(job_id, None)
        shutil.rmtree(self.root / job_id, ignore_errors=True)

    # -- internals ----------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, str):
                self._run(item)

    def _run(self, job_id: str) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            control = self._controls.get(job_id)
            if job is None or control is None or job.state is not JobState.QUEUED:
                return
            if control.cancel.is_set():
                return
            job = self._update(job, state=JobState.RUNNING, started_at=time.time())
            control.idle.clear()
        try:
            self._run_job(job, control)
        finally:
            control.idle.set()

    def _run_job(self, job: Job, control: _Control) -> None:
        job_id = job.job_id
        directory = self.root / job_id
        last_saved = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            # Progress is kept in memory every frame, written to disk twice a second at most.
            with self._lock:
                current = self._jobs.get(job_id)
                if current is None:
                    return
                persist = now - last_saved[0] >= 0.5
                self._update(current, persist=persist, frames_done=done, frames_total=total)
            if persist:
                last_saved[0] = now

        try:
            summary = run_video(
                directory / job.input_file,
                directory,
                self.config,
                self.models,
                self.gallery,
                source_name=f"job:{job_id}",
                progress=progress,
                should_stop=control.cancel.is_set,
                zones=read_job_zones(directory),
                ground_truth=read_job_ground_truth(directory),
                event_sinks=[] if self.history is None else self.history.sinks(),
            )
        except RunCancelledError:
            self._finish(job_id, JobState.CANCELLED, None, None)
        except SourceError as exc:
            self._finish(job_id, JobState.FAILED, str(exc), None)
        except Exception as exc:  # a job must never take the worker down with it
            logger.exception("job %s failed", job_id)
            self._finish(job_id, JobState.FAILED, f"{type(exc).__name__}: {exc}", None)
        else:
            self._finish(job_id, JobState.SUCCEEDED, None, asdict(summary))
        self.gallery.save()

    def _finish(
        self, job_id: str, state: JobState, error: str | None, summary: dict[str, object] | None
    ) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            control = self._controls.get(job_id)
            if job is None or control is None:
                return  # deleted while running
            if state is JobState.CANCELLED and not control.by_user:
                self._update(job, state=JobState.QUEUED, frames_done=0)
                return
            self._update(job, state=state, finished_at=time.time(), error=error, summary=summary)

    def _update(self, job: Job, persist: bool = True, **changes: Any) -> Job:
        updated = replace(job, **changes)
        self._jobs[job.job_id] = updated
        if persist:
            self._save(updated)
        if self.events is not None and updated.state is not job.state:
            self.events.job_event(updated.event())
        return updated

    def _save(self, job: Job) -> None:
        directory = self.root / job.job_id
        if directory.is_dir():
            _write_atomically(directory / JOB_FILE, job.to_json())

    def _load_existing(self) -> None:
        for job_file in sorted(self.root.glob(f"*/{JOB_FILE}")):
            try:
                job = Job.from_json(job_file.read_text(encoding="utf-8"))
            except (ValueError, TypeError, KeyError) as exc:
                logger.warning("ignoring unreadable job file %s: %s", job_file, exc)
                continue
            self._jobs[job.job_id] = job
            self._controls[job.job_id] = _Control()
        # Upload folders without a job file are leftovers of interrupted uploads.
        for directory in self.root.iterdir():
            if directory.is_dir() and not (directory / JOB_FILE).exists():
                shutil.rmtree(directory, ignore_errors=True)

    def _requeue_interrupted(self) -> None:
        interrupted = sorted(
            (j for j in self._jobs.values() if not j.state.finished), key=lambda j: j.created_at
        )
        for job in interrupted:
            with self._lock:
                queued = self._update(job, state=JobState.QUEUED, frames_done=0)
                try:
                    self._queue.put_nowait(queued.job_id)
                except queue.Full:
                    self._update(
                        queued,
                        state=JobState.FAILED,
                        finished_at=time.time(),
                        error="interrupted by a restart and the queue was full; upload again",
                    )

    def _enforce_retention(self) -> None:
        finished = sorted(
            (j for j in self._jobs.values() if j.state.finished), key=lambda j: j.created_at
        )
        excess = len(self._jobs) - self.config.service.max_jobs_kept
        for job in finished[: max(0, excess)]:
            self._jobs.pop(job.job_id, None)
            self._controls.pop(job.job_id, None)
            shutil.rmtree(self.root / job.job_id, ignore_errors=True)
